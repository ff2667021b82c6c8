#!/usr/bin/python3
"""Fixtures for the metrics (include/packd/eval/metrics.hpp, connected_components.hpp).

    /usr/bin/python3 tests/reference/make_metrics_fixtures.py

needs Debian's python3-sklearn, python3-skimage, python3-scipy, python3-pandas (no torch) and writes
tests/reference/fixtures/metrics.safetensors:
  score_<case>.{scores,labels}   1-D scores (float64, or float32 for *_f32) and 0/1 labels (float32)
  score_<case>.auc               sklearn.metrics.roc_auc_score (absent when only one class is present)
  score_<case>.f1                [f1, threshold, precision, recall]: max of 2PR/(P+R) over
                                 sklearn.metrics.precision_recall_curve, first argmax (lowest threshold)
  cc_<case>.mask                 (H, W) 0/1 float32
  cc_<case>.label8 / .label4     skimage.measure.label(mask, connectivity=2 / 1), float32
  arange_<case>.args / .out      [lo, hi, step] and np.arange(lo, hi, step) (RD4AD's thresholds)
  maps.maps / maps.masks         (N, 1, H, W) float64 maps and 0/1 masks (float32); the map sets are
                                 smooth: the maps; tied: np.round(maps * 6) / 6; coarse: np.round(maps * 2) / 2;
                                 smooth_f32: maps.astype(float32); perfect: the masks themselves
  map_<set>.pixel_auroc          roc_auc_score over all pixels
  map_<set>.image_auroc          roc_auc_score of each map's max against max(mask)
  map_<set>.image_f1             as score_*.f1 on the same image scores / labels
  map_<set>.aupro_global         [limit, value] rows: the standard AUPRO (MVTec AD's definition, below)
  map_<set>.aupro_rd4ad          per-anomalous-image values of RD4AD's official compute_pro
  map_<set>.aupro_rd4ad_mean     their np.mean
"""
import os
import sys
import warnings
from bisect import bisect
from statistics import mean

import numpy as np
import pandas as pd
import skimage
import sklearn
from numpy import ndarray
from scipy import ndimage
from skimage import measure
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import safetensors_io  # noqa: E402

SCRIPT = "tests/reference/make_metrics_fixtures.py"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "metrics.safetensors")
rng = np.random.default_rng(20261206)
T = {}


# ---- reference definitions -------------------------------------------------------------------

def f1_max(labels, scores):
    p, r, t = precision_recall_curve(labels, scores)
    f1 = np.zeros_like(p)
    np.divide(2 * p * r, p + r, out=f1, where=(p + r) > 0)
    i = int(np.argmax(f1))
    return np.array([f1[i], t[i], p[i], r[i]], dtype=np.float64)


def mvtec_trapezoid(x, y, x_max):
    """MVTec AD evaluation code's generic_util.trapezoid (with its x_max correction)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    correction = 0.0
    if x_max not in x:
        ins = bisect(x, x_max)
        assert 0 < ins < len(x)
        y_interp = y[ins - 1] + ((y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1]))
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    mask = x <= x_max
    x, y = x[mask], y[mask]
    return np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction


def aupro_global(maps, masks, limit):
    """Standard AUPRO as MVTec AD's pro_curve_util.compute_pro + trapezoid define it, in float64
    (MVTec's script keeps the FPR in float32): one curve over all images, regions = 8-connected
    components, FPR over every normal pixel, area up to `limit` divided by `limit`."""
    maps = maps.reshape(maps.shape[0], maps.shape[-2], maps.shape[-1]).astype(np.float64)
    masks = masks.reshape(maps.shape)
    labels = np.zeros(masks.shape, np.int64)
    R = 0
    for i in range(len(masks)):
        lab, k = measure.label(masks[i].astype(np.int64), connectivity=2, return_num=True)
        labels[i] = np.where(lab > 0, lab + R, 0)
        R += k
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=R + 1)
    ok = flat == 0
    fp_change = ok.astype(np.int64)
    pro_change = np.where(ok, 0.0, 1.0 / sizes[flat])
    scores = maps.ravel()
    order = np.argsort(scores, kind="stable")[::-1]
    s = scores[order]
    fprs = np.cumsum(fp_change[order]) / ok.sum()
    pros = np.cumsum(pro_change[order]) / R
    keep = np.append(np.diff(s) != 0, True)
    fprs, pros = np.clip(fprs[keep], None, 1.0), np.clip(pros[keep], None, 1.0)
    x = np.concatenate(([0.0], fprs, [1.0]))
    y = np.concatenate(([0.0], pros, [1.0]))
    return mvtec_trapezoid(x, y, limit) / limit


def compute_pro(masks: ndarray, amaps: ndarray, num_th: int = 200) -> None:
    """RD4AD's test.py compute_pro, verbatim except np.bool -> bool (removed from numpy)."""
    assert isinstance(amaps, ndarray), "type(amaps) must be ndarray"
    assert isinstance(masks, ndarray), "type(masks) must be ndarray"
    assert amaps.ndim == 3, "amaps.ndim must be 3 (num_test_data, h, w)"
    assert masks.ndim == 3, "masks.ndim must be 3 (num_test_data, h, w)"
    assert amaps.shape == masks.shape, "amaps.shape and masks.shape must be same"
    assert set(masks.flatten()) == {0, 1}, "set(masks.flatten()) must be {0, 1}"
    assert isinstance(num_th, int), "type(num_th) must be int"

    df = pd.DataFrame([], columns=["pro", "fpr", "threshold"])
    binary_amaps = np.zeros_like(amaps, dtype=bool)

    min_th = amaps.min()
    max_th = amaps.max()
    delta = (max_th - min_th) / num_th

    for th in np.arange(min_th, max_th, delta):
        binary_amaps[amaps <= th] = 0
        binary_amaps[amaps > th] = 1

        pros = []
        for binary_amap, mask in zip(binary_amaps, masks):
            for region in measure.regionprops(measure.label(mask)):
                axes0_ids = region.coords[:, 0]
                axes1_ids = region.coords[:, 1]
                tp_pixels = binary_amap[axes0_ids, axes1_ids].sum()
                pros.append(tp_pixels / region.area)

        inverse_masks = 1 - masks
        fp_pixels = np.logical_and(inverse_masks, binary_amaps).sum()
        fpr = fp_pixels / inverse_masks.sum()

        df = df.append({"pro": mean(pros), "fpr": fpr, "threshold": th}, ignore_index=True)

    # Normalize FPR from 0 ~ 1 to 0 ~ 0.3
    df = df[df["fpr"] < 0.3]
    df["fpr"] = df["fpr"] / df["fpr"].max()

    pro_auc = auc(df["fpr"], df["pro"])
    return pro_auc


def aupro_rd4ad(maps, masks):
    """RD4AD's evaluation loop: compute_pro per anomalous image ((1, H, W) int mask, float64 map)."""
    values = []
    for i in range(len(maps)):
        gt = masks[i].reshape(1, masks.shape[-2], masks.shape[-1]).astype(int)
        if gt.max() != 0:
            values.append(compute_pro(gt, maps[i].reshape(gt.shape).astype(np.float64)))
    return np.array(values, np.float64), np.mean(values)


# ---- scores + labels -------------------------------------------------------------------------

def score_case(name, scores, labels):
    labels = np.asarray(labels, np.int64)
    T[f"score_{name}.scores"] = scores
    T[f"score_{name}.labels"] = labels.astype(np.float32)
    if 0 < labels.sum() < len(labels):
        T[f"score_{name}.auc"] = np.array(roc_auc_score(labels, scores), np.float64)
    if labels.sum() > 0:
        T[f"score_{name}.f1"] = f1_max(labels, scores)


n = 6000  # > 4096: the radix sort
q = np.round(rng.random(n) * 20) / 20  # 21 levels: heavy ties
score_case("tied", q, rng.random(n) < 0.1 + 0.6 * q)
x = rng.standard_normal(2500)
score_case("continuous", x, rng.random(2500) < 1 / (1 + np.exp(-2 * x)))
q = np.round(rng.standard_normal(8000) * 4) / 4 - 1.0  # negative and positive scores, ~30 levels
score_case("tied_signed", q, rng.random(8000) < 0.3 + 0.1 * np.tanh(q))
x32 = (np.round(rng.random(5000) * 64) / 64 + 1e-3 * rng.standard_normal(5000) * (rng.random(5000) < 0.5)).astype(np.float32)
score_case("tied_f32", x32, rng.random(5000) < x32.astype(np.float64))
score_case("small", np.array([0.1, 0.4, 0.35, 0.8]), [0, 0, 1, 1])
score_case("all_equal", np.full(10, 0.7), [0, 1, 0, 0, 1, 0, 1, 0, 0, 0])
score_case("perfect", np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9]), [0, 0, 0, 1, 1, 1])
score_case("inverted", np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9]), [1, 1, 1, 0, 0, 0])
x = np.round(rng.random(50) * 10) / 10
lab = np.zeros(50, np.int64)
lab[np.argsort(x, kind="stable")[25]] = 1  # one positive, mid-rank, tied with others
score_case("one_positive", x, lab)
score_case("signed_zero", np.array([-0.0, 0.0, -0.0, 0.0, 1.0, -1.0, 0.0, -0.0]), [1, 0, 0, 1, 1, 0, 0, 1])
score_case("all_positive", np.array([0.3, 0.1, 0.3, 0.2]), [1, 1, 1, 1])  # F1 only (AUC undefined)

# ---- connected components --------------------------------------------------------------------

def cc_case(name, mask):
    mask = np.asarray(mask, np.int64)
    T[f"cc_{name}.mask"] = mask.astype(np.float32)
    T[f"cc_{name}.label8"] = measure.label(mask, connectivity=2).astype(np.float32)
    T[f"cc_{name}.label4"] = measure.label(mask, connectivity=1).astype(np.float32)


def blobs(h, w, sigma, frac):
    f = ndimage.gaussian_filter(rng.standard_normal((h, w)), sigma)
    return f > np.quantile(f, 1 - frac)


cc_case("blobs", blobs(40, 50, 2.0, 0.3))
cc_case("speckle", rng.random((37, 41)) < 0.45)  # many diagonal-only contacts
cc_case("checker", (np.add.outer(np.arange(12), np.arange(15)) % 2) == 0)  # one region in 8-conn
u = np.zeros((20, 20), np.int64)  # a U: joined only at the bottom, labelled before it is joined
u[2:18, 3] = u[2:18, 15] = u[17, 3:16] = 1
u[5, 8] = 1
u[6, 9] = 1  # diagonal pair
cc_case("u_shape", u)
cc_case("full", np.ones((5, 7)))
cc_case("empty", np.zeros((4, 6)))
cc_case("row", rng.random((1, 30)) < 0.5)
cc_case("column", rng.random((25, 1)) < 0.5)

# ---- numpy.arange as RD4AD's thresholds use it -----------------------------------------------

def arange_case(name, lo, hi, num=200):
    step = (hi - lo) / num
    T[f"arange_{name}.args"] = np.array([lo, hi, step], np.float64)
    T[f"arange_{name}.out"] = np.arange(np.float64(lo), np.float64(hi), step)


arange_case("unit", 0.0, 1.0)
arange_case("map", 0.0371, 0.9123)
arange_case("negative", -3.25, 0.125)
arange_case("tiny", 1.0, 1.0 + 3e-13)
arange_case("big", 12345.678, 98765.4321)
for i in range(3):
    lo, hi = np.sort(rng.standard_normal(2) * 10 ** rng.uniform(-3, 3, 2))
    arange_case(f"random{i}", float(lo), float(hi))
hits = 0
for _ in range(2000):  # the C++ formula, checked here against numpy on many ranges
    lo, hi = np.sort(rng.standard_normal(2) * 10 ** rng.uniform(-4, 4, 2))
    step = (hi - lo) / 200
    a = np.arange(lo, hi, step)
    n_ = int(np.ceil((hi - lo) / step))
    ref = np.array([lo, lo + step] + [lo + i * ((lo + step) - lo) for i in range(2, n_)])
    assert len(a) == n_ and np.array_equal(a, ref), (lo, hi)
    hits += n_ == 201
print(f"arange: numpy's formula reproduced on 2000 ranges ({hits} of length 201)")

# ---- maps + masks ----------------------------------------------------------------------------

def make_maps(N=8, H=32, W=32, anomalous=5):
    masks = np.zeros((N, 1, H, W), np.float64)
    for i in range(anomalous):
        for _ in range(1 + i % 4):  # 1 to 4 blobs, some overlapping
            cy, cx = rng.integers(3, H - 3, 2)
            ry, rx = rng.integers(1, 6, 2)
            yy, xx = np.ogrid[:H, :W]
            masks[i, 0][((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
    masks[anomalous - 1, 0, 0, 0] = 1  # a one-pixel region in a corner
    maps = np.empty_like(masks)
    for i in range(N):
        noise = ndimage.gaussian_filter(rng.standard_normal((H, W)), 1.5)
        bump = ndimage.gaussian_filter(masks[i, 0], 1.0) * rng.uniform(0.3, 1.5)
        maps[i, 0] = 0.5 + noise + bump
    return maps, masks


def map_set(name, maps, masks, limits=(0.3, 0.05, 0.01, 1.0)):
    m64 = maps.astype(np.float64)
    labels = masks.reshape(len(masks), -1).max(axis=1).astype(np.int64)
    img = m64.reshape(len(maps), -1).max(axis=1)
    T[f"map_{name}.pixel_auroc"] = np.array(roc_auc_score(masks.ravel().astype(np.int64), m64.ravel()), np.float64)
    T[f"map_{name}.image_auroc"] = np.array(roc_auc_score(labels, img), np.float64)
    T[f"map_{name}.image_f1"] = f1_max(labels, img)
    T[f"map_{name}.aupro_global"] = np.array([[lim, aupro_global(m64, masks, lim)] for lim in limits], np.float64)
    per, avg = aupro_rd4ad(m64, masks)
    T[f"map_{name}.aupro_rd4ad"] = per
    T[f"map_{name}.aupro_rd4ad_mean"] = np.array(avg, np.float64)


warnings.simplefilter("ignore", FutureWarning)  # DataFrame.append, as RD4AD calls it
maps, masks = make_maps()
T["maps.maps"] = maps
T["maps.masks"] = masks.astype(np.float32)
map_set("smooth", maps, masks)
map_set("tied", np.round(maps * 6) / 6, masks)  # a dozen levels: ties inside and across regions
map_set("smooth_f32", maps.astype(np.float32), masks)  # float maps: the metrics widen them to double
perfect = masks.copy()
map_set("perfect", perfect, masks, limits=(0.3, 1.0))
# FPR passes 0.3 inside one tie group: the interpolated last segment
coarse = np.round(maps * 2) / 2
map_set("coarse", coarse, masks, limits=(0.3, 0.5))

safetensors_io.save(OUT, T, {"generator": SCRIPT, "sklearn": sklearn.__version__, "skimage": skimage.__version__,
                             "numpy": np.__version__, "pandas": pd.__version__})
print(f"wrote {OUT}: {os.path.getsize(OUT)} bytes")
