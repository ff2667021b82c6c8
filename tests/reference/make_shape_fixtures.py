#!/usr/bin/python3
"""PyTorch 1.13 parity fixtures for the shape ops (tests/ops/test_shape_ops.cpp) and linear
(tests/ops/test_linear.cpp).

    /usr/bin/python3 tests/reference/make_shape_fixtures.py

Writes tests/reference/fixtures/{shape_ops,linear}.safetensors in fixture_family.py's layout.
Index inputs are stored as int64 and are not differentiable.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixture_family import Family, randn  # noqa: E402

SCRIPT = "tests/reference/make_shape_fixtures.py"
torch.manual_seed(20261132)


def weighted_cat(parts, dim):
    # gives every part a distinct gradient
    return torch.cat([p * (i + 1) for i, p in enumerate(parts)], dim)


def shape_ops():
    f = Family("shape_ops", SCRIPT)
    f.case("cat_dim1", lambda a, b, c: torch.cat([a, b, c], 1), [randn(2, 3, 4), randn(2, 1, 4), randn(2, 5, 4)])
    f.case("cat_last_noncontig", lambda a, b: torch.cat([a, b], -1), [randn(4, 3), randn(2, 3)],
           views=[lambda t: t.t(), lambda t: t.t()])
    f.case("cat_legacy_empty", lambda a, b, c: torch.cat([a, b, c], 0), [randn(2, 3), randn(0), randn(1, 3)])
    f.case("stack_dim1", lambda a, b: torch.stack([a, b], 1), [randn(3, 4), randn(3, 4)])
    f.case("stack_last", lambda a, b, c: torch.stack([a, b, c], -1), [randn(2, 3), randn(2, 3), randn(2, 3)])
    f.case("split_size", lambda x: weighted_cat(torch.split(x, 2, 1), 1), [randn(3, 7, 2)])
    f.case("split_sizes", lambda x: weighted_cat(torch.split(x, [1, 0, 3, 2], -1), -1), [randn(2, 3, 6)])
    f.case("chunk", lambda x: weighted_cat(torch.chunk(x, 3, 0), 0), [randn(7, 3)])
    f.case("chunk_fewer", lambda x: weighted_cat(torch.chunk(x, 4, 0), 0), [randn(6, 2)])  # 3 chunks of 2
    f.case("pad_constant", lambda x: F.pad(x, (1, 2, 0, 3), value=0.5), [randn(2, 3, 4, 5)])
    f.case("pad_constant_negative", lambda x: F.pad(x, (-1, 2, 1, -2)), [randn(2, 5, 6)])
    f.case("pad_constant_3dims", lambda x: F.pad(x, (1, 0, 0, 2, 1, 1)), [randn(2, 3, 4)])
    f.case("pad_reflect", lambda x: F.pad(x, (2, 1, 1, 3), mode="reflect"), [randn(2, 3, 5, 6)])
    f.case("pad_reflect_1d", lambda x: F.pad(x, (3, 2), mode="reflect"), [randn(2, 3, 5)])
    f.case("pad_replicate", lambda x: F.pad(x, (1, 3, 2, 0), mode="replicate"), [randn(2, 3, 4, 5)])
    f.case("pad_reflect_noncontig", lambda x: F.pad(x, (1, 1, 2, 2), mode="reflect"), [randn(2, 3, 6, 5)],
           views=[lambda t: t.transpose(2, 3)])
    f.case("flip_02", lambda x: torch.flip(x, (0, 2)), [randn(3, 4, 5)])
    f.case("flip_last_noncontig", lambda x: torch.flip(x, (-1,)), [randn(4, 6)], views=[lambda t: t.t()[:, 1:]])
    for k in [1, 2, 3, -1, 5, 0]:
        f.case(f"rot90_k{k}".replace("-", "m"), lambda x, k=k: torch.rot90(x, k, (-2, -1)), [randn(2, 3, 4, 5)])
    f.case("rot90_dims10", lambda x: torch.rot90(x, 1, (1, 0)), [randn(3, 4, 2)])
    f.case("index_select_dim1", lambda x, i: torch.index_select(x, 1, i), [randn(3, 5, 2), torch.tensor([4, 0, 0, 2])],
           differentiable=[True, False])
    f.case("index_select_dim0_noncontig", lambda x, i: torch.index_select(x, 0, i), [randn(3, 6), torch.tensor([5, 1, 5])],
           differentiable=[True, False], views=[lambda t: t.t(), None])
    f.case("gather_dim1", lambda x, i: torch.gather(x, 1, i), [randn(3, 5), torch.randint(0, 5, (3, 7))],
           differentiable=[True, False])
    f.case("gather_dim0_smaller", lambda x, i: torch.gather(x, 0, i), [randn(4, 5, 3), torch.randint(0, 4, (6, 3, 2))],
           differentiable=[True, False])
    f.case("gather_last_noncontig", lambda x, i: torch.gather(x, -1, i), [randn(5, 4), torch.randint(0, 5, (4, 3))],
           differentiable=[True, False], views=[lambda t: t.t(), None])
    f.save()


def linear():
    f = Family("linear", SCRIPT)
    f.case("linear_2d", F.linear, [randn(3, 5), randn(4, 5), randn(4)])
    f.case("linear_3d_nobias", F.linear, [randn(2, 3, 5), randn(4, 5)])
    f.case("linear_1d", F.linear, [randn(5), randn(3, 5), randn(3)])
    f.case("linear_noncontig", F.linear, [randn(5, 2, 3), randn(4, 5), randn(4)],
           views=[lambda t: t.permute(1, 2, 0), None, None])
    f.case("linear_transposed_weight", F.linear, [randn(6, 5), randn(5, 4), randn(4)], views=[None, lambda t: t.t(), None])
    f.save()


if __name__ == "__main__":
    shape_ops()
    linear()
