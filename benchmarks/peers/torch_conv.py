"""PyTorch side of the convolution cases (benchmarks/bench_ops_conv.cpp has the packd side)."""
import torch
import torch.nn.functional as F


def _case(n, cin, cout, h, w, k, stride, pad, transposed, backward):
    def setup():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, cin, h, w, generator=g)
        wt = torch.randn((cin, cout, k, k) if transposed else (cout, cin, k, k), generator=g) * 0.05
        x.requires_grad_(backward)
        wt.requires_grad_(backward)
        op = F.conv_transpose2d if transposed else F.conv2d
        if not backward:
            return lambda: op(x, wt, stride=stride, padding=pad)
        gout = None

        def step():
            nonlocal gout
            y = op(x, wt, stride=stride, padding=pad)
            if gout is None:
                gout = torch.full_like(y, 0.01)
            y.backward(gout)
            x.grad = None
            wt.grad = None
        return step
    return setup


CASES = {
    "conv3x3_256c_64x64_b8_fwd": _case(8, 256, 256, 64, 64, 3, 1, 1, False, False),
    "conv3x3_256c_64x64_b8_fwdbwd": _case(8, 256, 256, 64, 64, 3, 1, 1, False, True),
    "conv1x1_1024to256_16x16_b8_fwdbwd": _case(8, 1024, 256, 16, 16, 1, 1, 0, False, True),
    "convT_k2s2_512to256_32x32_b8_fwdbwd": _case(8, 512, 256, 32, 32, 2, 2, 0, True, True),
}
