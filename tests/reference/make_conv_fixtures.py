#!/usr/bin/python3
"""PyTorch 1.13 parity fixtures for conv2d and conv_transpose2d (tests/ops/test_conv.cpp).

    /usr/bin/python3 tests/reference/make_conv_fixtures.py
writes tests/reference/fixtures/conv.safetensors (layout: fixture_family.py).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_family import Family, randn  # noqa: E402

SCRIPT = "tests/reference/make_conv_fixtures.py"
torch.manual_seed(2023)


def main():
    f = Family("conv", SCRIPT)
    f.case("conv3x3_bias", lambda x, w, b: F.conv2d(x, w, b, padding=1), [randn(2, 3, 7, 6), randn(4, 3, 3, 3), randn(4)])
    f.case("conv_stride_pad_dil", lambda x, w: F.conv2d(x, w, stride=2, padding=(1, 2), dilation=(2, 1)),
           [randn(2, 4, 9, 8), randn(6, 4, 3, 2)])
    f.case("conv_groups", lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2),
           [randn(1, 4, 6, 5), randn(6, 2, 3, 3), randn(6)])
    f.case("conv_depthwise", lambda x, w: F.conv2d(x, w, stride=(1, 2), padding=1, groups=3),
           [randn(2, 3, 5, 7), randn(3, 1, 3, 3)])
    f.case("conv1x1", lambda x, w, b: F.conv2d(x, w, b), [randn(2, 5, 4, 3), randn(3, 5, 1, 1), randn(3)])
    f.case("conv1x1_stride2", lambda x, w: F.conv2d(x, w, stride=2), [randn(2, 5, 5, 4), randn(3, 5, 1, 1)])
    f.case("conv7x7_stem", lambda x, w: F.conv2d(x, w, stride=2, padding=3), [randn(1, 3, 12, 11), randn(4, 3, 7, 7)])
    f.case("conv_noncontig", lambda x, w: F.conv2d(x, w, padding=1), [randn(2, 3, 6, 5), randn(4, 3, 3, 3)],
           views=[lambda x: x.transpose(2, 3), None])
    f.case("convT_k2s2", lambda x, w: F.conv_transpose2d(x, w, stride=2), [randn(2, 4, 3, 5), randn(4, 3, 2, 2)])
    f.case("convT_k3s2_outpad_bias", lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
           [randn(1, 3, 4, 5), randn(3, 2, 3, 3), randn(2)])
    f.case("convT_groups_dil", lambda x, w: F.conv_transpose2d(x, w, groups=2, dilation=2, padding=1),
           [randn(1, 4, 3, 3), randn(4, 3, 3, 3)])
    f.case("convT_k2s2_noncontig", lambda x, w: F.conv_transpose2d(x, w, stride=2),
           [randn(1, 3, 4, 2), randn(3, 2, 2, 2)], views=[lambda x: x.transpose(2, 3), None])
    f.save()


if __name__ == "__main__":
    main()
