#!/usr/bin/python3
"""PyTorch 1.13 parity fixtures for interpolate (include/packd/ops/resize.hpp).

    /usr/bin/python3 tests/reference/make_resize_fixtures.py

writes tests/reference/fixtures/resize.safetensors (layout: fixture_family.py).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixture_family import Family, randn  # noqa: E402

SCRIPT = "tests/reference/make_resize_fixtures.py"
torch.manual_seed(20261203)

f = Family("resize", SCRIPT)
I = F.interpolate
for ac in (True, False):
    t = "ac" if ac else "noac"
    f.case(f"bilinear_up_{t}", lambda x, ac=ac: I(x, size=(9, 13), mode="bilinear", align_corners=ac),
           [randn(2, 3, 5, 7)])
    f.case(f"bilinear_down_{t}", lambda x, ac=ac: I(x, size=(4, 5), mode="bilinear", align_corners=ac),
           [randn(2, 2, 9, 11)])
    # scale_factor: out = floor(in * s); without recompute the kernel uses 1 / s (not in / out)
    f.case(f"bilinear_scale17_{t}", lambda x, ac=ac: I(x, scale_factor=1.7, mode="bilinear", align_corners=ac),
           [randn(1, 2, 5, 6)])
    f.case(f"bilinear_to1_{t}", lambda x, ac=ac: I(x, size=(1, 3), mode="bilinear", align_corners=ac),
           [randn(1, 2, 4, 5)])
f.case("bilinear_scale_hw", lambda x: I(x, scale_factor=(2.0, 0.6), mode="bilinear", align_corners=False),
       [randn(1, 2, 4, 7)])
f.case("bilinear_recompute", lambda x: I(x, scale_factor=1.7, mode="bilinear", align_corners=False,
                                         recompute_scale_factor=True), [randn(1, 2, 5, 6)])
f.case("bilinear_same", lambda x: I(x, scale_factor=1.1, mode="bilinear", align_corners=False), [randn(1, 2, 5, 6)])
f.case("bilinear_noncontig", lambda x: I(x, size=(7, 8), mode="bilinear", align_corners=True), [randn(5, 3, 2, 4)],
       views=[lambda x: x.permute(2, 1, 3, 0)])
f.case("bilinear_x4", lambda x: I(x, size=(24, 24), mode="bilinear", align_corners=True), [randn(1, 1, 6, 6)])
f.case("nearest_up", lambda x: I(x, size=(9, 13), mode="nearest"), [randn(2, 3, 5, 7)])
f.case("nearest_down", lambda x: I(x, size=(4, 5), mode="nearest"), [randn(2, 2, 9, 11)])
f.case("nearest_x2", lambda x: I(x, scale_factor=2, mode="nearest"), [randn(1, 2, 3, 4)])
f.case("nearest_scale17", lambda x: I(x, scale_factor=1.7, mode="nearest"), [randn(1, 2, 5, 6)])
f.case("nearest_recompute", lambda x: I(x, scale_factor=1.7, mode="nearest", recompute_scale_factor=True),
       [randn(1, 2, 5, 6)])
f.case("nearest_noncontig", lambda x: I(x, size=(5, 9), mode="nearest"), [randn(4, 3, 2, 6)],
       views=[lambda x: x.permute(2, 1, 0, 3)])
f.save()
