#!/usr/bin/python3
"""CTest: `packd features` on the full-size random-weight fixtures reproduces PyTorch's features.

    check_features_cli.py PACKD_BINARY FIXTURE_DIR WORK_DIR

Runs the program on wide_resnet50_2 (legacy .pth teacher, RD checkpoint, safetensors input) and
compares layer1..3 / student1..3 with the reference tensors to 1e-4 of each tensor's largest
magnitude. Skips (exit 0, with a message) when the fixtures were not generated (no torch).
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def main():
    binary, fixtures, work = sys.argv[1:4]
    ref_path = os.path.join(fixtures, "wide_resnet50_2_io.safetensors")
    if not os.path.exists(ref_path):
        print("full-size model fixtures not generated (no torch): skipped")
        return 0
    os.makedirs(work, exist_ok=True)
    out = os.path.join(work, "features.safetensors")
    cmd = [binary, "features", "--backbone", "wide_resnet50_2",
           "--weights", os.path.join(fixtures, "wide_resnet50_2_teacher_legacy.pth"),
           "--student", os.path.join(fixtures, "wide_resnet50_2_rd.pth"),
           "--input", ref_path, "--out", out]
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    got, meta = safetensors_io.load(out)
    ref, _ = safetensors_io.load(ref_path)
    pairs = [(f"layer{k}", f"teacher.layer{k}") for k in (1, 2, 3)] + \
            [(f"student{k}", f"student.out{k}") for k in (1, 2, 3)]
    bad = 0
    for mine, theirs in pairs:
        a, e = got[mine].astype(np.float64), ref[theirs].astype(np.float64)
        if a.shape != e.shape:
            print(f"{mine}: shape {a.shape} != {e.shape}")
            bad += 1
            continue
        err = np.abs(a - e).max() / np.abs(e).max()
        print(f"{mine}: shape {a.shape}, max error / scale = {err:.2e}")
        bad += err > 1e-4
    assert meta.get("backbone") == "wide_resnet50_2", meta
    os.remove(out)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
