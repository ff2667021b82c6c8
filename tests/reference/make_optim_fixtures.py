#!/usr/bin/python3
"""PyTorch 1.13 parity fixtures for the optimisers and schedules (tests/optim/test_optim.cpp).

    /usr/bin/python3 tests/reference/make_optim_fixtures.py

Writes tests/reference/fixtures/optim.safetensors:

  init.<p>                 the starting values of parameters a (3, 4), b (5,), c (2, 3, 2, 2),
                           d (4,) and frozen (4,), float64
  grad.<s>.<p>             the gradient of step s = 0..4 (float64); d has none at step 2 and
                           frozen never has one (its grad stays None, as RD's conv4/bn4)
  <cfg>.<dt>.step<s>.<p>   every parameter after step s, run by torch in dtype dt (f64 or f32,
                           starting from init and gradients cast to it)
  <cfg>.<dt>.state.<p>.<k> the optimiser's state after 5 steps (exp_avg, exp_avg_sq, step, ...)
  sched.<name>             the lr of each epoch 0..N of a CosineAnnealingLR (get_last_lr() after
                           each scheduler.step(); float64), and regad.<name>: RegAD's formula

Every optimiser runs single-tensor (foreach=False), PyTorch 1.13's default. Config adam_sched
changes the lr before every step, following CosineAnnealingLR(T_max=4, eta_min=1e-3).
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import safetensors_io  # noqa: E402
from fixture_family import OUT  # noqa: E402

SCRIPT = "tests/reference/make_optim_fixtures.py"
torch.manual_seed(20261207)

SHAPES = {"a": (3, 4), "b": (5,), "c": (2, 3, 2, 2), "d": (4,), "frozen": (4,)}
STEPS = 5

CONFIGS = {
    "adam_default": lambda p: torch.optim.Adam(p, foreach=False),
    "adam_wd": lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.1, foreach=False),
    "adam_betas": lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.5, 0.999), foreach=False),
    "adam_amsgrad": lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.01, amsgrad=True, foreach=False),
    "adam_sched": lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.5, 0.999), foreach=False),
    "sgd_plain": lambda p: torch.optim.SGD(p, lr=0.1, foreach=False),
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, foreach=False),
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, foreach=False),
    "sgd_wd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.05, foreach=False),
}


def has_grad(name, step):
    return name != "frozen" and not (name == "d" and step == 2)


def make_grads():
    grads = []
    for s in range(STEPS):
        g = {}
        for n, shape in SHAPES.items():
            if has_grad(n, s):
                # magnitudes from 1e-3 to 1e1, so eps and the bias corrections both matter
                scale = torch.logspace(-3, 1, math.prod(shape), dtype=torch.float64)
                g[n] = torch.randn(shape, dtype=torch.float64) * scale[torch.randperm(scale.numel())].reshape(shape)
        grads.append(g)
    return grads


def run(cfg, init, grads, dtype, out):
    params = {n: v.to(dtype).clone().requires_grad_() for n, v in init.items()}
    opt = CONFIGS[cfg](list(params.values()))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=1e-3) if cfg == "adam_sched" else None
    dt = "f64" if dtype == torch.float64 else "f32"
    for s in range(STEPS):
        opt.zero_grad(set_to_none=True)
        for n, p in params.items():
            if n in grads[s]:
                p.grad = grads[s][n].to(dtype).clone()
        opt.step()
        if sched is not None:
            sched.step()
        for n, p in params.items():
            out[f"{cfg}.{dt}.step{s}.{n}"] = p.detach().numpy().copy()
    for n, p in params.items():
        assert (n == "frozen") == (len(opt.state[p]) == 0)
        for k, v in opt.state[p].items():
            if v is not None:
                out[f"{cfg}.{dt}.state.{n}.{k}"] = v.numpy().copy()


def schedules(out):
    for name, base, t_max, eta_min, n in [("t10", 0.1, 10, 0.0, 25), ("t7_min", 0.5, 7, 1e-3, 20)]:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=base)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)
        lrs = [sched.get_last_lr()[0]]
        for _ in range(n):
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr()[0])
        out[f"sched.{name}"] = torch.tensor(lrs, dtype=torch.float64).numpy()
    # RegAD (train.py adjust_learning_rate), set at the start of epoch e = 1..50
    out["regad.e50"] = torch.tensor([1e-4 * 0.5 * (1.0 + math.cos(math.pi * e / 50)) for e in range(51)],
                                    dtype=torch.float64).numpy()


def main():
    out = {}
    init = {n: torch.randn(shape, dtype=torch.float64) for n, shape in SHAPES.items()}
    grads = make_grads()
    for n, v in init.items():
        out[f"init.{n}"] = v.numpy()
    for s, g in enumerate(grads):
        for n, v in g.items():
            out[f"grad.{s}.{n}"] = v.numpy()
    for cfg in CONFIGS:
        for dtype in (torch.float64, torch.float32):
            run(cfg, init, grads, dtype, out)
    schedules(out)
    os.makedirs(OUT, exist_ok=True)
    safetensors_io.save(os.path.join(OUT, "optim.safetensors"), out, {"generator": SCRIPT, "torch": torch.__version__})


if __name__ == "__main__":
    main()
