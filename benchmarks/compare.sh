#!/usr/bin/env bash
# Run a packd benchmark suite and its peer side by side, in one run, and print a comparison.
#
#   benchmarks/compare.sh SUITE            (suites: see SUITES below)
#
# Output: a Markdown table (case, packd ms, peer ms, packd GFLOP/s, peer GFLOP/s, ratio), then one
# line per case "RATIO <case> <peer_time/packd_time>" (above 1 = packd faster). When both sides report
# a "peak_rss_MiB" counter (the process's peak resident memory; suite train), the table also has
# both peaks and their ratio, and one line per case "MEMRATIO <case> <packd_peak/peer_peak>" follows
# (below 1 = packd uses less).
#
# Method: the two binaries are interleaved: for each of REPS rounds, for each case, packd runs the
# case, then the peer runs it (one Google Benchmark measurement each). The table shows medians over
# the rounds, so slow drift or a neighbour's burst of load hits both sides alike.
# Environment knobs: REPS (default 5; train: 2), THREADS (default 2), BUILD_DIR (default build-bench),
# MIN_TIME (Google Benchmark --benchmark_min_time, seconds, default 0.5; train: 0.01, i.e. one step),
# PACKD_BENCH_LOAD (default 0): start that many competing busy processes (`yes > /dev/null`)
# before the first round and stop them after the last, so both sides run on a contended machine.
#
# Adding a suite: write suite_<name>() that sets CASES, PACKD_CMD and PEER_CMD (arrays) and PEER_NAME,
# building what it needs, and add <name> to SUITES.
set -euo pipefail

SUITES=(gemm ops teacher train gpu)
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
USER_BUILD_DIR="${BUILD_DIR:-}"
BUILD_DIR="${BUILD_DIR:-${ROOT}/build-bench}"
USER_REPS="${REPS:-}"
USER_MIN_TIME="${MIN_TIME:-}"
REPS="${REPS:-5}"
THREADS="${THREADS:-2}"
MIN_TIME="${MIN_TIME:-0.5}"
PACKD_BENCH_LOAD="${PACKD_BENCH_LOAD:-0}"

usage() {
  echo "usage: $0 SUITE    (suites: ${SUITES[*]})" >&2
  exit 2
}

build_targets() {
  cmake -S "${ROOT}" -B "${BUILD_DIR}" -DCMAKE_BUILD_TYPE=Release -DPACKD_BUILD_BENCHMARKS=ON \
    -DPACKD_BUILD_TESTS=OFF -DPACKD_BUILD_EXAMPLES=OFF -DPACKD_CUDA="${PACKD_CUDA_BENCH:-OFF}" \
    ${CMAKE_EXTRA_ARGS:-} >"${BUILD_DIR}/configure.log" 2>&1 ||
    { cat "${BUILD_DIR}/configure.log" >&2; exit 1; }
  cmake --build "${BUILD_DIR}" --target "$@" -j "$(nproc)" >"${BUILD_DIR}/build.log" 2>&1 ||
    { cat "${BUILD_DIR}/build.log" >&2; exit 1; }
}

# ---- suites --------------------------------------------------------------------------------------
suite_gemm() {
  mkdir -p "${BUILD_DIR}"
  build_targets bench_gemm bench_gemm_openblas
  [[ -x "${BUILD_DIR}/benchmarks/bench_gemm_openblas" ]] || {
    echo "bench_gemm_openblas was not built (OpenBLAS missing?)" >&2; exit 1; }
  PEER_NAME="OpenBLAS"
  CASES=(sq1024 sq2048 sq4096
         wrn_l3_fwd_M256N4096K2304 wrn_l3_dA_T_M2304N4096K256 wrn_l3_dB_T_M256N2304K4096
         wrn_l4_fwd_M1024N256K4608 wrn_l4_dA_T_M4608N256K1024 wrn_l4_dB_T_M1024N4608K256)
  # packd keeps the caller's environment; only the peer loses the OPENBLAS_CORETYPE /
  # OPENBLAS_L2_SIZE overrides this machine sets (they pin OpenBLAS to its Haswell AVX2 kernel).
  PACKD_CMD=(env OMP_NUM_THREADS="${THREADS}" "${BUILD_DIR}/benchmarks/bench_gemm")
  PEER_CMD=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="${THREADS}"
            OPENBLAS_NUM_THREADS="${THREADS}" "${BUILD_DIR}/benchmarks/bench_gemm_openblas")
}

suite_ops() {
  # packd: bench_ops (every benchmarks/bench_ops_*.cpp); peer: PyTorch on the same cases
  # (benchmarks/peers/torch_*.py). Run PyTorch at its best: 2 threads, the OPENBLAS_* overrides
  # removed, and glibc malloc kept from returning memory to the kernel between iterations.
  mkdir -p "${BUILD_DIR}"
  build_targets bench_ops
  PEER_NAME="PyTorch"
  PACKD_CMD=(env OMP_NUM_THREADS="${THREADS}" "${BUILD_DIR}/benchmarks/bench_ops")
  PEER_CMD=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="${THREADS}" MALLOC_MMAP_MAX_=0
            MALLOC_TRIM_THRESHOLD_=100000000000 /usr/bin/python3 "${SCRIPT_DIR}/peers/torch_bench.py")
  mapfile -t CASES < <("${PACKD_CMD[@]}" --benchmark_list_tests=true 2>/dev/null | sed 's|/.*||' | sort -u)
  [[ ${#CASES[@]} -gt 0 ]] || { echo "bench_ops lists no cases" >&2; exit 1; }
  if [[ -n "${CASE_FILTER:-}" ]]; then
    mapfile -t CASES < <(printf '%s\n' "${CASES[@]}" | grep -E "${CASE_FILTER}")
  fi
}

suite_teacher() {
  # packd: bench_models (WideResNet50-2 teacher to layer3 at 256x256, batch 1 and 8; RD inference
  # at batch 1: teacher, OCBE, decoder and the smoothed anomaly map). Peer: PyTorch on the same
  # work (benchmarks/peers/torch_models.py), under the same conditions as the ops suite.
  mkdir -p "${BUILD_DIR}"
  build_targets bench_models
  PEER_NAME="PyTorch"
  PACKD_CMD=(env OMP_NUM_THREADS="${THREADS}" "${BUILD_DIR}/benchmarks/bench_models")
  PEER_CMD=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="${THREADS}" MALLOC_MMAP_MAX_=0
            MALLOC_TRIM_THRESHOLD_=100000000000 /usr/bin/python3 "${SCRIPT_DIR}/peers/torch_bench.py")
  mapfile -t CASES < <("${PACKD_CMD[@]}" --benchmark_list_tests=true 2>/dev/null | sed 's|/.*||' | sort -u)
  [[ ${#CASES[@]} -gt 0 ]] || { echo "bench_models lists no cases" >&2; exit 1; }
}

suite_train() {
  # packd: bench_train (one whole PACKD training step with the default switches, k = 2 shots, batch 8
  # of 4 categories, 256x256, WideResNet50-2 teacher; one plain RD step at batch 8). Peer: PyTorch on
  # the same work (benchmarks/peers/torch_train.py), under the same conditions as the ops suite.
  # A step takes seconds, so by default one timed step per process (after one untimed) and 2 rounds;
  # each process runs one case, so its peak resident memory (counter peak_rss_MiB) is the case's.
  mkdir -p "${BUILD_DIR}"
  build_targets bench_train
  REPS="${USER_REPS:-2}"
  MIN_TIME="${USER_MIN_TIME:-0.01}"
  PEER_NAME="PyTorch"
  PACKD_CMD=(env OMP_NUM_THREADS="${THREADS}" "${BUILD_DIR}/benchmarks/bench_train")
  PEER_CMD=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="${THREADS}" MALLOC_MMAP_MAX_=0
            MALLOC_TRIM_THRESHOLD_=100000000000 /usr/bin/python3 "${SCRIPT_DIR}/peers/torch_bench.py")
  mapfile -t CASES < <("${PACKD_CMD[@]}" --benchmark_list_tests=true 2>/dev/null | sed 's|/.*||' | sort -u)
  [[ ${#CASES[@]} -gt 0 ]] || { echo "bench_train lists no cases" >&2; exit 1; }
  if [[ -n "${CASE_FILTER:-}" ]]; then
    mapfile -t CASES < <(printf '%s\n' "${CASES[@]}" | grep -E "${CASE_FILTER}")
  fi
}

suite_gpu() {
  # packd: bench_gpu (teacher forward at batch 32, one PACKD training step at batch 32 with k = 2, one
  # category's evaluation: 128 images, maps, AUROCs), on cuda:0. Peer: PyTorch eager on the same GPU
  # (benchmarks/peers/torch_gpu.py, cudnn.benchmark on, TF32 off as packd). Needs a CUDA build: the
  # build folder defaults to build-bench-gpu; CMAKE_EXTRA_ARGS passes CUDNN_ROOT etc. (scripts/gpu-check.sh).
  # PEER_PYTHON: the interpreter holding PyTorch (default Debian's /usr/bin/python3).
  BUILD_DIR="${USER_BUILD_DIR:-${ROOT}/build-bench-gpu}"
  mkdir -p "${BUILD_DIR}"
  PACKD_CUDA_BENCH=ON build_targets bench_gpu
  REPS="${USER_REPS:-3}"
  MIN_TIME="${USER_MIN_TIME:-0.01}"
  PEER_NAME="PyTorch"
  PACKD_CMD=("${BUILD_DIR}/benchmarks/bench_gpu")
  PEER_CMD=(env OMP_NUM_THREADS="${THREADS}" "${PEER_PYTHON:-/usr/bin/python3}" "${SCRIPT_DIR}/peers/torch_bench.py")
  mapfile -t CASES < <("${PACKD_CMD[@]}" --benchmark_list_tests=true 2>/dev/null | sed 's|/.*||' | sort -u)
  [[ ${#CASES[@]} -gt 0 ]] || { echo "bench_gpu lists no cases" >&2; exit 1; }
}

# ---- driver --------------------------------------------------------------------------------------
[[ $# -eq 1 ]] || usage
SUITE="$1"
if [[ " ${SUITES[*]} " != *" ${SUITE} "* ]]; then
  echo "error: unknown suite '${SUITE}' (suites: ${SUITES[*]})" >&2
  exit 2
fi
"suite_${SUITE}"

OUT="$(mktemp -d)"
LOAD_PIDS=()
stop_load() {
  for p in "${LOAD_PIDS[@]}"; do kill "${p}" 2>/dev/null || true; done
  LOAD_PIDS=()
}
cleanup() {
  stop_load
  rm -rf "${OUT}"
}
trap cleanup EXIT

echo "packd: $("${PACKD_CMD[@]}" --benchmark_list_tests=true 2>&1 >/dev/null | head -1)" >&2
echo "peer:  $("${PEER_CMD[@]}" --benchmark_list_tests=true 2>&1 >/dev/null | head -1)" >&2
for ((l = 0; l < PACKD_BENCH_LOAD; ++l)); do
  yes >/dev/null &
  LOAD_PIDS+=($!)
done
if ((PACKD_BENCH_LOAD > 0)); then echo "competing load: ${PACKD_BENCH_LOAD} x 'yes > /dev/null'" >&2; fi
for ((r = 1; r <= REPS; ++r)); do
  for c in "${CASES[@]}"; do
    echo "round ${r}/${REPS}: ${c}" >&2
    "${PACKD_CMD[@]}" --benchmark_filter="^${c}(/|\$)" --benchmark_min_time="${MIN_TIME}" \
      --benchmark_format=json >"${OUT}/packd.${c}.${r}.json" 2>/dev/null
    "${PEER_CMD[@]}" --benchmark_filter="^${c}(/|\$)" --benchmark_min_time="${MIN_TIME}" \
      --benchmark_format=json >"${OUT}/peer.${c}.${r}.json" 2>/dev/null
  done
done
stop_load

python3 - "${OUT}" "${PEER_NAME}" "${CASES[@]}" <<'PY'
import json, statistics, sys
out, peer_name, cases = sys.argv[1], sys.argv[2], sys.argv[3:]
def load(side, case):
    times, rates, peaks = [], [], []
    i = 1
    while True:
        try:
            with open(f"{out}/{side}.{case}.{i}.json") as f:
                doc = json.load(f)
        except FileNotFoundError:
            break
        for b in doc["benchmarks"]:
            if b.get("run_type", "iteration") == "iteration" and b["name"].split("/")[0] == case:
                scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
                times.append(b["real_time"] * scale)
                rates.append(b.get("GFLOP/s", float("nan")))
                if "peak_rss_MiB" in b:
                    peaks.append(b["peak_rss_MiB"])
        i += 1
    if not times:
        sys.exit(f"compare.sh: no {side} result for {case}")
    peak = statistics.median(peaks) if len(peaks) == len(times) else None
    return statistics.median(times), statistics.median(rates), peak
rows = [(c, load("packd", c), load("peer", c)) for c in cases]
# Memory columns only when every case has both sides' peak (other suites: the table as before).
mem = all(p[2] is not None and q[2] is not None for _, p, q in rows)
head = f"| case | packd ms | {peer_name} ms | packd GFLOP/s | {peer_name} GFLOP/s | ratio ({peer_name} time / packd time) |"
rule = "|---|---:|---:|---:|---:|---:|"
if mem:
    head += f" packd peak MiB | {peer_name} peak MiB | memory ratio (packd peak / {peer_name} peak) |"
    rule += "---:|---:|---:|"
print(head)
print(rule)
for c, (pt, pr, pm), (qt, qr, qm) in rows:
    line = f"| {c} | {pt:.3f} | {qt:.3f} | {pr:.1f} | {qr:.1f} | {qt / pt:.3f} |"
    if mem:
        line += f" {pm:.0f} | {qm:.0f} | {pm / qm:.3f} |"
    print(line)
print()
for c, (pt, _, _), (qt, _, _) in rows:
    print(f"RATIO {c} {qt / pt:.3f}")
if mem:
    for c, (_, _, pm), (_, _, qm) in rows:
        print(f"MEMRATIO {c} {pm / qm:.3f}")
PY
