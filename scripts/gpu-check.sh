#!/usr/bin/env bash
# The one prepared GPU check: builds packd with the CUDA backend for the GPU that is present and
# runs every test (the [cuda] cases run instead of skipping when a device is visible), then the
# GPU benchmarks once they exist. Meant for the lent H200 machine; keep it under 8 minutes.
#   scripts/gpu-check.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
# NCCL (the dist::make_nccl_communicator smoke test, test_dist [cuda]): in the CUDA toolkit, or
# only inside PyTorch's pip wheel (nvidia-nccl-cu13) on a bare GPU machine.
nccl_hint=()
if [ ! -e /usr/local/cuda/include/nccl.h ]; then
  nccl_dir=$(python3 -c 'import nvidia.nccl, os; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null || true)
  [ -n "$nccl_dir" ] && nccl_hint=(-DNCCL_ROOT="$nccl_dir") && echo "NCCL from the pip wheel: $nccl_dir"
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPACKD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DPACKD_BUILD_BENCHMARKS=OFF "${nccl_hint[@]}"
cmake --build "$build" -j"$(nproc)"
# The CUDA test cases by tag first (their output shows whether they ran or skipped), then everything.
for t in "$build"/tests/test_*; do
  [ -x "$t" ] && "$t" "[cuda]" --success --reporter compact 2>&1 | tail -n 5 || true
done
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" -E '^consumer:'
