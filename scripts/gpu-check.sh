#!/usr/bin/env bash
# The one prepared GPU check (docs/cuda.md): builds packd with the CUDA backend on the GPU machine,
# runs every test (the [cuda] cases and the op fixtures' CUDA runs happen instead of skipping),
# then `benchmarks/compare.sh gpu`. Meant for the lent H200 machine; keep it under 8 minutes.
#   scripts/gpu-check.sh [BUILD_DIR]        log: $OUT/gpu-check.log when $OUT is set, else BUILD_DIR/
# That machine is bare and offline: its cuDNN, cuBLAS and NCCL may exist only inside PyTorch's pip
# wheels, and Debian's Catch2 / Google Benchmark / CLI11 / nlohmann-json / stb not at all: run
# scripts/pack-gpu-deps.sh here first and carry .gpu-deps (device tool: carry [".gpu-deps"]).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
mkdir -p "$build"
log=${OUT:-$build}/gpu-check.log
exec > >(tee "$log") 2>&1
start=$(date +%s)
stamp() { echo "== $(( $(date +%s) - start )) s: $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
nvcc --version | tail -1 || true
py=$(command -v python3 || true)

# Library folders from the pip wheels (nvidia-cudnn-cu13, nvidia-cublas, nvidia-nccl-cu13) when the
# toolkit lacks them; their lib/ folders go on LD_LIBRARY_PATH (cuDNN loads its parts by name).
wheel_dir() { [ -n "$py" ] && "$py" -c "import nvidia.$1 as m, os; print(list(m.__path__)[0])" 2>/dev/null || true; }
hints=()
cuda_inc=$(dirname "$(command -v nvcc)")/../include
for spec in "cudnn:CUDNN_ROOT:cudnn.h" "cublas:CUBLAS_ROOT:cublas_v2.h" "nccl:NCCL_ROOT:nccl.h"; do
  IFS=: read -r mod var header <<<"$spec"
  if [ ! -e "$cuda_inc/$header" ]; then
    d=$(wheel_dir "$mod")
    if [ -n "$d" ]; then
      hints+=("-D$var=$d")
      export LD_LIBRARY_PATH="$d/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      echo "$mod from the pip wheel: $d"
    fi
  fi
done
# cuDNN's wheel has only versioned libraries and headers under include/: enough for packd's lookup.

# Debian build dependencies carried in .gpu-deps (scripts/pack-gpu-deps.sh).
if [ -d .gpu-deps/usr ]; then
  deps=$PWD/.gpu-deps/usr
  export CMAKE_PREFIX_PATH="$deps${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export CPATH="$deps/include${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$deps/lib:$deps/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "build dependencies from .gpu-deps"
fi

stamp configure
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPACKD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DPACKD_BUILD_BENCHMARKS=ON -DPACKD_HEADER_CHECKS=OFF -DPACKD_FULL_MODEL_TESTS=OFF -DPACKD_MPI=OFF "${hints[@]}"
stamp build
cmake --build "$build" -j"$(nproc)"

stamp "CUDA test cases ([cuda])"
status=0
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  "$t" "[cuda]" --reporter compact 2>&1 | tail -n 3 || status=1
done
stamp "all tests (the op fixtures run on CUDA too)"
ctest --test-dir "$build" --output-on-failure -j8 -E '^consumer:' --timeout 300 || status=1

stamp "benchmarks/compare.sh gpu"
REPS=${REPS:-1} PEER_PYTHON=${py:-/usr/bin/python3} BUILD_DIR="$PWD/$build" CMAKE_EXTRA_ARGS="${hints[*]}" \
  bash benchmarks/compare.sh gpu || status=1
stamp "done (status $status)"
exit $status
