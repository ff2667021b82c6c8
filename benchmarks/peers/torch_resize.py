"""PyTorch side of the anomaly-map post-processing case (benchmarks/bench_ops_resize.cpp has the packd
side): bilinear upsampling (align_corners=True) of (8, 1, 64, 64) to 256 x 256, then a sigma-4 Gaussian
blur as anomalib's GaussianBlur2d (kornia) does it: F.pad(mode='reflect') and two 1-D conv2d passes with
a 33-tap normalised kernel.
"""
import torch
import torch.nn.functional as F


def _upsample_blur():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 64, 64, generator=g)
    sigma, r = 4.0, 16
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    kv, kh = k.view(1, 1, -1, 1), k.view(1, 1, 1, -1)

    def step():
        up = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=True)
        y = F.pad(up, (r, r, r, r), mode="reflect")
        return F.conv2d(F.conv2d(y, kv), kh)
    return step


CASES = {
    "upsample_blur_64to256_fwd": _upsample_blur,
}
