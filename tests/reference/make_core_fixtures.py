#!/usr/bin/python3
"""PyTorch 1.13 parity fixtures for the core ops (elementwise, reduce, linalg).

Run with Debian's interpreter (the one that has torch):
    /usr/bin/python3 tests/reference/make_core_fixtures.py
It writes tests/reference/fixtures/core_<family>.safetensors in the layout fixture_family.py
describes. The C++ tests (tests/ops/test_*.cpp, tests/core/test_tensor.cpp) apply the same ops,
with the same view transforms of the inputs (`views=` here).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixture_family import OUT, Family, away_from_zero, positive, randn  # noqa: E402

SCRIPT = "tests/reference/make_core_fixtures.py"
torch.manual_seed(20261129)


def elementwise():
    f = Family("core_elementwise", SCRIPT)
    f.case("add_bcast", torch.add, [randn(4, 1, 3), randn(5, 1)])
    f.case("sub_bcast", torch.sub, [randn(3, 4), randn(4)])
    f.case("mul_bcast", torch.mul, [randn(2, 3, 4), randn(3, 1)])
    f.case("div", torch.div, [randn(3, 4), away_from_zero(3, 4)])
    f.case("div_bcast", torch.div, [randn(2, 3), away_from_zero(2, 1)])
    f.case("pow_tensor", torch.pow, [positive(3, 4), randn(4)])
    f.case("neg", torch.neg, [randn(3, 5)])
    f.case("exp", torch.exp, [randn(3, 5)])
    f.case("log", torch.log, [positive(3, 5)])
    f.case("sqrt", torch.sqrt, [positive(3, 5)])
    f.case("rsqrt", torch.rsqrt, [positive(3, 5)])
    f.case("abs", torch.abs, [away_from_zero(3, 5)])
    f.case("relu", torch.relu, [away_from_zero(3, 5)])
    f.case("sigmoid", torch.sigmoid, [4 * randn(3, 5)])
    f.case("tanh", torch.tanh, [2 * randn(3, 5)])
    f.case("clamp", lambda x: torch.clamp(x, -0.5, 0.7), [away_from_zero(4, 5)])
    f.case("pow_scalar", lambda x: torch.pow(x, 2.5), [positive(3, 5)])
    f.case("where", lambda c, a, b: torch.where(c != 0, a, b),
           [(torch.rand(3, 4) < 0.5).float(), randn(3, 4), randn(4)], differentiable=[False, True, True])
    # non-contiguous: a transposed view times a strided slice (view= x.t(), y[:, ::2])
    f.case("mul_noncontig", torch.mul, [randn(5, 3), randn(3, 10)],
           views=[lambda x: x.t(), lambda y: y[:, ::2]])
    f.case("exp_noncontig", torch.exp, [randn(4, 6)], views=[lambda x: x.t()[1:5]])
    a, b = torch.round(randn(4, 5) * 2) / 2, torch.round(randn(4, 5) * 2) / 2
    for op in ["eq", "ne", "lt", "le", "gt", "ge"]:
        f.case(op, lambda x, y, op=op: getattr(torch, op)(x, y).float(), [a, b], differentiable=[False, False])
    f.save()


def reduce():
    f = Family("core_reduce", SCRIPT)
    f.case("sum_all", torch.sum, [randn(3, 4, 5)])
    f.case("sum_dim1", lambda x: torch.sum(x, 1), [randn(3, 4, 5)])
    f.case("sum_dims02_keep", lambda x: torch.sum(x, (0, 2), keepdim=True), [randn(3, 4, 5)])
    f.case("sum_permuted", lambda x: torch.sum(x, (1,)), [randn(3, 4, 5)], views=[lambda x: x.permute(2, 0, 1)])
    f.case("mean_dims12_keep", lambda x: torch.mean(x, (1, 2), keepdim=True), [randn(3, 4, 5)])
    f.case("mean_all", torch.mean, [randn(6, 7)])
    f.case("amax_dim1", lambda x: torch.amax(x, 1), [randn(3, 4, 5)])
    f.case("amin_dims01", lambda x: torch.amin(x, (0, 1)), [randn(3, 4, 5)])
    f.case("amax_all", torch.amax, [randn(4, 6)])
    f.case("argmax_dim1", lambda x: torch.argmax(x, 1), [randn(3, 7, 2)], differentiable=[False])
    f.case("argmin_dim0_keep", lambda x: torch.argmin(x, 0, keepdim=True), [randn(5, 3)], differentiable=[False])
    f.case("argmax_flat", torch.argmax, [randn(4, 5)], differentiable=[False])
    f.case("var_dim1", lambda x: torch.var(x, 1), [randn(3, 6, 2)])
    f.case("var_all_biased", lambda x: torch.var(x, unbiased=False), [randn(4, 5)])
    f.case("var_dims02_keep", lambda x: torch.var(x, (0, 2), keepdim=True), [randn(3, 4, 5)])
    f.save()


def linalg():
    f = Family("core_linalg", SCRIPT)
    f.case("mm", torch.mm, [randn(5, 7), randn(7, 3)])
    f.case("mm_transposed", torch.mm, [randn(7, 5), randn(3, 7)], views=[lambda a: a.t(), lambda b: b.t()])
    f.case("bmm", torch.bmm, [randn(2, 4, 5), randn(2, 5, 3)])
    f.case("addmm", lambda c, a, b: torch.addmm(c, a, b, beta=2.0, alpha=0.5), [randn(3), randn(4, 6), randn(6, 3)])
    f.case("matmul_batched_bcast", torch.matmul, [randn(2, 1, 4, 5), randn(3, 5, 2)])
    f.case("matmul_vec_mat", torch.matmul, [randn(5), randn(5, 3)])
    f.case("matmul_mat_vec", torch.matmul, [randn(4, 5), randn(5)])
    f.case("matmul_dot", torch.matmul, [randn(6), randn(6)])
    f.case("matmul_batch_vec", torch.matmul, [randn(2, 3, 4), randn(4)])
    f.save()


def views():
    f = Family("core_views", SCRIPT)
    # each case multiplies by a fixed ramp after the view, so the gradient shows where elements went
    ramp = lambda t: t * torch.arange(t.numel(), dtype=torch.float32).reshape(t.shape)
    f.case("reshape", lambda x: ramp(x.reshape(4, -1)), [randn(2, 3, 4)])
    f.case("permute", lambda x: ramp(x.permute(2, 0, 1)), [randn(2, 3, 4)])
    f.case("transpose_reshape", lambda x: ramp(x.transpose(0, 2).reshape(-1)), [randn(2, 3, 4)])
    f.case("slice_step", lambda x: ramp(x[:, 1:7:2]), [randn(3, 8)])
    f.case("narrow", lambda x: ramp(x.narrow(1, 2, 3)), [randn(3, 6)])
    f.case("select", lambda x: ramp(x.select(1, -1)), [randn(3, 4, 2)])
    f.case("expand", lambda x: ramp(x.expand(2, 3, 4)), [randn(3, 1)])
    f.case("squeeze_unsqueeze", lambda x: ramp(x.squeeze(1).unsqueeze(0)), [randn(3, 1, 4)])
    f.case("flatten", lambda x: ramp(x.flatten(1)), [randn(2, 3, 4)])
    f.case("chain", lambda x: ramp(x.t()[1:, ::2].unsqueeze(-1).expand(-1, -1, 3).reshape(-1, 2)), [randn(4, 5)])
    f.save()


if __name__ == "__main__":
    views()
    elementwise()
    reduce()
    linalg()
    print("wrote", OUT)
