"""PyTorch side of the batch-norm and pooling cases (benchmarks/bench_ops_norm.cpp has the packd side)."""
import torch
import torch.nn.functional as F


def _bn(training, backward):
    def setup():
        g = torch.Generator().manual_seed(0)
        n, c, h, w = 8, 256, 64, 64
        x = torch.randn(n, c, h, w, generator=g)
        wt, b = torch.ones(c), torch.zeros(c)
        rm, rv = torch.zeros(c), torch.ones(c)
        gout = torch.full((n, c, h, w), 0.01)
        if not backward:
            return lambda: F.batch_norm(x, rm, rv, wt, b, training=training)
        for t in (x, wt, b):
            t.requires_grad_()

        def step():
            y = F.batch_norm(x, rm, rv, wt, b, training=training)
            y.backward(gout)
            x.grad = wt.grad = b.grad = None
        return step
    return setup


def _maxpool():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 64, 128, 128, generator=g).requires_grad_()
    gout = torch.full((8, 64, 64, 64), 0.01)

    def step():
        y = F.max_pool2d(x, 3, 2, 1)
        y.backward(gout)
        x.grad = None
    return step


CASES = {
    "bn_fwdbwd_256c_64x64_b8": _bn(True, True),
    "bn_fwd_eval_256c_64x64_b8": _bn(False, False),
    "maxpool_3x3s2p1_64c_128x128_b8_fwdbwd": _maxpool,
}
