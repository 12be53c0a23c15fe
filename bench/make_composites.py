#!/usr/bin/python3
"""Builds a composite set with exact truth (Composition-1k style), for make bench-quality.

usage: make_composites.py OUT_DIR [--per-size N] [--sizes 1,4,12]

Photographic cut-outs with real alpha from Debian's tuxpaint-stamps-default (cartoons, letters
and symbols skipped: the path says "cartoon", or the subject has few distinct colours) are
placed over the photographs of lomiri-wallpapers-16.04 and python3-skimage, at 1, 4 and 12 MP.
The stamp is scaled with its colour premultiplied (so no background leaks into its edge), and
the photo is I = a F + (1 - a) B in floating point, rounded once to 8 bits and written as PNG.
Written: OUT/img/NAME.png (the composite), OUT/gt/NAME.png (true alpha, 8-bit) and
OUT/fg/NAME.png (the true foreground colour F, 8-bit RGB; meaningful where alpha > 0).
Deterministic: the same packages give the same set. A measurement input, never a test.
"""
import argparse
import glob
import os
import sys

import numpy as np
from skimage import io, transform

STAMPS = "/usr/share/tuxpaint/stamps"
# Backgrounds without a subject of their own: the composite's truth says only the stamp is
# foreground, so a cup or a bird behind it would count as the model's error. Landscapes and
# patterns from lomiri-wallpapers-16.04, and skimage's texture photographs (grey, used as RGB).
BACKGROUNDS = [
    "/usr/share/backgrounds/" + n for n in (
        "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg",
        "aitzgorri_by_Aitzol_Berasategi.jpg", "analogpattern_by_Peter_Nerlich.jpg",
        "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "sunset_by_Aitzol_Berasategi.jpg", "umang_by_Abhishek_Mudgal.jpg")
] + [
    "/usr/lib/python3/dist-packages/skimage/data/" + n
    for n in ("brick.png", "grass.png", "gravel.png", "rough-wall.png")
]
# Width x height for each size in megapixels (4:3).
SIZES = {1: (1155, 866), 4: (2309, 1732), 12: (4000, 3000)}


def photographic_stamps():
    stamps = []
    for path in sorted(glob.glob(os.path.join(STAMPS, "**", "*.png"), recursive=True)):
        rel = os.path.relpath(path, STAMPS)
        if "cartoon" in rel or rel.startswith(("symbols/", "town/roadsigns")):
            continue
        try:
            a = io.imread(path)
        except Exception:  # a few stamps are palette PNGs skimage cannot read; not photos anyway
            continue
        if a.ndim != 3 or a.shape[2] != 4 or min(a.shape[:2]) < 150:
            continue
        solid = a[..., 3] > 0
        if solid.sum() < 10000:
            continue
        colours = len(np.unique(a[..., :3][solid], axis=0)) / solid.sum()
        soft = ((a[..., 3] > 0) & (a[..., 3] < 255)).sum() / solid.sum()
        if colours < 0.3 or soft > 0.6:  # flat colours: drawn; mostly soft: smoke, not a subject
            continue
        stamps.append(path)
    return stamps


def backgrounds():
    return [p for p in BACKGROUNDS if os.path.exists(p)]


def cover(bg, w, h):
    """bg scaled to cover w x h and centre-cropped, as float RGB in [0, 1]."""
    if bg.ndim == 2:
        bg = np.dstack([bg] * 3)
    bg = bg[..., :3].astype(np.float32) / 255.0
    s = max(w / bg.shape[1], h / bg.shape[0])
    nw, nh = max(w, round(bg.shape[1] * s)), max(h, round(bg.shape[0] * s))
    bg = transform.resize(bg, (nh, nw), order=1, anti_aliasing=s < 1, preserve_range=True)
    y, x = (nh - h) // 2, (nw - w) // 2
    return np.clip(bg[y:y + h, x:x + w], 0, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--per-size", type=int, default=8)
    ap.add_argument("--sizes", default="1,4,12")
    args = ap.parse_args()
    stamps, bgs = photographic_stamps(), backgrounds()
    if not stamps or not bgs:
        sys.exit("no stamps or backgrounds: install tuxpaint-stamps-default, "
                 "lomiri-wallpapers-16.04 and python3-skimage (scripts/setup --bench-quality)")
    for sub in ("img", "gt", "fg"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    rng = np.random.default_rng(14)
    sizes = [int(s) for s in args.sizes.split(",")]
    picks = rng.permutation(len(stamps))
    k = 0
    for mp in sizes:
        w, h = SIZES[mp]
        for i in range(args.per_size):
            stamp_path = stamps[picks[k % len(picks)]]
            bg_path = bgs[(k * 5) % len(bgs)]
            k += 1
            s = io.imread(stamp_path).astype(np.float32) / 255.0
            a = s[..., 3]
            # The subject fills 45-70 % of the canvas' shorter side.
            side = rng.uniform(0.45, 0.7) * min(w, h)
            f = side / max(s.shape[:2])
            sh, sw = max(1, round(s.shape[0] * f)), max(1, round(s.shape[1] * f))
            pre = np.dstack([s[..., :3] * a[..., None], a])
            pre = np.clip(transform.resize(pre, (sh, sw), order=3, preserve_range=True), 0, 1)
            sa = pre[..., 3]
            sf = np.where(sa[..., None] > 1e-4, pre[..., :3] / np.maximum(sa, 1e-4)[..., None], 0)
            sf = np.clip(sf, 0, 1)
            top = int(rng.integers(0, h - sh + 1))
            left = int(rng.integers(0, w - sw + 1))
            alpha = np.zeros((h, w), np.float32)
            fg = np.zeros((h, w, 3), np.float32)
            alpha[top:top + sh, left:left + sw] = sa
            fg[top:top + sh, left:left + sw] = sf
            # 8-bit truth, and the composite built from exactly that truth.
            alpha8 = np.round(alpha * 255).astype(np.uint8)
            fg8 = np.round(fg * 255).astype(np.uint8)
            a_q = alpha8.astype(np.float32)[..., None] / 255
            img = a_q * (fg8.astype(np.float32) / 255) + (1 - a_q) * cover(io.imread(bg_path), w, h)
            name = f"{mp:02d}mp_{i:02d}_{os.path.splitext(os.path.basename(stamp_path))[0]}"
            io.imsave(os.path.join(args.out, "img", name + ".png"),
                      np.round(img * 255).astype(np.uint8), check_contrast=False)
            io.imsave(os.path.join(args.out, "gt", name + ".png"), alpha8, check_contrast=False)
            io.imsave(os.path.join(args.out, "fg", name + ".png"), fg8, check_contrast=False)
            print(f"{name}: {os.path.relpath(stamp_path, STAMPS)} over {os.path.basename(bg_path)}")


if __name__ == "__main__":
    main()
