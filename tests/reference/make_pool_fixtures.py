#!/usr/bin/python3
"""PyTorch 1.13 parity fixtures for max_pool2d, avg_pool2d, adaptive_avg_pool2d
(tests/ops/test_pool.cpp).

    /usr/bin/python3 tests/reference/make_pool_fixtures.py

Writes tests/reference/fixtures/pool.safetensors in fixture_family.py's layout.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixture_family import Family, randn  # noqa: E402

SCRIPT = "tests/reference/make_pool_fixtures.py"
torch.manual_seed(20261131)


def main():
    f = Family("pool", SCRIPT)
    mp = F.max_pool2d
    f.case("max_k3s2p1", lambda x: mp(x, 3, 2, 1), [randn(2, 3, 9, 10)])
    f.case("max_k3s2p1_indices", lambda x: mp(x, 3, 2, 1, return_indices=True)[1], [randn(2, 3, 9, 10)],
           differentiable=[False])
    f.case("max_k2_default_stride", lambda x: mp(x, 2), [randn(1, 2, 7, 6)])
    f.case("max_ceil", lambda x: mp(x, 3, 2, 0, ceil_mode=True), [randn(1, 2, 8, 9)])
    f.case("max_ceil_drop_last", lambda x: mp(x, 2, 2, 1, ceil_mode=True), [randn(2, 2, 5, 5)])
    f.case("max_dilation", lambda x: mp(x, 3, 1, 1, dilation=2), [randn(2, 2, 7, 8)])
    f.case("max_rect", lambda x: mp(x, (2, 3), (1, 2), (1, 0), dilation=(2, 1), ceil_mode=True), [randn(1, 3, 6, 9)])
    f.case("max_rect_indices", lambda x: mp(x, (2, 3), (1, 2), (1, 0), dilation=(2, 1), ceil_mode=True,
                                            return_indices=True)[1], [randn(1, 3, 6, 9)], differentiable=[False])
    f.case("max_3d", lambda x: mp(x, 3, 2, 1), [randn(3, 7, 7)])
    f.case("max_noncontig", lambda x: mp(x, 3, 2, 1), [randn(2, 3, 8, 11)], views=[lambda t: t.transpose(2, 3)])
    ap = F.avg_pool2d
    f.case("avg_k3s2p1", lambda x: ap(x, 3, 2, 1), [randn(2, 3, 9, 10)])
    f.case("avg_k3s2p1_exclude_pad", lambda x: ap(x, 3, 2, 1, count_include_pad=False), [randn(2, 3, 9, 10)])
    f.case("avg_ceil", lambda x: ap(x, 3, 2, 1, ceil_mode=True), [randn(1, 2, 8, 8)])
    f.case("avg_ceil_exclude_pad", lambda x: ap(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), [randn(1, 2, 8, 8)])
    f.case("avg_rect", lambda x: ap(x, (2, 4), (3, 1), (1, 2)), [randn(2, 2, 7, 9)])
    f.case("avg_3d_noncontig", lambda x: ap(x, 2), [randn(3, 6, 5)], views=[lambda t: t.transpose(1, 2)])
    aap = F.adaptive_avg_pool2d
    f.case("adaptive_3x4", lambda x: aap(x, (3, 4)), [randn(2, 3, 10, 7)])
    f.case("adaptive_1x1", lambda x: aap(x, 1), [randn(2, 4, 5, 6)])
    f.case("adaptive_upsample", lambda x: aap(x, (6, 5)), [randn(1, 2, 4, 3)])
    f.case("adaptive_3d_noncontig", lambda x: aap(x, (2, 3)), [randn(3, 7, 5)], views=[lambda t: t.transpose(1, 2)])
    f.save()


if __name__ == "__main__":
    main()
