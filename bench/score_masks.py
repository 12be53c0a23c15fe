#!/usr/bin/python3
"""Scores folders of predicted cut-outs against true alpha (a measurement, never a test).

usage: score_masks.py GT_DIR REF_NAME=DIR [NAME=DIR ...]
Each DIR holds NAME.png (grey masks or RGBA cut-outs; the stem matches GT_DIR's). Per run:
  MAE, MSE       of alpha in [0, 1], per image, then the mean over images;
  SAD            sum of |alpha error| / 1000 per image (Composition-1k's unit, whole image);
  grad           Composition-1k's gradient error: the squared difference of the alpha gradients
                 (Gaussian derivatives, sigma 1.4) summed / 1000;
  IoU            of alpha > 0.5;
  edge MAE       alpha MAE over the pixels within 15 px of the true alpha = 0.5 contour;
  edge colour    where GT_DIR has a sibling fg/ (true foreground colour, as make_composites.py
                 writes) and the run holds RGBA: the mean |a' F' - a F| over the same edge pixels
                 and the three channels, in [0, 1] -- the fringe a customer sees on a new
                 background (premultiplied, so an alpha error counts too);
  mean|d| vs ref each run's mean |alpha - REF's alpha|, with its worst image.
Ratios are against REF (the first run).
"""
import os
import sys

import numpy as np
from scipy import ndimage
from skimage import io

EDGE_PX = 15


def load(path):
    a = io.imread(path)
    if a.ndim == 2:
        return a.astype(np.float32) / 255.0, None
    rgb = a[..., :3].astype(np.float32) / 255.0 if a.shape[2] >= 3 else None
    return a[..., -1].astype(np.float32) / 255.0, (rgb if a.shape[2] == 4 else None)


def gradient_error(pred, gt):
    def grad(x):
        gx = ndimage.gaussian_filter(x, 1.4, order=(0, 1))
        gy = ndimage.gaussian_filter(x, 1.4, order=(1, 0))
        return np.sqrt(gx * gx + gy * gy)
    return float(((grad(pred) - grad(gt)) ** 2).sum()) / 1000.0


def edge_band(gt):
    """The pixels within EDGE_PX of the true 0.5 contour (a boundary pixel of alpha > 0.5)."""
    fg = gt > 0.5
    contour = fg ^ ndimage.binary_erosion(fg)
    if not contour.any():
        return contour
    return ndimage.distance_transform_edt(~contour) <= EDGE_PX


def score_image(gt, m, rgb=None, true_f=None):
    """One image's metrics (module docstring); `colour` only with rgb and true_f."""
    err = np.abs(m - gt)
    fg, pred = gt > 0.5, m > 0.5
    band = edge_band(gt)
    union = (pred | fg).sum()
    out = {
        "mae": float(err.mean()),
        "mse": float((err * err).mean()),
        "sad": float(err.sum()) / 1000.0,
        "grad": gradient_error(m, gt),
        "iou": float((pred & fg).sum() / union) if union else 1.0,
        "band": float(err[band].mean()) if band.any() else 0.0,
    }
    if rgb is not None and true_f is not None and band.any():
        out["colour"] = float(np.abs(rgb * m[..., None] - true_f * gt[..., None])[band].mean())
    return out


def main():
    gt_dir = sys.argv[1]
    runs = [arg.split("=", 1) for arg in sys.argv[2:]]
    fg_dir = os.path.join(os.path.dirname(os.path.abspath(gt_dir)), "fg")
    names = sorted(os.path.splitext(f)[0] for f in os.listdir(gt_dir) if f.endswith(".png"))
    keys = ("mae", "mse", "sad", "grad", "iou", "band", "colour", "diff")
    stats = {name: {k: [] for k in keys} for name, _ in runs}
    for stem in names:
        gt, _ = load(os.path.join(gt_dir, stem + ".png"))
        true_f = None
        if os.path.exists(os.path.join(fg_dir, stem + ".png")):
            true_f = io.imread(os.path.join(fg_dir, stem + ".png"))[..., :3] / 255.0
        ref = None
        for name, d in runs:
            p = os.path.join(d, stem + ".png")
            if not os.path.exists(p):
                continue
            m, rgb = load(p)
            if m.shape != gt.shape:
                raise SystemExit(f"{p}: {m.shape} != {gt.shape}")
            s = stats[name]
            for k, v in score_image(gt, m, rgb, true_f).items():
                s[k].append(v)
            if ref is None:
                ref = m
            s["diff"].append((np.abs(m - ref).mean(), stem))
    print(f"{len(names)} images in {gt_dir}; edge band: within {EDGE_PX} px of the true 0.5 contour")
    print(f"{'run':<12} {'n':>3} {'MAE':>8} {'vs ref':>7} {'MSE':>8} {'SAD':>8} {'grad':>8} "
          f"{'IoU':>7} {'edge MAE':>9} {'vs ref':>7} {'edge colour':>12} {'vs ref':>7} "
          f"{'mean|d| vs ref':>15} {'worst':>22}")
    ref_vals = {}
    for name, _ in runs:
        s = stats[name]
        if not s["mae"]:
            print(f"{name:<12} not measured")
            continue
        v = {k: float(np.mean(s[k])) if s[k] else float("nan") for k in keys if k != "diff"}
        for k in v:
            ref_vals.setdefault(k, v[k])
        worst = max(s["diff"])

        def ratio(k):
            r = ref_vals[k]
            return v[k] / r if r and r == r else float("nan")
        colour = f"{v['colour']:>12.5f} {ratio('colour'):>7.3f}" if s["colour"] else f"{'-':>12} {'-':>7}"
        print(f"{name:<12} {len(s['mae']):>3} {v['mae']:>8.5f} {ratio('mae'):>7.3f} "
              f"{v['mse']:>8.5f} {v['sad']:>8.2f} {v['grad']:>8.2f} {v['iou']:>7.4f} "
              f"{v['band']:>9.4f} {ratio('band'):>7.3f} {colour} "
              f"{np.mean([d for d, _ in s['diff']]):>15.4f} {worst[0]:>8.4f} {worst[1]:>13}")


if __name__ == "__main__":
    main()
