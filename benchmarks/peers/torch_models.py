"""PyTorch side of the whole-model cases (benchmarks/bench_models.cpp has the packd side).

The teacher is torchvision's wide_resnet50_2 run to layer3; the RD student is the reference
implementation the parity tests use (tests/reference/make_model_fixtures.py, RD4AD's OCBE and
decoder); the anomaly map is RD4AD's test.py: per stage 1 - cosine, bilinear align_corners
upsample, sum in float64 numpy, scipy gaussian_filter(sigma=4). Random weights, eval mode, no grad.
"""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))


def _teacher_case(n):
    def setup():
        from make_model_fixtures import teacher_features
        m = torchvision.models.wide_resnet50_2().eval()
        x = torch.randn(n, 3, 256, 256, generator=torch.Generator().manual_seed(1))

        def step():
            with torch.no_grad():
                teacher_features(m, x)
        return step
    return setup


def _rd_infer_setup():
    from make_model_fixtures import anomaly_map, full_wrn, teacher_features
    teacher, ocbe, decoder = full_wrn()
    for m in (teacher, ocbe, decoder):
        m.eval()
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))

    def step():
        with torch.no_grad():
            t = teacher_features(teacher, x)
            s = decoder(ocbe(t))
            anomaly_map(t, s, 256)
    return step


CASES = {
    "teacher_wrn50_256_b1": _teacher_case(1),
    "teacher_wrn50_256_b8": _teacher_case(8),
    "rd_infer_wrn50_256_b1": _rd_infer_setup,
}
