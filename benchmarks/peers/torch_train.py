"""PyTorch side of the training-step cases (benchmarks/bench_train.cpp has the packd side).

    packd_train_wrn50_256_b8_k2   one PACKD step, default switches (integrate=all, L = 20, proj heads,
                                  per-view prototypes, hard guide, CDS with every other-category query
                                  as negative): 8 queries of 4 categories (2 each), k = 2 shots per
                                  query rotated into 8 views; torchvision's wide_resnet50_2 teacher
                                  (eval, no grad) on the queries and the 64 views; the reference student
                                  (tests/reference/packd_reference.py); loss; backward; Adam step
    rd_train_wrn50_256_b8         one RD step: teacher (no grad) on 8 images, RD4AD's OCBE and decoder
                                  (tests/reference/make_model_fixtures.py), rd_loss, backward, Adam step

Random weights and inputs, Adam(lr 5e-4, betas (0.5, 0.999)), zero_grad(set_to_none=True) (packd's
zero_grad drops the gradients too).

Same work as packd: the reference's packd_loss computes the CDS term in its "gram" form at every
stage, plus the norms only corr_dot=cosine needs; packd picks the cheaper association per stage
(packd-method.md 5): Z = (S S^T) Q when C < HW (stages 1, 2), S (S^T Q) otherwise (stage 3), then
every <Z, G_j> in one GEMM. nce_same_work below does exactly that, so both sides run the same
products (`python3 torch_train.py` checks it against the reference's nce_loss on small inputs).
The KD and orthogonality terms and the whole forward are the reference's.
"""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))

BATCH, SHOTS, SIZE = 8, 2, 256
LABELS = (0, 0, 1, 1, 2, 2, 3, 3)  # 4 categories, 2 queries each


def _adam(params):
    return torch.optim.Adam(params, lr=5e-4, betas=(0.5, 0.999))


def nce_same_work(ts, tq, g, labels, V, cfg):
    """The reference's nce_loss (corr_dot=frobenius) in packd's association: ts (B V, C, H, W),
    tq and g (B, C, H, W) -> (B, V) L_NCE(b, v)."""
    from packd_reference import negative_mask, normalize
    assert cfg.corr_dot == "frobenius" and cfg.nce_positive_in_denominator == "off"
    B, C, H, W = tq.shape
    N = H * W
    S = normalize(ts.reshape(B * V, C, N), 1)                          # (B V, C, N)
    Q = normalize(tq.reshape(B, C, N), 1)                              # (B, C, N)
    G = normalize(g.reshape(B, C, N), 1)                               # (B, C, N)
    Qv = Q.unsqueeze(1).expand(B, V, C, N).reshape(B * V, C, N)        # q_b per view
    St = S.transpose(1, 2)
    Z = torch.bmm(torch.bmm(S, St), Qv) if C < N else torch.bmm(S, torch.bmm(St, Qv))  # (B V, C, N)
    dots = Z.reshape(B * V, C * N) @ G.reshape(B, C * N).t()           # (B V, B): <R^TT, R^TS_j>_F
    r = (dots / N ** 2 / cfg.tau).reshape(B, V, B)
    b = torch.arange(B)
    pos = r[b, :, b]                                                   # (B, V)
    keep = negative_mask(labels, cfg.negatives)
    return -pos + torch.logsumexp(r.masked_fill(~keep.unsqueeze(1), float("-inf")), dim=2)


def packd_step_loss(model, teacher, query, support, labels):
    """Eq. 7 with the reference's forward, KD and orthogonality terms, CDS as nce_same_work."""
    from packd_reference import kd_loss, orth_loss, packd_forward
    cfg, V = model.cfg, support.shape[1]
    tq, ts, S, P = packd_forward(model, teacher, query, support)
    total = 0
    for i in (1, 2, 3):
        kd = kd_loss(tq[i - 1], S[i - 1]).mean()
        nce = nce_same_work(ts[i - 1], tq[i - 1], model.project(i, S[i - 1]), labels, V, cfg).mean()
        orth = orth_loss(P[i], cfg.L, cfg) if i in P else 0
        total = total + kd + cfg.lambda1 * nce + cfg.lambda2 * orth
    return total


def _packd_train_setup():
    from packd_reference import PACKD, PACKDConfig, rotate_views
    from torchvision.models.resnet import Bottleneck
    torch.manual_seed(0)
    teacher = torchvision.models.wide_resnet50_2().eval()
    teacher.requires_grad_(False)
    # RD4AD's wide_resnet50_2 student: OCBE 3 blocks, decoder [3, 4, 6], width_per_group 128.
    model = PACKD(Bottleneck, 3, [3, 4, 6], 128, 64, PACKDConfig()).train()
    opt = _adam(model.parameters())
    gen = torch.Generator().manual_seed(1)
    query = torch.randn(BATCH, 3, SIZE, SIZE, generator=gen)
    shots = torch.randn(BATCH, SHOTS, 3, SIZE, SIZE, generator=gen)
    labels = torch.tensor(LABELS)

    def step():
        support = rotate_views(shots)  # (B, 4k, 3, S, S)
        loss = packd_step_loss(model, teacher, query, support, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    step()  # the first of two warm-up steps (torch_bench.py runs the second), as bench_train.cpp
    return step


def _rd_train_setup():
    from make_model_fixtures import full_wrn, rd_loss, teacher_features
    torch.manual_seed(0)
    teacher, ocbe, decoder = full_wrn()
    teacher.eval().requires_grad_(False)
    ocbe.train()
    decoder.train()
    opt = _adam(list(ocbe.parameters()) + list(decoder.parameters()))
    x = torch.randn(BATCH, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))

    def step():
        with torch.no_grad():
            t = teacher_features(teacher, x)
        loss = rd_loss(t, decoder(ocbe(t)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    step()  # the first of two warm-up steps (torch_bench.py runs the second), as bench_train.cpp
    return step


CASES = {
    "packd_train_wrn50_256_b8_k2": _packd_train_setup,
    "rd_train_wrn50_256_b8": _rd_train_setup,
}


def _check_nce():
    """nce_same_work == the reference's nce_loss (both forms), at a C < N and a C > N stage, in
    float64, value and gradient."""
    from packd_reference import PACKDConfig, nce_loss
    gen = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 0, 1, 2])
    B, V = 4, 3
    for C, H in ((6, 4), (40, 3)):
        ts = torch.randn(B * V, C, H, H, generator=gen, dtype=torch.float64)
        tq = torch.randn(B, C, H, H, generator=gen, dtype=torch.float64)
        g = torch.randn(B, C, H, H, generator=gen, dtype=torch.float64, requires_grad=True)
        ours = nce_same_work(ts, tq, g, labels, V, PACKDConfig())
        (gours,) = torch.autograd.grad(ours.sum(), g)
        for form in ("gram", "direct"):
            ref = nce_loss(ts, tq, g, labels, V, PACKDConfig(cds_form=form))
            (gref,) = torch.autograd.grad(ref.sum(), g)
            assert torch.allclose(ours, ref, rtol=1e-10, atol=1e-10), (C, H, form, ours, ref)
            assert torch.allclose(gours, gref, rtol=1e-9, atol=1e-10), (C, H, form)
    print("nce_same_work matches packd_reference.nce_loss (gram and direct forms)")


if __name__ == "__main__":
    _check_nce()
