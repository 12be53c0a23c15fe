#!/usr/bin/python3
"""Scores folders of predicted masks against true alpha (a measurement, never a test).

usage: score_masks.py GT_DIR REF_NAME=DIR [NAME=DIR ...]
Each DIR holds NAME.png masks (grey or RGBA; the stem matches GT_DIR's). Prints per precision:
MAE against true alpha, IoU at 0.5, the error within 4 px of the true edge, and each folder's
mean |diff| against the first folder's (REF) with its worst image.
"""
import os
import sys

import numpy as np
from scipy import ndimage
from skimage import io


def load(path):
    a = io.imread(path)
    if a.ndim == 3:
        a = a[..., -1]
    return a.astype(np.float32) / 255.0


def main():
    gt_dir = sys.argv[1]
    runs = [arg.split("=", 1) for arg in sys.argv[2:]]
    names = sorted(os.path.splitext(f)[0] for f in os.listdir(gt_dir) if f.endswith(".png"))
    stats = {name: {"mae": [], "iou": [], "band": [], "diff": []} for name, _ in runs}
    for stem in names:
        gt = load(os.path.join(gt_dir, stem + ".png"))
        fg = gt > 0.5
        band = ndimage.binary_dilation(fg, iterations=4) & ~ndimage.binary_erosion(fg, iterations=4)
        ref = None
        for name, d in runs:
            p = os.path.join(d, stem + ".png")
            if not os.path.exists(p):
                continue
            m = load(p)
            if m.shape != gt.shape:
                raise SystemExit(f"{p}: {m.shape} != {gt.shape}")
            s = stats[name]
            err = np.abs(m - gt)
            s["mae"].append(err.mean())
            pred = m > 0.5
            union = (pred | fg).sum()
            s["iou"].append((pred & fg).sum() / union if union else 1.0)
            s["band"].append(err[band].mean() if band.any() else 0.0)
            if ref is None:
                ref = m
            s["diff"].append((np.abs(m - ref).mean(), stem))
    print(f"{len(names)} images in {gt_dir}")
    print(f"{'precision':<10} {'n':>3} {'MAE':>8} {'vs ref':>7} {'IoU':>7} {'edge-band err':>14} "
          f"{'mean|d| vs ref':>15} {'worst':>22}")
    ref_mae = None
    for name, _ in runs:
        s = stats[name]
        if not s["mae"]:
            print(f"{name:<10} not measured")
            continue
        mae = float(np.mean(s["mae"]))
        ref_mae = ref_mae or mae
        worst = max(s["diff"])
        print(f"{name:<10} {len(s['mae']):>3} {mae:>8.5f} {mae / ref_mae:>7.3f} "
              f"{np.mean(s['iou']):>7.4f} {np.mean(s['band']):>14.4f} "
              f"{np.mean([d for d, _ in s['diff']]):>15.4f} {worst[0]:>8.4f} {worst[1]:>13}")


if __name__ == "__main__":
    main()
