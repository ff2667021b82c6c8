#!/usr/bin/python3
"""PyTorch 1.13 reference weights and outputs for the RD4AD model parity tests.

    /usr/bin/python3 tests/reference/make_model_fixtures.py              # committed, small
    /usr/bin/python3 tests/reference/make_model_fixtures.py --full OUT   # full size, test time only

Teacher: torchvision's ResNet (its own Bottleneck/BasicBlock classes). Student: RD4AD's OCBE
(`BN_layer`) and reversed decoder (`de_*`), rebuilt here with the same module names, registration
order and initialisation (hq-deng/RD4AD resnet.py / de_resnet.py). RD4AD's AttnBottleneck and
AttnBasicBlock are torchvision's Bottleneck/BasicBlock with the attention commented out (same
submodules, same order), so the OCBE's bn_layer uses torchvision's classes.

`base` scales every channel count by base/64 (stem 64 -> base, planes 64..512 -> base..8*base and
RD's fixed widths alike), so small committed fixtures keep the real topology.

Weights: the RD4AD/torchvision init (kaiming normal fan_out on nn.Conv2d, PyTorch's default on
ConvTranspose2d and Linear), then every BatchNorm2d gets seeded per-channel weight, bias,
running_mean and running_var (spread_bn), so a loader that swaps BN tensors cannot pass.

For each configuration NAME the output folder gets:
  NAME_teacher.pth, NAME_teacher_legacy.pth   teacher state_dict (zip / legacy pickle format)
  NAME_rd.pth                                 {'bn': OCBE state_dict, 'decoder': decoder state_dict}
  NAME_io.safetensors                         input; eval-mode float32 features
      (teacher.layer1..3, student.bn, student.out1..3 with outK shaped like teacher.layerK, amap);
      one float64 training forward/backward (train_input, train.loss, grad.{bn,decoder}.<key>,
      after.{bn,decoder}.<key> = BN running_mean/running_var after that forward)
"""
import argparse
import os
import sys
import time

import numpy as np
import scipy.ndimage
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet, conv1x1, conv3x3

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import safetensors_io  # noqa: E402

SCRIPT = "tests/reference/make_model_fixtures.py"
COMMITTED_OUT = os.path.join(HERE, "fixtures", "models")


def resnet_init(module):
    """torchvision's and RD4AD's init loop. Matches nn.Conv2d only: ConvTranspose2d is not a
    subclass, so the decoder's deconvs keep PyTorch's default kaiming_uniform(a=sqrt(5))."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def spread_bn(module, gen):
    """Distinct per-channel BN affine parameters and running statistics (seeded), so that a
    C++ loader that swaps BN tensors or modules fails the parity test; conv weights keep their
    init."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))


def deconv2x2(cin, cout):
    return nn.ConvTranspose2d(cin, cout, kernel_size=2, stride=2, bias=False)


# ---------------------------------------------------------------- teacher (torchvision)

def make_teacher(block, layers, width_per_group=64, base=64, num_classes=1000):
    m = ResNet(block, layers, num_classes=num_classes, width_per_group=width_per_group)
    if base != 64:  # rebuild at base planes with torchvision's own _make_layer (keys keep order)
        m.inplanes, m.dilation = base, 1
        m.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
        m.bn1 = m._norm_layer(base)
        m.layer1 = m._make_layer(block, base, layers[0])
        m.layer2 = m._make_layer(block, 2 * base, layers[1], stride=2)
        m.layer3 = m._make_layer(block, 4 * base, layers[2], stride=2)
        m.layer4 = m._make_layer(block, 8 * base, layers[3], stride=2)
        m.fc = nn.Linear(8 * base * block.expansion, num_classes)
        resnet_init(m)
    return m


def teacher_features(m, x):
    """RD4AD's encoder forward: [layer1, layer2, layer3] (it also runs layer4, then drops it)."""
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    l1 = m.layer1(x)
    l2 = m.layer2(l1)
    return [l1, l2, m.layer3(l2)]


# ---------------------------------------------------------------- student (RD4AD)

class OCBE(nn.Module):
    """RD4AD's BN_layer: multi-scale fusion + one-class embedding (bn_layer). conv4/bn4 are built
    and initialised but unused, as in RD4AD (they are in its checkpoints)."""

    def __init__(self, block, blocks, width_per_group=64, base=64):
        super().__init__()
        e, c = block.expansion, (lambda ch: ch * base // 64)
        self.base_width = width_per_group
        # Registration order as RD4AD (bn_layer first): same state_dict order and init RNG order.
        self.bn_layer = self._make_layer(block, c(256) * e, c(512), blocks)
        self.conv1 = conv3x3(c(64) * e, c(128) * e, 2)
        self.bn1 = nn.BatchNorm2d(c(128) * e)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(c(128) * e, c(256) * e, 2)
        self.bn2 = nn.BatchNorm2d(c(256) * e)
        self.conv3 = conv3x3(c(128) * e, c(256) * e, 2)
        self.bn3 = nn.BatchNorm2d(c(256) * e)
        self.conv4 = conv1x1(c(1024) * e, c(512) * e, 1)
        self.bn4 = nn.BatchNorm2d(c(512) * e)
        resnet_init(self)

    def _make_layer(self, block, inplanes, planes, blocks):
        # The first block sees the 3-way concat (3 * inplanes channels) at stride 2.
        out = planes * block.expansion
        down = nn.Sequential(conv1x1(3 * inplanes, out, 2), nn.BatchNorm2d(out))
        layers = [block(3 * inplanes, planes, 2, down, 1, self.base_width, 1, nn.BatchNorm2d)]
        layers += [block(out, planes, groups=1, base_width=self.base_width, dilation=1,
                         norm_layer=nn.BatchNorm2d) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        l1 = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x[0]))))))
        l2 = self.relu(self.bn3(self.conv3(x[1])))
        return self.bn_layer(torch.cat([l1, l2, x[2]], 1)).contiguous()


class DeBottleneck(nn.Module):
    """RD4AD de_resnet Bottleneck: the stride-2 3x3 conv becomes a k2s2 ConvTranspose2d."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, upsample=None, base_width=64):
        super().__init__()
        w = int(planes * (base_width / 64.0))
        self.conv1 = conv1x1(inplanes, w)
        self.bn1 = nn.BatchNorm2d(w)
        self.conv2 = deconv2x2(w, w) if stride == 2 else conv3x3(w, w)
        self.bn2 = nn.BatchNorm2d(w)
        self.conv3 = conv1x1(w, planes * 4)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.upsample = upsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.upsample is None else self.upsample(x)
        return self.relu(out)


class DeBasicBlock(nn.Module):
    """RD4AD de_resnet BasicBlock: here conv1 (not conv2) is the k2s2 deconv at stride 2."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, upsample=None, base_width=64):
        super().__init__()
        assert base_width == 64, "BasicBlock only supports base_width=64 (as RD4AD)"
        self.conv1 = deconv2x2(inplanes, planes) if stride == 2 else conv3x3(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.upsample = upsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.upsample is None else self.upsample(x)
        return self.relu(out)


class Decoder(nn.Module):
    """RD4AD's reversed ResNet (layer1..3 only). Returns [layer3, layer2, layer1] outputs so index
    k lines up with the teacher's stage k."""

    def __init__(self, block, layers, width_per_group=64, base=64):
        super().__init__()
        self.base_width, self.inplanes = width_per_group, 8 * base * block.expansion
        self.layer1 = self._make_layer(block, 4 * base, layers[0])
        self.layer2 = self._make_layer(block, 2 * base, layers[1])
        self.layer3 = self._make_layer(block, base, layers[2])
        resnet_init(self)

    def _make_layer(self, block, planes, blocks):
        out = planes * block.expansion
        up = nn.Sequential(deconv2x2(self.inplanes, out), nn.BatchNorm2d(out))
        layers = [block(self.inplanes, planes, 2, up, self.base_width)]
        layers += [block(out, planes, base_width=self.base_width) for _ in range(1, blocks)]
        self.inplanes = out
        return nn.Sequential(*layers)

    def forward(self, x):
        a = self.layer1(x)
        b = self.layer2(a)
        return [self.layer3(b), b, a]


# ---------------------------------------------------------------- configurations

DE_BLOCK = {Bottleneck: DeBottleneck, BasicBlock: DeBasicBlock}


def small(block, wpg, base, t_layers, ocbe_blocks, d_layers):
    def build():
        teacher = make_teacher(block, t_layers, wpg, base=base, num_classes=10)
        return (teacher, OCBE(block, ocbe_blocks, wpg, base=base),
                Decoder(DE_BLOCK[block], d_layers, wpg, base=base))
    return build


def full_wrn():
    # RD4AD wide_resnet50_2: BN_layer(AttnBottleneck, 3, width_per_group=128), de_wide_resnet50_2
    return (torchvision.models.wide_resnet50_2(), OCBE(Bottleneck, 3, 128),
            Decoder(DeBottleneck, [3, 4, 6], 128))


def full_r18():
    # RD4AD resnet18: BN_layer(AttnBasicBlock, 2), de_resnet18 ([2, 2, 2, 2])
    return (torchvision.models.resnet18(), OCBE(BasicBlock, 2), Decoder(DeBasicBlock, [2, 2, 2]))


# Small configurations: base 2 (the smallest with integer channels at every scale) and trimmed
# block counts keep the committed folder near 2 MB, of which the contract's fixed inputs and
# amap (input f32 + train_input f64 at 2x3x64x64, amap f64) take 720 KB. Every kind of block
# still appears: projection and identity blocks in teacher layers 1-3 (layer4, never computed,
# keeps one block), OCBE with 1 (WRN) and 2 (r18) blocks, decoder layers with and without
# identity blocks.
COMMITTED = {
    "wrn_small": dict(build=small(Bottleneck, 128, 2, [2, 2, 2, 1], 1, [1, 2, 2]),
                      input=(2, 3, 64, 64),
                      desc="torchvision Bottleneck teacher [2,2,2,1] width_per_group 128 base 2 "
                           "fc 10; RD OCBE 1 block wpg 128 base 2; RD decoder [1,2,2] wpg 128 "
                           "base 2"),
    "r18_small": dict(build=small(BasicBlock, 64, 2, [2, 2, 2, 1], 2, [2, 2, 2]),
                      input=(2, 3, 64, 64),
                      desc="torchvision BasicBlock teacher [2,2,2,1] base 2 fc 10; RD OCBE "
                           "(BasicBlock) 2 blocks base 2; RD decoder (BasicBlock) [2,2,2] base 2"),
}
FULL = {
    "wide_resnet50_2": dict(build=full_wrn, input=(1, 3, 256, 256),
                            desc="torchvision wide_resnet50_2; RD4AD OCBE 3 blocks wpg 128; "
                                 "de_wide_resnet50_2 [3,4,6]"),
    "resnet18": dict(build=full_r18, input=(1, 3, 256, 256),
                     desc="torchvision resnet18; RD4AD OCBE (BasicBlock) 2 blocks; "
                          "de_resnet18 [2,2,2]"),
}
TRAIN_INPUT = (2, 3, 64, 64)


# ---------------------------------------------------------------- outputs

def anomaly_map(t_feats, s_feats, size):
    """RD4AD test.py cal_anomaly_map (amap_mode 'a') + gaussian_filter(sigma=4), per image."""
    n = t_feats[0].shape[0]
    amap = np.zeros((n, 1, size, size), dtype=np.float64)
    for t, s in zip(t_feats, s_feats):
        m = 1 - F.cosine_similarity(s, t)  # RD's argument order (fs, ft); dim 1, eps 1e-8
        m = F.interpolate(m.unsqueeze(1), size=size, mode="bilinear", align_corners=True)
        amap += m.numpy().astype(np.float64)  # float32 map accumulated in float64, as RD
    for i in range(n):
        amap[i, 0] = scipy.ndimage.gaussian_filter(amap[i, 0], sigma=4)
    return amap


def rd_loss(t_feats, s_feats):
    """RD4AD main.py loss_fucntion: per-sample cosine of flattened maps, mean over the batch,
    summed over the stages."""
    loss = 0
    for t, s in zip(t_feats, s_feats):
        n = t.shape[0]
        loss += torch.mean(1 - F.cosine_similarity(t.view(n, -1), s.view(n, -1), dim=1, eps=1e-8))
    return loss


def count(module, skip=()):
    return sum(p.numel() for k, p in module.named_parameters()
               if not any(k.startswith(s) for s in skip))


def make(name, cfg, out_dir, seed):
    t0 = time.time()
    torch.manual_seed(seed)
    teacher, ocbe, decoder = cfg["build"]()
    gen = torch.Generator().manual_seed(seed + 3)
    for m in (teacher, ocbe, decoder):
        spread_bn(m, gen)
    t_build = time.time() - t0

    n_teacher3 = count(teacher, ("layer4.", "fc."))
    n_ocbe_unused = count(ocbe) - count(ocbe, ("conv4.", "bn4."))
    print(f"{name}: teacher to layer3 {n_teacher3:,} (all {count(teacher):,}); "
          f"OCBE used {count(ocbe) - n_ocbe_unused:,} + unused {n_ocbe_unused:,}; "
          f"decoder {count(decoder):,}")

    prefix = os.path.join(out_dir, name)
    torch.save(teacher.state_dict(), prefix + "_teacher.pth")
    torch.save(teacher.state_dict(), prefix + "_teacher_legacy.pth",
               _use_new_zipfile_serialization=False)
    torch.save({"bn": ocbe.state_dict(), "decoder": decoder.state_dict()}, prefix + "_rd.pth")
    t_save = time.time() - t0 - t_build

    # Eval mode, float32.
    torch.manual_seed(seed + 1)
    x = torch.randn(cfg["input"])
    teacher.eval(), ocbe.eval(), decoder.eval()
    with torch.no_grad():
        t_feats = teacher_features(teacher, x)
        emb = ocbe(t_feats)
        s_feats = decoder(emb)
        amap = anomaly_map(t_feats, s_feats, x.shape[-1])
    for k in range(3):  # near-zero (not exactly zero) vectors would make the maps ill-conditioned
        tn, sn = t_feats[k].norm(dim=1), s_feats[k].norm(dim=1)
        tiny = min(tn[tn > 0].min(), sn[sn > 0].min())
        print(f"  stage {k + 1} {tuple(t_feats[k].shape)}: min nonzero norm {tiny:.3g}; "
              f"max |t| {tn.max():.3g}, |s| {sn.max():.3g}; "
              f"zero vectors t {int((tn == 0).sum())}, s {int((sn == 0).sum())}")
        assert tiny > 1e-3, (name, k, tiny)
    io = {"input": x, "student.bn": emb, "amap": amap}
    for k in range(3):
        assert s_feats[k].shape == t_feats[k].shape, (name, k, s_feats[k].shape, t_feats[k].shape)
        io[f"teacher.layer{k + 1}"], io[f"student.out{k + 1}"] = t_feats[k], s_feats[k]
    t_eval = time.time() - t0 - t_build - t_save

    # One training forward/backward in float64 (same weights): teacher frozen in eval mode.
    torch.manual_seed(seed + 2)
    xt = torch.randn(TRAIN_INPUT, dtype=torch.float64)
    teacher.double().eval(), ocbe.double().train(), decoder.double().train()
    with torch.no_grad():
        t_feats = teacher_features(teacher, xt)
    loss = rd_loss(t_feats, decoder(ocbe(t_feats)))
    loss.backward()
    io.update({"train_input": xt, "train.loss": loss.detach()})
    for part, mod in (("bn", ocbe), ("decoder", decoder)):
        for k, p in mod.named_parameters():
            if p.grad is None:
                assert part == "bn" and k.split(".")[0] in ("conv4", "bn4"), (part, k)
                continue
            io[f"grad.{part}.{k}"] = p.grad
        for k, b in mod.named_buffers():
            if k.endswith(("running_mean", "running_var")):
                io[f"after.{part}.{k}"] = b
    t_train = time.time() - t0 - t_build - t_save - t_eval

    tensors = {k: (v.detach().numpy() if torch.is_tensor(v) else v) for k, v in io.items()}
    safetensors_io.save(prefix + "_io.safetensors", tensors,
                        {"generator": SCRIPT, "torch": torch.__version__,
                         "torchvision": torchvision.__version__, "config": cfg["desc"]})
    t_total = time.time() - t0
    print(f"  time: build {t_build:.1f}s, save weights {t_save:.1f}s, eval {t_eval:.1f}s, "
          f"train step {t_train:.1f}s, total {t_total:.1f}s; loss {loss.item():.6f}")

    # The legacy pickle and the zip file hold the same tensors.
    a, b = torch.load(prefix + "_teacher.pth"), torch.load(prefix + "_teacher_legacy.pth")
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a), name


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", metavar="OUTDIR",
                    help="write the full-size wide_resnet50_2 / resnet18 fixtures to OUTDIR")
    ap.add_argument("--out", metavar="OUTDIR", default=COMMITTED_OUT,
                    help="folder for the small configurations (default: the committed one)")
    args = ap.parse_args()
    configs, out_dir = (FULL, args.full) if args.full else (COMMITTED, args.out)
    os.makedirs(out_dir, exist_ok=True)
    for i, (name, cfg) in enumerate(configs.items()):
        make(name, cfg, out_dir, seed=20261200 + 10 * i)
    total = 0
    for f in sorted(os.listdir(out_dir)):
        total += os.path.getsize(os.path.join(out_dir, f))
        print(f"  {f}: {os.path.getsize(os.path.join(out_dir, f)):,} bytes")
    print(f"  {out_dir}: {total:,} bytes")


if __name__ == "__main__":
    main()
