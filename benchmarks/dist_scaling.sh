#!/usr/bin/env bash
# Data-parallel scaling of `packd train` on this machine (issue 8): the same global batch trained by
#   1 process x 1 thread                      (the baseline)
#   2 MPI ranks x 1 thread, per-rank BN       (mpirun -np 2; DDP's default)
#   2 MPI ranks x 1 thread, --sync-bn         (global BN statistics: two all-reduces per BN layer
#                                              in the forward and two in the backward)
# with the real PACKD model (width 64: WideResNet50-2 teacher, the full student, random weights),
# k = 2 shots, batch 8 of 4 categories, IMAGE_SIZE (default 128) pixels, STEPS steps (default 4; the
# first is a warm-up and not counted). Rounds are interleaved (REPS, default 2) and medians taken.
#
# Output: a Markdown table (seconds per step, images per second, speed-up over 1 process, the
# gradient all-reduce's seconds per step from rank 0's log), then one line per configuration
# "RATIO <config> <t_1process / t_config>" (above 1: faster than one process).
#
#   benchmarks/dist_scaling.sh                 BUILD_DIR (default build-dist-bench), REPS, STEPS, IMAGE_SIZE
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-${ROOT}/build-dist-bench}"
REPS="${REPS:-2}"
STEPS="${STEPS:-4}"
IMAGE_SIZE="${IMAGE_SIZE:-128}"
MPIRUN=(mpirun --oversubscribe --bind-to none)
[[ "$(id -u)" == 0 ]] && MPIRUN+=(--allow-run-as-root)

mkdir -p "${BUILD_DIR}"
cmake -S "${ROOT}" -B "${BUILD_DIR}" -DCMAKE_BUILD_TYPE=Release -DPACKD_BUILD_BENCHMARKS=ON -DPACKD_BUILD_TESTS=OFF \
  -DPACKD_BUILD_EXAMPLES=ON -DPACKD_CUDA=OFF -DPACKD_MPI=ON >"${BUILD_DIR}/configure.log" 2>&1 ||
  { cat "${BUILD_DIR}/configure.log" >&2; exit 1; }
cmake --build "${BUILD_DIR}" --target packd_cli make_synthetic_data -j "$(nproc)" >"${BUILD_DIR}/build.log" 2>&1 ||
  { cat "${BUILD_DIR}/build.log" >&2; exit 1; }
PACKD="${BUILD_DIR}/examples/packd"

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
"${BUILD_DIR}/benchmarks/make_synthetic_data" "${WORK}/data" "${IMAGE_SIZE}" 8
ARGS=(--data "${WORK}/data" --dataset mvtec --all-categories --width 64 --image-size "${IMAGE_SIZE}" --batch-size 8
      --cats-per-batch 4 --shots 2 --epochs 0 --max-steps "${STEPS}" --checkpoint-every 1000000 --no-progress)
CONFIGS=(one_process_1x1 two_ranks_2x1 two_ranks_2x1_sync_bn)
run_config() {  # config round
  local out="${WORK}/$1.$2"
  case "$1" in
    one_process_1x1) OMP_NUM_THREADS=1 "${PACKD}" train "${ARGS[@]}" --out "${out}" ;;
    two_ranks_2x1) "${MPIRUN[@]}" -x OMP_NUM_THREADS=1 -np 2 "${PACKD}" train "${ARGS[@]}" --out "${out}" ;;
    two_ranks_2x1_sync_bn) "${MPIRUN[@]}" -x OMP_NUM_THREADS=1 -np 2 "${PACKD}" train "${ARGS[@]}" --sync-bn --out "${out}" ;;
  esac >/dev/null 2>"${out}.stderr" || { cat "${out}.stderr" >&2; exit 1; }
}
for ((r = 1; r <= REPS; ++r)); do
  for c in "${CONFIGS[@]}"; do
    echo "round ${r}/${REPS}: ${c}" >&2
    run_config "${c}" "${r}"
  done
done

python3 - "${WORK}" "${REPS}" "${CONFIGS[@]}" <<'PY'
import json, statistics, sys
work, reps, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def load(config):
    step, reduce = [], []
    for r in range(1, reps + 1):
        with open(f"{work}/{config}.{r}/log.jsonl") as f:
            lines = [json.loads(l) for l in f if l.strip()][1:]  # the first step warms up
        step += [8 / l["images_per_s"] for l in lines]
        reduce += [l.get("allreduce_s", 0.0) for l in lines]
    return statistics.median(step), statistics.median(reduce)
res = {c: load(c) for c in configs}
base = res[configs[0]][0]
print("| configuration | s per step | images/s | speed-up over 1 process | gradient all-reduce s per step |")
print("|---|---:|---:|---:|---:|")
for c in configs:
    t, a = res[c]
    print(f"| {c} | {t:.3f} | {8 / t:.2f} | {base / t:.3f} | {a:.3f} |")
print()
for c in configs[1:]:
    print(f"RATIO {c} {base / res[c][0]:.3f}")
PY
