#!/usr/bin/python3
"""PyTorch 1.13 parity fixtures for affine_grid and grid_sample (include/packd/ops/grid_sample.hpp).

    /usr/bin/python3 tests/reference/make_grid_fixtures.py

writes tests/reference/fixtures/grid_sample.safetensors (layout: fixture_family.py). grid_sample is
forward-only in packd, so its cases store no gradients.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixture_family import Family, randn  # noqa: E402

SCRIPT = "tests/reference/make_grid_fixtures.py"
torch.manual_seed(20261204)


def theta(n, scale, angle, shift):
    t = torch.zeros(n, 2, 3)
    for i in range(n):
        a = angle * (i + 1)
        t[i, 0, 0], t[i, 0, 1], t[i, 0, 2] = scale * math.cos(a), -scale * math.sin(a), shift
        t[i, 1, 0], t[i, 1, 1], t[i, 1, 2] = scale * math.sin(a), scale * math.cos(a), -shift / 2
    return t


f = Family("grid_sample", SCRIPT)
for ac in (True, False):
    t = "ac" if ac else "noac"
    f.case(f"affine_grid_{t}", lambda th, ac=ac: F.affine_grid(th, (2, 3, 5, 7), align_corners=ac),
           [theta(2, 1.1, 0.2, 0.1) + 0.01 * randn(2, 2, 3)])
    f.case(f"affine_grid_1px_{t}", lambda th, ac=ac: F.affine_grid(th, (1, 1, 1, 4), align_corners=ac),
           [theta(1, 0.9, 0.1, 0.2)])
    x = randn(2, 3, 6, 8)
    # a rotation + shift with zoom-out, so sample points fall outside the image (all padding paths)
    g = F.affine_grid(theta(2, 1.4, 0.35, 0.3), (2, 3, 5, 7), align_corners=ac)
    # random coordinates far outside [-1, 1]: several reflections
    gr = 2.5 * (2 * torch.rand(2, 4, 5, 2) - 1)
    for pad in ("zeros", "border", "reflection"):
        for mode in ("bilinear", "nearest"):
            fn = (lambda x, g, ac=ac, pad=pad, mode=mode:
                  F.grid_sample(x, g, mode=mode, padding_mode=pad, align_corners=ac))
            f.case(f"gs_{mode}_{pad}_{t}", fn, [x, g], differentiable=[False, False])
            f.case(f"gs_far_{mode}_{pad}_{t}", fn, [x, gr], differentiable=[False, False])
f.case("gs_noncontig", lambda x, g: F.grid_sample(x, g, mode="bilinear", padding_mode="reflection",
                                                  align_corners=False),
       [randn(6, 3, 2, 8), 1.2 * (2 * torch.rand(2, 5, 4, 2) - 1)], differentiable=[False, False],
       views=[lambda x: x.permute(2, 1, 0, 3), lambda g: g.transpose(1, 2)])
f.save()
