"""PyTorch side of the GPU suite (benchmarks/bench_gpu.cpp has the packd side), on cuda:0, eager mode,
cuDNN with benchmark=True (PyTorch at its best for fixed shapes), TF32 off as in packd's default.
Each step ends with torch.cuda.synchronize(), as packd's ends with cuda::synchronize.

    gpu_teacher_wrn50_256_b32_fwd      torchvision wide_resnet50_2 to layer3, batch 32, no grad
    gpu_packd_train_wrn50_256_b32_k2   torch_train.py's PACKD step at batch 32 (8 categories x 4)
    gpu_eval_wrn50_256_n128_k2         128 images in batches of 32 against 2 shots (8 views), the
                                       reference forward, RD4AD's anomaly map on the GPU in float64
                                       (1 - cosine, bilinear align_corners, sum, Gaussian sigma 4 with
                                       scipy's reflect padding), image and pixel AUROC by sorting
"""
import math
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))

SIZE, SHOTS = 256, 2


def _device():
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch.device("cuda:0")


def _synced(fn):
    def step():
        fn()
        torch.cuda.synchronize()
    return step


def _teacher_setup():
    from make_model_fixtures import teacher_features
    dev = _device()
    m = torchvision.models.wide_resnet50_2().eval().to(dev)
    x = torch.randn(32, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)).to(dev)

    def step():
        with torch.no_grad():
            teacher_features(m, x)
    return _synced(step)


def _packd_model(dev):
    from packd_reference import PACKD, PACKDConfig
    from torchvision.models.resnet import Bottleneck
    torch.manual_seed(0)
    teacher = torchvision.models.wide_resnet50_2().eval().to(dev)
    teacher.requires_grad_(False)
    model = PACKD(Bottleneck, 3, [3, 4, 6], 128, 64, PACKDConfig()).to(dev)
    return teacher, model


def _train_setup():
    from packd_reference import rotate_views
    from torch_train import _adam, packd_step_loss
    dev = _device()
    teacher, model = _packd_model(dev)
    model.train()
    opt = _adam(model.parameters())
    gen = torch.Generator().manual_seed(1)
    query = torch.randn(32, 3, SIZE, SIZE, generator=gen).to(dev)
    shots = torch.randn(32, SHOTS, 3, SIZE, SIZE, generator=gen).to(dev)
    labels = torch.arange(32, device=dev) // 4

    def step():
        support = rotate_views(shots)
        loss = packd_step_loss(model, teacher, query, support, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    step()
    return _synced(step)


def _gaussian_blur_scipy(x, sigma=4.0, truncate=4.0):
    """scipy.ndimage.gaussian_filter(mode='reflect') on (N, 1, H, W) float64: separable, edge repeated."""
    r = int(truncate * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = _reflect_pad(x, r, 3)
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1))
    x = _reflect_pad(x, r, 2)
    return torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1))


def _reflect_pad(x, r, dim):
    """scipy's 'reflect' (d c b a | a b c d | d c b a) along dim, for r <= the size."""
    n = x.shape[dim]
    left = x.narrow(dim, 0, r).flip(dim)
    right = x.narrow(dim, n - r, r).flip(dim)
    return torch.cat([left, x, right], dim)


def _auroc(scores, labels):
    """Area under the ROC curve by one sort, ties grouped (as sklearn's roc_auc_score)."""
    order = torch.argsort(scores, descending=True)
    s, y = scores[order], labels[order].double()
    tps, fps = torch.cumsum(y, 0), torch.cumsum(1 - y, 0)
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]
    tpr = torch.cat([tps.new_zeros(1), tps[last] / tps[-1]])
    fpr = torch.cat([fps.new_zeros(1), fps[last] / fps[-1]])
    return torch.trapz(tpr, fpr).item()


def _eval_setup():
    from make_model_fixtures import teacher_features
    from packd_reference import rotate_views
    dev = _device()
    teacher, model = _packd_model(dev)
    model.eval()
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(128, 3, SIZE, SIZE, generator=gen).to(dev)
    shots = torch.randn(1, SHOTS, 3, SIZE, SIZE, generator=gen).to(dev)
    masks = torch.zeros(128, 1, SIZE, SIZE, dtype=torch.float64)
    masks[::2, :, 96:160, 96:160] = 1
    masks = masks.to(dev)

    def step():
        with torch.no_grad():
            maps = []
            shared = teacher_features(teacher, rotate_views(shots)[0])  # the 8 views, encoded once
            for b in range(0, 128, 32):
                q = images[b:b + 32]
                B = q.shape[0]
                tq = teacher_features(teacher, q)
                ts = [t.unsqueeze(0).expand(B, *t.shape).reshape(B * t.shape[0], *t.shape[1:]) for t in shared]
                S, _ = model(tq, ts, None)
                total = 0
                for t, s in zip(tq, S):
                    m = 1 - torch.nn.functional.cosine_similarity(t, s, dim=1, eps=1e-8).unsqueeze(1)
                    total = total + torch.nn.functional.interpolate(m, size=(SIZE, SIZE), mode="bilinear",
                                                                    align_corners=True).double()
                maps.append(_gaussian_blur_scipy(total))
            maps = torch.cat(maps)
            _auroc(maps.flatten(), masks.flatten())
            _auroc(maps.flatten(1).amax(1), masks.flatten(1).amax(1))
    return _synced(step)


CASES = {
    "gpu_teacher_wrn50_256_b32_fwd": _teacher_setup,
    "gpu_packd_train_wrn50_256_b32_k2": _train_setup,
    "gpu_eval_wrn50_256_n128_k2": _eval_setup,
}
