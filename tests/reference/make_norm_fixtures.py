#!/usr/bin/python3
"""PyTorch 1.13 parity fixtures for batch_norm2d (tests/ops/test_norm.cpp).

    /usr/bin/python3 tests/reference/make_norm_fixtures.py

Writes tests/reference/fixtures/norm.safetensors in fixture_family.py's layout. Inputs of the
batch-norm cases are x, weight, bias, running_mean, running_var (the running buffers are not
differentiable; the op gets clones). For training cases, NAME.rm_after / NAME.rv_after hold the
running buffers after one forward with momentum 0.1, as PyTorch updates them.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixture_family import Family, positive, randn  # noqa: E402

SCRIPT = "tests/reference/make_norm_fixtures.py"
torch.manual_seed(20261130)


def bn_case(f, name, x, affine, training, view=None, momentum=0.1, eps=1e-5):
    C = (view(x) if view else x).shape[1]
    w, b = randn(C) * 0.5 + 1.0, randn(C) * 0.5
    rm, rv = randn(C) * 0.3, positive(C)
    inputs = [x, w, b, rm, rv] if affine else [x, rm, rv]
    diff = [True, True, True, False, False] if affine else [True, False, False]
    views = [view] + [None] * (len(inputs) - 1)

    def fn(*t):
        xx, r_m, r_v = t[0], t[-2].clone(), t[-1].clone()
        ww, bb = (t[1], t[2]) if affine else (None, None)
        out = F.batch_norm(xx, r_m, r_v, ww, bb, training=training, momentum=momentum, eps=eps)
        fn.after = (r_m, r_v)
        return out

    f.case(name, fn, inputs, differentiable=diff, views=views)
    if training:
        f.tensors[f"{name}.rm_after"] = fn.after[0].numpy()
        f.tensors[f"{name}.rv_after"] = fn.after[1].numpy()


def main():
    f = Family("norm", SCRIPT)
    bn_case(f, "bn_train", randn(3, 4, 5, 6) * 2 + 1, True, True)
    bn_case(f, "bn_train_noaffine", randn(2, 3, 4, 3) * 0.5 - 2, False, True)
    bn_case(f, "bn_train_1x1", randn(5, 3, 1, 1), True, True)
    bn_case(f, "bn_train_large_mean", randn(2, 3, 4, 4) * 0.1 + 50, True, True)
    # non-contiguous: stored NHWC, viewed NCHW
    bn_case(f, "bn_train_nhwc", randn(2, 5, 3, 4), True, True, view=lambda t: t.permute(0, 3, 1, 2))
    bn_case(f, "bn_eval", randn(3, 4, 5, 6) * 2 + 1, True, False)
    bn_case(f, "bn_eval_noaffine", randn(2, 3, 3, 5), False, False)
    bn_case(f, "bn_eval_transposed", randn(2, 3, 5, 4), True, False, view=lambda t: t.transpose(2, 3))
    f.save()


if __name__ == "__main__":
    main()
