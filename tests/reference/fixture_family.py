"""Shared helpers for the fixture scripts: seeded inputs and the Family writer.

A Family collects cases and saves tests/reference/fixtures/<family>.safetensors. For each case
NAME it stores NAME.in0, NAME.in1, ... (inputs, contiguous), NAME.out (the op's output), NAME.gout
(a random upstream gradient) and NAME.gin0, ... (the inputs' gradients after out.backward(gout))
for the differentiable inputs. Inputs may be viewed before the op (views=[...]); the C++ test
applies the same views (tests/support/testing.hpp, check_op).
"""
import os

import torch

import safetensors_io

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def randn(*shape, dtype=torch.float32):
    return torch.randn(tuple(shape), dtype=dtype)


def away_from_zero(*shape):
    """Values with |x| in [0.3, 1.5], so kinks (relu, abs) and poles (div, log) stay far away."""
    sign = torch.where(torch.rand(*shape) < 0.5, -1.0, 1.0)
    return sign * (0.3 + 1.2 * torch.rand(*shape))


def positive(*shape):
    return 0.3 + 1.7 * torch.rand(*shape)


class Family:
    def __init__(self, name, script):
        self.name, self.script, self.tensors = name, script, {}

    def case(self, name, fn, inputs, differentiable=None, views=None):
        """fn(*viewed_inputs) -> output. views[i] maps stored input i to what the op sees."""
        differentiable = differentiable if differentiable is not None else [True] * len(inputs)
        leaves = []
        for i, x in enumerate(inputs):
            x = x.clone().requires_grad_(differentiable[i] and x.is_floating_point())
            self.tensors[f"{name}.in{i}"] = x.detach().numpy()
            leaves.append(x)
        seen = [views[i](x) if views and views[i] else x for i, x in enumerate(leaves)]
        out = fn(*seen)
        self.tensors[f"{name}.out"] = out.detach().numpy()
        if out.is_floating_point() and out.requires_grad:
            gout = torch.randn(tuple(out.shape), dtype=out.dtype)
            out.backward(gout)
            self.tensors[f"{name}.gout"] = gout.numpy()
            for i, x in enumerate(leaves):
                if x.requires_grad:
                    self.tensors[f"{name}.gin{i}"] = x.grad.numpy()

    def save(self):
        os.makedirs(OUT, exist_ok=True)
        safetensors_io.save(os.path.join(OUT, f"{self.name}.safetensors"), self.tensors,
                            {"generator": self.script, "torch": torch.__version__})
