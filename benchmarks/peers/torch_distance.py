"""PyTorch side of the cosine-similarity cases (benchmarks/bench_ops_distance.cpp has the packd side)."""
import torch
import torch.nn.functional as F


def _cosine(backward):
    def setup():
        g = torch.Generator().manual_seed(0)
        a = torch.randn(8, 1024, 16, 16, generator=g).requires_grad_(backward)
        b = torch.randn(8, 1024, 16, 16, generator=g).requires_grad_(backward)
        gout = torch.full((8, 16, 16), 0.01)
        if not backward:
            return lambda: F.cosine_similarity(a, b, dim=1)

        def step():
            F.cosine_similarity(a, b, dim=1).backward(gout)
            a.grad = None
            b.grad = None
        return step
    return setup


CASES = {
    "cosine_c1024_16x16_b8_fwd": _cosine(False),
    "cosine_c1024_16x16_b8_fwdbwd": _cosine(True),
}
