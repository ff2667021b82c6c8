#!/usr/bin/python3
"""Fixtures for gaussian_blur2d (include/packd/ops/filter.hpp).

    /usr/bin/python3 tests/reference/make_filter_fixtures.py

writes tests/reference/fixtures/filter.safetensors (layout: fixture_family.py):
  blur_*   scipy.ndimage.gaussian_filter (mode='reflect': the edge sample repeated) over the last
           two axes, computed in float64 (the C++ test checks float64 to ~1e-12 and float32 to ~1e-6).
           The gradient reference is the adjoint of scipy's operator: each 1-D pass as the matrix
           A = gaussian_filter1d applied to the identity, so gin = A_H^T gout A_W.
  tblur_*  the kornia/anomalib blur in PyTorch: F.pad(mode='reflect') (edge NOT repeated) and two
           1-D conv2d passes with a normalised 33-tap (for sigma 4) Gaussian; gradients by autograd.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixture_family import Family, randn  # noqa: E402

SCRIPT = "tests/reference/make_filter_fixtures.py"
torch.manual_seed(20261205)
rng = np.random.default_rng(20261205)

f = Family("filter", SCRIPT)


def band(n, sigma, truncate):
    """The n x n matrix of scipy's 1-D reflect Gaussian filter."""
    return np.stack([ndimage.gaussian_filter1d(np.eye(n)[:, j], sigma, truncate=truncate, mode="reflect")
                     for j in range(n)], axis=1)


def scipy_case(name, shape, sigma, truncate=4.0):
    x = rng.standard_normal(shape)
    sig = [0.0] * (len(shape) - 2) + [sigma, sigma]
    out = ndimage.gaussian_filter(x, sig, truncate=truncate, mode="reflect")
    gout = rng.standard_normal(shape)
    ah, aw = band(shape[-2], sigma, truncate), band(shape[-1], sigma, truncate)
    assert np.allclose(ah @ x.reshape(-1, shape[-2], shape[-1]) @ aw.T, out.reshape(-1, shape[-2], shape[-1]),
                       atol=1e-13)
    gin = ah.T @ gout.reshape(-1, shape[-2], shape[-1]) @ aw
    f.tensors[f"{name}.in0"] = x
    f.tensors[f"{name}.out"] = out
    f.tensors[f"{name}.gout"] = gout
    f.tensors[f"{name}.gin0"] = gin.reshape(shape)


scipy_case("blur_hw", (20, 23), 4.0)                  # (H, W), radius 16 < H, W
scipy_case("blur_small", (2, 3, 9, 7), 4.0)           # radius 16 > H, W: periodic reflection
scipy_case("blur_sigma15", (1, 2, 12, 10), 1.5)       # radius int(6.5) = 6
scipy_case("blur_trunc", (1, 1, 11, 13), 2.0, 2.2)    # radius int(4.9) = 4
scipy_case("blur_1px", (1, 1, 1, 6), 1.0)             # H = 1
scipy_case("blur_r0", (1, 1, 5, 4), 0.1)              # radius 0: the identity


def kornia_blur(x, sigma, truncate=4.0):
    r = int(truncate * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(y, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)


f.case("tblur_nchw", lambda x: kornia_blur(x, 2.0), [randn(2, 3, 12, 15)])
f.case("tblur_sigma4", lambda x: kornia_blur(x, 4.0), [randn(1, 1, 20, 18)])
f.save()
