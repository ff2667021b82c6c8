#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 60) on
# a scratch copy of its seed corpus. Exits non-zero on a finding; the input that triggered it is
# left in <build>/findings/ (rerun: <build>/tests/fuzz/<target> <that file>).
#   tests/fuzz/run.sh [SECONDS]      environment: PACKD_FUZZ_BUILD (default build-fuzz), JOBS
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
build=${PACKD_FUZZ_BUILD:-build-fuzz}
targets=(fuzz_pth_zip fuzz_pth_legacy fuzz_safetensors)

cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1" \
  -DPACKD_WERROR=ON -DPACKD_CUDA=OFF -DPACKD_BUILD_BENCHMARKS=OFF -DPACKD_BUILD_EXAMPLES=OFF -DPACKD_HEADER_CHECKS=OFF \
  -DPACKD_BUILD_FUZZERS=ON >/dev/null
cmake --build "$build" --target "${targets[@]}" -j"${JOBS:-$(nproc)}"

mkdir -p "$build/findings"
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/"$t"/* "$corpus"/
  dict=tests/fuzz/pth.dict
  [ "$t" = fuzz_safetensors ] && dict=tests/fuzz/safetensors.dict
  echo "== $t: ${seconds}s"
  log="$build/findings/$t.log"
  if ! "$build/tests/fuzz/$t" "$corpus" -dict="$dict" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$build/findings/$t-" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "$t: FINDING (input and log in $build/findings/)"
    exit 1
  fi
  grep -E '^(Done |stat::(new_units_added|peak_rss_mb)|#[0-9]+[[:space:]]+DONE)' "$log"
done
