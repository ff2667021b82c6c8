#!/usr/bin/python3
"""Pillow 9.4 + torchvision 0.14 parity fixtures for image I/O (include/packd/data/image.hpp).

    /usr/bin/python3 tests/reference/make_image_fixtures.py

writes small synthetic image files tests/reference/fixtures/image_*.{png,jpg,bmp} and
tests/reference/fixtures/image.safetensors with what Pillow and torchvision make of them:

  CASE.rgb          Image.open(f).convert('RGB') as (H, W, 3)           uint8 values stored as F16
  CASE.grey         Image.open(f).convert('L') as (H, W)                (F16 holds 0..255 exactly)
  CASE.resize_HxW   .convert('RGB').resize((W, H), Image.BILINEAR)
  CASE.tensor       ToTensor + Normalize(ImageNet) of CASE.rgb, (3, H, W) F32
  CASE.load_S       RD4AD's image pipeline at S x S (Resize, ToTensor, Normalize), (1, 3, S, S)
  CASE.mask_S       RD4AD's mask pipeline at S x S binarised (Resize, ToTensor, > 0.5), (1, 1, S, S)
  NAME.checksum     instead of a uint8 array NAME over 10000 values: checksum(array) (I64), and
  NAME.row          its middle row (index H // 2), for a readable failure

If ../shared/data/real/mvtec_ad exists (MVTec AD, CC BY-NC-SA: its pixels are never committed),
it also stores summary numbers of the pipeline on one real image and mask (real.*): sums, a
checksum and a few values, from which the image cannot be rebuilt.
"""
import os
import sys

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import safetensors_io  # noqa: E402
from fixture_family import OUT  # noqa: E402

SCRIPT = "tests/reference/make_image_fixtures.py"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL = os.path.join(REPO, "..", "shared", "data", "real", "mvtec_ad")
REAL_IMAGE = "leather/test/cut/000.png"
REAL_MASK = "leather/ground_truth/cut/000_mask.png"

rng = np.random.default_rng(20261204)
tensors = {}
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def checksum(a):
    """Position-weighted sum of a uint8 array in row-major order: sum_i a[i] * ((i * 2654435761) % 1000003)."""
    a = np.asarray(a, dtype=np.int64).ravel()
    w = (np.arange(a.size, dtype=np.int64) * 2654435761) % 1000003
    return np.array(int((a * w).sum()), dtype=np.int64)


def u8(name, a):
    """Stores a uint8 array (as F16, exact for 0..255); a big one as NAME.checksum + its middle row NAME.row."""
    a = np.asarray(a, dtype=np.uint8)
    if a.size <= 10000:
        tensors[name] = a.astype(np.float16)
    else:
        tensors[name + ".checksum"] = checksum(a)
        tensors[name + ".row"] = a[a.shape[0] // 2].astype(np.float16)


def path(name):
    return os.path.join(OUT, name)


def image_pipeline(size):
    return T.Compose([T.Resize((size, size), interpolation=T.InterpolationMode.BILINEAR), T.ToTensor(),
                      T.Normalize(MEAN, STD)])


def mask_pipeline(size):
    # RD4AD's gt_transform, then the evaluation's binarisation (gt > 0.5)
    t = T.Compose([T.Resize((size, size), interpolation=T.InterpolationMode.BILINEAR), T.ToTensor()])
    return lambda im: (t(im) > 0.5).float()


def add(case, filename, resizes=(), tensor=False, loads=(), masks=()):
    im = Image.open(path(filename))
    rgb = im.convert("RGB")
    u8(f"{case}.rgb", np.array(rgb))
    u8(f"{case}.grey", np.array(im.convert("L")))
    for h, w in resizes:
        u8(f"{case}.resize_{h}x{w}", np.array(rgb.resize((w, h), Image.BILINEAR)))
    if tensor:
        tensors[f"{case}.tensor"] = T.Normalize(MEAN, STD)(T.ToTensor()(rgb)).numpy()
    for s in loads:
        tensors[f"{case}.load_{s}"] = image_pipeline(s)(rgb).unsqueeze(0).numpy()
    for s in masks:
        # RD4AD opens masks without convert; they are 'L' on disk. Other modes go through 'L' here,
        # as packd::data::load_mask does.
        m = im if im.mode == "L" else im.convert("L")
        tensors[f"{case}.mask_{s}"] = mask_pipeline(s)(m).unsqueeze(0).numpy().astype(np.float16)  # 0 / 1


def smooth_rgb(h, w, noise):
    """Gradients, a checkerboard and a disc (sharp edges), plus uniform noise of +-noise levels."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 128 + 100 * np.sin(x / 7.0) * np.cos(y / 5.0)
    img = np.stack([r, g, b], -1)
    img[((x // 16 + y // 16) % 2 == 0) & (x < w // 2)] *= 0.5
    img[(x - 0.7 * w) ** 2 + (y - 0.5 * h) ** 2 < (0.2 * min(h, w)) ** 2] = (250, 20, 40)
    img += rng.integers(-noise, noise + 1, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_png16(filename, a, color_type):
    """A 16-bit PNG written by hand (Pillow cannot save 16-bit RGB): a is (H, W, C) uint16."""
    import struct
    import zlib
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))  # filter 0, big-endian

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path(filename), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


os.makedirs(OUT, exist_ok=True)

# RGB noise at an odd size: every resize kind (down, up, one axis only, identity, to 1x1)
Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)).save(path("image_rgb_noise.png"))
add("rgb_noise", "image_rgb_noise.png", resizes=[(16, 20), (37, 53), (50, 80), (37, 20), (10, 53), (1, 1), (3, 97)],
    tensor=True, masks=[16])

# grey noise upscaled 20x30 -> 64x48 (and a mild downscale)
Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8), "L").save(path("image_grey_noise.png"))
add("grey_noise", "image_grey_noise.png", resizes=[(64, 48), (7, 29)], masks=[64])

# a larger structured RGB image (compresses well): 300 wide, 211 high
Image.fromarray(smooth_rgb(211, 300, 1)).save(path("image_pattern.png"), optimize=True)
add("pattern", "image_pattern.png", resizes=[(48, 64), (211, 150), (97, 300)], loads=[64])
pattern = Image.open(path("image_pattern.png")).convert("RGB")
u8("pattern.resize_256x256", np.array(pattern.resize((256, 256), Image.BILINEAR)))
t256 = image_pipeline(256)(pattern)
tensors["pattern.load_256.sum"] = t256.double().sum(dim=(1, 2)).numpy()
tensors["pattern.load_256.row"] = t256[:, 77, :].numpy()

# a 256x256 'L' mask with shapes (identity resize at 256) and its mask pipeline at 64
y, x = np.mgrid[0:256, 0:256]
shapes = ((x - 90) ** 2 + (y - 100) ** 2 < 40 ** 2) | ((x > 150) & (x < 231) & (y > 170) & (y < 181)) | \
         ((np.abs(x - y) < 2) & (x < 60))
Image.fromarray((shapes * 255).astype(np.uint8), "L").save(path("image_mask_256.png"), optimize=True)
add("mask_256", "image_mask_256.png", resizes=[(64, 64)], masks=[64, 33])

# RGBA (alpha dropped by convert('RGB'), ignored by convert('L')), LA, palette, 1-bit
Image.fromarray(rng.integers(0, 256, (18, 24, 4), dtype=np.uint8), "RGBA").save(path("image_rgba.png"))
add("rgba", "image_rgba.png", resizes=[(9, 13)])
Image.fromarray(rng.integers(0, 256, (8, 11, 2), dtype=np.uint8), "LA").save(path("image_la.png"))
add("la", "image_la.png")
Image.fromarray(smooth_rgb(15, 21, 10)).quantize(13).save(path("image_palette.png"))
add("palette", "image_palette.png")
Image.fromarray(rng.integers(0, 2, (7, 13), dtype=np.uint8) * 255, "L").convert("1").save(path("image_bilevel.png"))
add("bilevel", "image_bilevel.png")

# 16-bit PNGs: RGB reduces to the high byte; grey opens as mode 'I' whose conversion to RGB/L clips at 255
write_png16("image_rgb16.png", rng.integers(0, 65536, (12, 16, 3), dtype=np.uint16), 2)
add("rgb16", "image_rgb16.png", resizes=[(5, 7)])
write_png16("image_grey16.png", rng.integers(0, 600, (9, 10, 1), dtype=np.uint16), 0)
add("grey16", "image_grey16.png")

# JPEG (libjpeg-turbo in Pillow; stb_image decodes it slightly differently) and a 24-bit BMP whose
# rows need padding (width 21 * 3 bytes is not a multiple of 4)
Image.fromarray(smooth_rgb(48, 64, 4)).save(path("image_photo.jpg"), quality=90)
add("photo", "image_photo.jpg", resizes=[(20, 30)])
Image.fromarray(rng.integers(0, 256, (15, 21, 3), dtype=np.uint8)).save(path("image_noise.bmp"))
add("bmp", "image_noise.bmp", resizes=[(6, 10)])

# a 1024x1024 RGB image -> 256x256 (speed and the large-downscale path), built from a formula the
# C++ test repeats, so only the checksum of Pillow's output is stored
y, x, c = np.mgrid[0:1024, 0:1024, 0:3].astype(np.int64)
big = ((((x * 73856093) ^ (y * 19349663) ^ (c * 83492791)) >> 7) & 63) + (x + y) // 20 + 40 * c
big = big.astype(np.uint8)
tensors["big.resize_256x256.checksum"] = checksum(np.array(Image.fromarray(big).resize((256, 256), Image.BILINEAR)))

meta = {"generator": SCRIPT, "torch": torch.__version__, "torchvision": torchvision.__version__,
        "pillow": PIL.__version__}

if os.path.isdir(REAL):
    im = Image.open(os.path.join(REAL, REAL_IMAGE)).convert("RGB")
    resized = im.resize((256, 256), Image.BILINEAR)
    t = image_pipeline(256)(im)
    tensors["real.image.resized.checksum"] = checksum(np.array(resized))
    tensors["real.image.sum"] = t.double().sum(dim=(1, 2)).numpy()
    tensors["real.image.sumsq"] = (t.double() ** 2).sum(dim=(1, 2)).numpy()
    picks = [(0, 0, 0), (1, 17, 200), (2, 128, 128), (0, 255, 255), (1, 99, 3), (2, 201, 144)]
    tensors["real.image.picks"] = np.array(picks, dtype=np.int64)
    tensors["real.image.values"] = np.array([t[c, y, x].item() for c, y, x in picks], dtype=np.float32)
    m = mask_pipeline(256)(Image.open(os.path.join(REAL, REAL_MASK)))
    tensors["real.mask.ones"] = np.array(int(m.sum().item()), dtype=np.int64)
    tensors["real.mask.checksum"] = checksum(m.numpy().astype(np.uint8))
    meta.update({"real_image": REAL_IMAGE, "real_mask": REAL_MASK})
else:
    print(f"note: {REAL} not found; the real-image summary is not written")

safetensors_io.save(path("image.safetensors"), tensors, meta)
