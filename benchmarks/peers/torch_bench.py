#!/usr/bin/python3
"""PyTorch peer for benchmarks/compare.sh: speaks Google Benchmark's command line and JSON.

    /usr/bin/python3 benchmarks/peers/torch_bench.py --benchmark_filter='^CASE(/|$)' \
        --benchmark_min_time=0.5 --benchmark_format=json

Cases come from the torch_<family>.py modules beside this file: each defines
CASES = {name: setup}, where setup() builds the inputs and returns a zero-argument callable that
runs the work once. The callable is timed over whole iterations until min_time has passed (after
one warm-up call), and the mean time per iteration is reported, as Google Benchmark does.
compare.sh runs this with 2 threads, the OPENBLAS_* overrides removed and glibc's malloc kept
from trimming (MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...), so PyTorch runs at its best.
"""
import argparse
import glob
import importlib
import json
import os
import re
import resource
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def load_cases():
    cases = {}
    for path in sorted(glob.glob(os.path.join(HERE, "torch_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        if name == "torch_bench":
            continue
        mod = importlib.import_module(name)
        for case, setup in mod.CASES.items():
            assert case not in cases, f"duplicate case {case}"
            cases[case] = setup
    return cases


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--benchmark_filter", default=".")
    p.add_argument("--benchmark_min_time", type=float, default=0.5)
    p.add_argument("--benchmark_format", default="console")
    p.add_argument("--benchmark_list_tests", default="false")
    args = p.parse_args()
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    cases = load_cases()
    selected = [c for c in cases if re.search(args.benchmark_filter, c)]
    if args.benchmark_list_tests == "true":
        print(f"pytorch {torch.__version__}, {threads} threads", file=sys.stderr)
        print("\n".join(selected))
        return
    results = []
    for c in selected:
        fn = cases[c]()
        with torch.no_grad() if c.endswith("_fwd") else torch.enable_grad():
            fn()  # warm-up
            iters, start = 0, time.perf_counter()
            while True:
                fn()
                iters += 1
                elapsed = time.perf_counter() - start
                if elapsed >= args.benchmark_min_time:
                    break
        # Peak resident memory of the process so far (ru_maxrss: KiB on Linux), per case when the
        # filter selects one case, as compare.sh does.
        results.append({"name": c, "run_type": "iteration", "iterations": iters,
                        "real_time": elapsed / iters * 1e3, "time_unit": "ms",
                        "peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    if args.benchmark_format == "json":
        json.dump({"context": {"library": f"pytorch {torch.__version__}", "threads": threads},
                   "benchmarks": results}, sys.stdout)
    else:
        for r in results:
            print(f"{r['name']:60s} {r['real_time']:10.3f} ms  ({r['iterations']} iterations)")


if __name__ == "__main__":
    main()
