#!/usr/bin/python3
"""PyTorch 1.13 reference implementation of PACKD, every switch included: the model and loss
contract shared with packd's C++ implementation (packd-method.md D1-D17, the paper's section 4).

    from packd_reference import PACKD, PACKDConfig, packd_loss, packd_loss_loops

The student reuses RD4AD's OCBE and decoder classes of make_model_fixtures.py; the decoder is
extended here (PACKDDecoder) with the widened first blocks of decoder.layer2 / decoder.layer3 and
the refine block, under the contract's names:
    bn.*                                   RD's OCBE, unchanged
    decoder.layer{1,2,3}.*                 RD's decoder; layer2.0 / layer3.0 take 2 C + 1 channels
                                           when integrate != none
    decoder.refine.*                       integrate=all only: a stride-1 decoder block on
                                           2 c1 + 1 channels with a conv1x1 + BN shortcut `upsample`
    proto.stage{i}.{weight,bias}           3x3 conv C_i -> L (proto_bn=off, the default)
    proto.stage{i}.0.{weight,bias}, .1.*   proto_bn=on: Sequential(0: the same 3x3 conv, 1: BN(L))
    proj.stage{i}.{0,1,3}.*                g_i = Sequential(conv1x1 no bias, BN, ReLU, conv1x1 bias);
                                           proj=none: identity, no keys
Prototype stages: integrate=all -> 1, 2, 3; integrate=decoder -> 2, 3 only (stage-1 prototypes
would feed nothing, so proto.stage1 is not built and orth1 = 0); integrate=none -> none (proto
holds no keys, every orth term is 0, CDS still applies unless lambda1 = 0: with lambda1 = 0 the
total equals make_model_fixtures.rd_loss, which make_packd_fixtures.py asserts).

packd_loss returns the total and every unweighted term:
    total = sum_i (kd_i + lambda1 * nce_i + lambda2 * orth_i)
    kd_i  = mean_b KD_i(b);  nce_i = mean_b mean_v L_NCE_i(b, v);  orth_i = L_orth at stage i.
CDS has two forms, equal up to rounding: "direct" builds the H_iW_i x H_iW_i correspondences,
"gram" the C_i x C_i Gram products (packd-method.md 5); cfg.cds_form picks one.
packd_loss_loops is the same contract transcribed loop by loop (slow; a check of packd_loss).
guide=soft uses the same tau as CDS (D6: "temperature tau"). Switch names and values are those of
packd's PackdConfig, except L (PackdConfig: prototypes) and negatives ("all" here, 0 there).
The prototype conv's bias (and proto_bn's BN bias) has an exactly zero gradient: the softmax over
positions ignores a constant per map. Kept because D2 says "with bias".
"""
import dataclasses
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import conv1x1

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from make_model_fixtures import (DE_BLOCK, OCBE, Decoder, DeBasicBlock,  # noqa: E402
                                 DeBottleneck, resnet_init, teacher_features)

EPS = 1e-8  # D17: x / max(|x|, 1e-8) in PEIM, CDS and L_orth; torch's cosine_similarity eps for KD


@dataclasses.dataclass(frozen=True)
class PACKDConfig:
    # structure (fixed when the model is built)
    integrate: str = "all"          # all | decoder | none                        (D1)
    proto_bn: str = "off"           # off | on                                    (D2)
    proj: str = "head"              # head | none                                 (D7)
    L: int = 20                     # prototypes per support view
    # forward and loss
    proto_pool: str = "per_view"    # per_view | joint                            (D3)
    orth: str = "frobenius"         # frobenius | offdiag_abs                     (D4)
    prob_map: str = "mean"          # mean | sum                                  (D5)
    guide: str = "hard"             # hard | soft                                 (D6)
    corr_dot: str = "frobenius"     # frobenius (<A, B>_F / N^2) | cosine         (D8)
    negatives: object = "all"       # "all" | N (int >= 1: the first N in batch order)  (D9)
    nce_positive_in_denominator: str = "off"  # off | on                        (D16)
    lambda1: float = 0.5
    lambda2: float = 0.5
    tau: float = 0.05
    cds_form: str = "gram"          # direct | gram: the same value, two ways (not a model switch)

    def __post_init__(self):
        allowed = dict(integrate=("all", "decoder", "none"), proto_bn=("off", "on"),
                       proj=("head", "none"), proto_pool=("per_view", "joint"),
                       orth=("frobenius", "offdiag_abs"), prob_map=("mean", "sum"),
                       guide=("hard", "soft"), corr_dot=("frobenius", "cosine"),
                       nce_positive_in_denominator=("off", "on"), cds_form=("direct", "gram"))
        for k, vals in allowed.items():
            if getattr(self, k) not in vals:
                raise ValueError(f"PACKDConfig.{k} = {getattr(self, k)!r}, expected one of {vals}")
        if not (self.negatives == "all" or (isinstance(self.negatives, int) and self.negatives >= 1)):
            raise ValueError(f"PACKDConfig.negatives = {self.negatives!r}, expected 'all' or N >= 1")
        if self.L < 1 or self.tau <= 0:
            raise ValueError(f"PACKDConfig: L = {self.L}, tau = {self.tau}")

    @property
    def proto_stages(self):
        return {"all": (1, 2, 3), "decoder": (2, 3), "none": ()}[self.integrate]


STRUCTURE = ("integrate", "proto_bn", "proj", "L")


def normalize(x, dim):
    """D17: x / max(|x|, 1e-8) (F.normalize is exactly this)."""
    return F.normalize(x, p=2.0, dim=dim, eps=EPS)


# ---------------------------------------------------------------- student

class PACKDDecoder(Decoder):
    """RD's decoder with the first blocks of layer2 / layer3 widened to 2 C + 1 input channels
    (integrate != none) and, for integrate=all, `refine`: a stride-1 decoder block 2 c1 + 1 -> c1.
    RD4AD's init (kaiming normal fan_out on Conv2d, BN 1/0) covers the new blocks too."""

    def __init__(self, block, layers, width_per_group=64, base=64, integrate="all"):
        self._widen, self._made = integrate != "none", 0  # read by _make_layer during super().__init__
        super().__init__(block, layers, width_per_group, base)
        if integrate == "all":
            c1 = self.inplanes  # decoder.layer3's output = teacher layer1's channels
            cin = 2 * c1 + 1
            shortcut = nn.Sequential(conv1x1(cin, c1), nn.BatchNorm2d(c1))
            if block is DeBottleneck:  # planes c1/4, width planes * wpg / 64
                self.refine = DeBottleneck(cin, c1 // 4, 1, shortcut, width_per_group)
            else:
                self.refine = DeBasicBlock(cin, c1, 1, shortcut, width_per_group)
            resnet_init(self.refine)

    def _make_layer(self, block, planes, blocks):
        if self._widen and self._made > 0:  # layer2 / layer3 see cat[s, G, P]
            self.inplanes = 2 * self.inplanes + 1
        self._made += 1
        return super()._make_layer(block, planes, blocks)


class PACKD(nn.Module):
    """Student of PACKD (OCBE, decoder with integration, prototype convs, projection heads).
    `channels` = teacher layer1..3 channels (c1, c2, c3)."""

    def __init__(self, block, ocbe_blocks, decoder_layers, width_per_group=64, base=64,
                 cfg=PACKDConfig()):
        super().__init__()
        self.cfg = cfg
        self.sims = None  # a list: integrate() appends each stage's similarities (B, M, HW)
        e = block.expansion
        self.channels = (base * e, 2 * base * e, 4 * base * e)
        self.bn = OCBE(block, ocbe_blocks, width_per_group, base)
        self.decoder = PACKDDecoder(DE_BLOCK[block], decoder_layers, width_per_group, base,
                                    cfg.integrate)
        self.proto = nn.ModuleDict()
        for i in cfg.proto_stages:
            c = self.channels[i - 1]
            if cfg.proto_bn == "on":
                self.proto[f"stage{i}"] = nn.Sequential(
                    nn.Conv2d(c, cfg.L, 3, padding=1, bias=True), nn.BatchNorm2d(cfg.L))
            else:
                self.proto[f"stage{i}"] = nn.Conv2d(c, cfg.L, 3, padding=1, bias=True)
        self.proj = nn.ModuleDict()
        if cfg.proj == "head":
            for i, c in enumerate(self.channels, 1):
                self.proj[f"stage{i}"] = nn.Sequential(
                    nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                    nn.Conv2d(c, c, 1, bias=True))

    # -- PEIM
    def prototypes(self, i, ts, B, cfg):
        """ts (B*V, C, H, W) teacher support features of stage i -> P (B, M, C): per_view
        M = V*L, view-major (index v*L + l); joint M = L."""
        BV, C, H, W = ts.shape
        V, L = BV // B, cfg.L
        logits = self.proto[f"stage{i}"](ts).flatten(2)          # (B*V, L, HW)
        feats = ts.flatten(2)                                     # (B*V, C, HW)
        if cfg.proto_pool == "per_view":
            A = torch.softmax(logits, dim=-1)                     # over the HW positions
            return torch.bmm(A, feats.transpose(1, 2)).reshape(B, V * L, C)
        # joint: one softmax per (query, l) over all V*HW positions, positions view-major
        logits = logits.reshape(B, V, L, H * W).permute(0, 2, 1, 3).reshape(B, L, V * H * W)
        feats = feats.reshape(B, V, C, H * W).permute(0, 2, 1, 3).reshape(B, C, V * H * W)
        return torch.bmm(torch.softmax(logits, dim=-1), feats.transpose(1, 2))  # (B, L, C)

    def integrate(self, s, P, cfg):
        """s (B, C, H, W) student feature, P (B, M, C) -> cat[s, G, F_P] (B, 2C + 1, H, W)."""
        B, C, H, W = s.shape
        sim = torch.bmm(normalize(P, 2), normalize(s.flatten(2), 1))   # (B, M, HW)
        if self.sims is not None:  # for the fixtures' argmax-margin check
            self.sims.append(sim.detach())
        if cfg.guide == "hard":
            idx = sim.argmax(dim=1)                                     # (B, HW): first max
            G = torch.gather(P, 1, idx.unsqueeze(-1).expand(B, H * W, C)).transpose(1, 2)
        else:
            G = torch.bmm(P.transpose(1, 2), torch.softmax(sim / cfg.tau, dim=1))
        FP = sim.mean(1, keepdim=True) if cfg.prob_map == "mean" else sim.sum(1, keepdim=True)
        return torch.cat([s, G.reshape(B, C, H, W), FP.reshape(B, 1, H, W)], 1)

    def forward(self, tq, ts, cfg=None):
        """tq: teacher query features [(B, C_i, H_i, W_i)], ts: teacher support features
        [(B*V, C_i, H_i, W_i)] -> [S_1, S_2, S_3], {i: P_i (B, M, C_i)}. cfg: the forward-time
        switches (default: the model's)."""
        cfg = cfg or self.cfg
        B = tq[0].shape[0]
        P = {i: self.prototypes(i, ts[i - 1], B, cfg) for i in self.cfg.proto_stages}
        d = self.decoder
        s3 = d.layer1(self.bn(tq))
        s2 = d.layer2(self.integrate(s3, P[3], cfg) if 3 in P else s3)
        s1 = d.layer3(self.integrate(s2, P[2], cfg) if 2 in P else s2)
        if 1 in P:
            s1 = d.refine(self.integrate(s1, P[1], cfg))
        return [s1, s2, s3], P

    def project(self, i, s):
        return self.proj[f"stage{i}"](s) if self.cfg.proj == "head" else s


# ---------------------------------------------------------------- losses

def orth_loss(P, L, cfg):
    """P (B, M, C) raw prototypes -> L_orth over the sets of L prototypes (per view or per query)."""
    Pn = normalize(P.reshape(-1, L, P.shape[-1]), 2)             # (sets, L, C)
    gram = torch.bmm(Pn, Pn.transpose(1, 2))                      # (sets, L, L)
    eye = torch.eye(L, dtype=P.dtype)
    if cfg.orth == "frobenius":
        return ((gram - eye) ** 2).sum((1, 2)).mean() / L ** 2
    if L == 1:
        return P.new_zeros(())
    return ((gram.abs() * (1 - eye)).sum((1, 2)) / (L * (L - 1))).mean()


def negative_mask(labels, negatives):
    """(B, B) bool: j is a negative of b (other category; the first N in batch order)."""
    mask = labels.unsqueeze(1) != labels.unsqueeze(0)
    if (~mask.any(1)).any():
        bad = torch.nonzero(~mask.any(1)).flatten().tolist()
        raise ValueError(f"CDS: queries {bad} have no negative in the batch (labels "
                         f"{labels.tolist()}): a batch needs >= 2 categories")
    if negatives != "all":
        mask = mask & (torch.cumsum(mask.long(), 1) <= negatives)
    return mask


def cds_products(Sn, Qn, Gn, form):
    """Column-normalised Sn (B, V, C, N), Qn (B, C, N), Gn (B, C, N) ->
    dot (B, V, B) = <Sv^T Q_b, Sv^T G_j>_F (Sv = view v of query b's support),
    nTT (B, V) = |Sv^T Q_b|_F, nTS (B, V, B) = |Sv^T G_j|_F."""
    if form == "direct":
        RTT = torch.einsum("bvcn,bcm->bvnm", Sn, Qn)              # (B, V, N, N)
        RTS = torch.einsum("bvcn,jcm->bvjnm", Sn, Gn)             # (B, V, B, N, N)
        dot = torch.einsum("bvnm,bvjnm->bvj", RTT, RTS)
        return dot, RTT.flatten(2).norm(dim=2), RTS.flatten(3).norm(dim=3)
    SS = torch.einsum("bvcn,bvdn->bvcd", Sn, Sn)                  # (B, V, C, C)
    QG = torch.einsum("bcn,jdn->bjcd", Qn, Gn)                    # (B, B, C, C)
    dot = torch.einsum("bvcd,bjcd->bvj", SS, QG)
    QQ = torch.einsum("bcn,bdn->bcd", Qn, Qn)
    GG = torch.einsum("jcn,jdn->jcd", Gn, Gn)
    nTT = torch.einsum("bvcd,bcd->bv", SS, QQ).clamp_min(0).sqrt()
    nTS = torch.einsum("bvcd,jcd->bvj", SS, GG).clamp_min(0).sqrt()
    return dot, nTT, nTS


def nce_loss(ts, tq, g, labels, V, cfg):
    """Stage-i CDS: ts (B*V, C, H, W), tq (B, C, H, W), g = g_i(S_i) (B, C, H, W) ->
    (B, V) L_NCE(b, v)."""
    B, C, H, W = tq.shape
    N = H * W
    Sn = normalize(ts.reshape(B, V, C, N), 2)
    Qn, Gn = normalize(tq.flatten(2), 1), normalize(g.flatten(2), 1)
    dot, nTT, nTS = cds_products(Sn, Qn, Gn, cfg.cds_form)
    if cfg.corr_dot == "frobenius":
        r = dot / N ** 2
    else:  # cosine of the flattened correspondences, D17 normalisation of each
        r = dot / (nTT.clamp_min(EPS).unsqueeze(2) * nTS.clamp_min(EPS))
    r = r / cfg.tau                                               # (B, V, B)
    b = torch.arange(B)
    pos = r[b, :, b]                                              # (B, V): r[b, v, b]
    keep = negative_mask(labels, cfg.negatives)
    if cfg.nce_positive_in_denominator == "on":
        keep = keep | torch.eye(B, dtype=torch.bool)
    logits = r.masked_fill(~keep.unsqueeze(1), float("-inf"))
    return -pos + torch.logsumexp(logits, dim=2)


def kd_loss(t, s):
    """(B,) 1 - cos of the flattened maps (RD's form, cosine_similarity eps 1e-8)."""
    B = t.shape[0]
    return 1 - F.cosine_similarity(t.reshape(B, -1), s.reshape(B, -1), dim=1, eps=EPS)


def packd_forward(model, teacher, query, support, cfg=None):
    """Teacher (frozen, no grad) on the query (B, 3, H, W) and the flattened support views
    (B, V, 3, H, W), then the student. Returns tq, ts, S, P."""
    B, V = support.shape[:2]
    with torch.no_grad():
        tq = teacher_features(teacher, query)
        ts = teacher_features(teacher, support.reshape(B * V, *support.shape[2:]))
    S, P = model(tq, ts, cfg)
    return tq, ts, S, P


def packd_loss(model, teacher, query, support, labels, cfg=None):
    """Eq. (7) with the contract's defaults and switches. Returns a dict: total, kd{i}, nce{i},
    orth{i} (0-d tensors; unweighted terms) and s (list S_1..S_3), proto ({i: P_i}), tq, ts."""
    cfg = cfg or model.cfg
    for k in STRUCTURE:
        if getattr(cfg, k) != getattr(model.cfg, k):
            raise ValueError(f"packd_loss: cfg.{k} = {getattr(cfg, k)!r} but the model was built "
                             f"with {getattr(model.cfg, k)!r}")
    B, V = support.shape[:2]
    if labels.shape != (B,) or query.shape[0] != B:
        raise ValueError(f"packd_loss: query {tuple(query.shape)}, support "
                         f"{tuple(support.shape)}, labels {tuple(labels.shape)}")
    negative_mask(labels, cfg.negatives)  # fails before any work without negatives
    tq, ts, S, P = packd_forward(model, teacher, query, support, cfg)
    out = {"s": S, "proto": P, "tq": tq, "ts": ts}
    total = 0
    for i in (1, 2, 3):
        kd = kd_loss(tq[i - 1], S[i - 1]).mean()
        nce = nce_loss(ts[i - 1], tq[i - 1], model.project(i, S[i - 1]), labels, V, cfg).mean()
        orth = orth_loss(P[i], cfg.L, cfg) if i in P else tq[0].new_zeros(())
        out.update({f"kd{i}": kd, f"nce{i}": nce, f"orth{i}": orth})
        total = total + kd + cfg.lambda1 * nce + cfg.lambda2 * orth
    out["total"] = total
    return out


def rotate_views(support_raw):
    """D12 aug=rot90: (B, k, 3, H, W) -> (B, 4k, 3, H, W), view 4n + r = support n rotated
    r * 90 degrees counter-clockwise."""
    views = [torch.rot90(support_raw, r, dims=(-2, -1)) for r in range(4)]
    return torch.stack(views, 2).flatten(1, 2)


# ---------------------------------------------------------------- literal transcription

def packd_loss_loops(model, teacher, query, support, labels, cfg=None):
    """The contract transcribed loop by loop (per query, view, prototype, location): slow, for
    checking packd_loss on small inputs. Returns the same terms (no features)."""
    cfg = cfg or model.cfg
    B, V = support.shape[:2]
    L = cfg.L

    def unit(x):
        return x / x.norm().clamp_min(EPS)

    with torch.no_grad():
        tq = teacher_features(teacher, query)
        ts = teacher_features(teacher, support.reshape(B * V, *support.shape[2:]))
    P = {}
    for i in cfg.proto_stages:
        logits, f = model.proto[f"stage{i}"](ts[i - 1]), ts[i - 1]   # (B*V, L, H, W), (B*V, C, H, W)
        sets = []
        for b in range(B):
            rows = []
            if cfg.proto_pool == "per_view":
                for v in range(V):
                    for l in range(L):
                        a = torch.softmax(logits[b * V + v, l].flatten(), 0)
                        rows.append((f[b * V + v].flatten(1) * a).sum(1))
            else:
                for l in range(L):
                    a = torch.softmax(torch.cat([logits[b * V + v, l].flatten() for v in range(V)]), 0)
                    fv = torch.cat([f[b * V + v].flatten(1) for v in range(V)], 1)
                    rows.append((fv * a).sum(1))
            sets.append(torch.stack(rows))
        P[i] = torch.stack(sets)                                     # (B, M, C)

    def integrate(s, Pi):
        C, H, W = s.shape[1:]
        out = []
        for b in range(B):
            G, FP = [], []
            for p in range(H * W):
                x = unit(s[b, :, p // W, p % W])
                sims = torch.stack([unit(Pi[b, m]) @ x for m in range(Pi.shape[1])])
                if cfg.guide == "hard":
                    G.append(Pi[b, int(torch.argmax(sims))])
                else:
                    G.append((Pi[b] * torch.softmax(sims / cfg.tau, 0)[:, None]).sum(0))
                FP.append(sims.mean() if cfg.prob_map == "mean" else sims.sum())
            out.append(torch.cat([s[b], torch.stack(G, 1).reshape(C, H, W),
                                  torch.stack(FP).reshape(1, H, W)]))
        return torch.stack(out)

    d = model.decoder
    s3 = d.layer1(model.bn(tq))
    s2 = d.layer2(integrate(s3, P[3]) if 3 in P else s3)
    s1 = d.layer3(integrate(s2, P[2]) if 2 in P else s2)
    if 1 in P:
        s1 = d.refine(integrate(s1, P[1]))
    S = [s1, s2, s3]
    out, total = {}, 0
    for i in (1, 2, 3):
        kd = sum(1 - F.cosine_similarity(tq[i - 1][b].flatten(), S[i - 1][b].flatten(), dim=0,
                                         eps=EPS) for b in range(B)) / B
        g = model.project(i, S[i - 1])
        C, N = g.shape[1], g.shape[2] * g.shape[3]

        def cols(x):  # (C, H, W) -> (C, N), unit columns
            return torch.stack([unit(c) for c in x.reshape(C, N).T], 1)
        nce = 0
        for b in range(B):
            Q = cols(tq[i - 1][b])
            negs = [j for j in range(B) if labels[j] != labels[b]]
            negs = negs if cfg.negatives == "all" else negs[:cfg.negatives]
            for v in range(V):
                Sv = cols(ts[i - 1][b * V + v])
                RTT = Sv.T @ Q                                        # (N, N)

                def corr(j):
                    RTS = Sv.T @ cols(g[j])
                    if cfg.corr_dot == "frobenius":
                        return (RTT * RTS).sum() / N ** 2
                    return (RTT * RTS).sum() / (RTT.norm().clamp_min(EPS) * RTS.norm().clamp_min(EPS))
                pos = corr(b) / cfg.tau
                terms = [corr(j) / cfg.tau for j in negs]
                if cfg.nce_positive_in_denominator == "on":
                    terms.append(pos)
                nce = nce + (-pos + torch.logsumexp(torch.stack(terms), 0)) / (B * V)
        orth = tq[0].new_zeros(())
        if i in P:
            sets = P[i].reshape(-1, L, P[i].shape[-1])
            for st in sets:
                Pn = torch.stack([unit(p) for p in st])
                gram = Pn @ Pn.T
                if cfg.orth == "frobenius":
                    orth = orth + ((gram - torch.eye(L, dtype=gram.dtype)) ** 2).sum() / L ** 2
                elif L > 1:
                    orth = orth + (gram.abs().sum() - gram.diagonal().abs().sum()) / (L * (L - 1))
            orth = orth / len(sets)
        out.update({f"kd{i}": kd, f"nce{i}": nce, f"orth{i}": orth})
        total = total + kd + cfg.lambda1 * nce + cfg.lambda2 * orth
    out["total"] = total
    return out
