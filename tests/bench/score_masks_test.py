#!/usr/bin/python3
"""bench/score_masks.py's metrics on hand-made cases whose answers are known exactly."""
import sys
import unittest

import numpy as np

sys.path.insert(0, sys.argv.pop(1))
import score_masks  # noqa: E402


def square(n=64, lo=16, hi=48):
    a = np.zeros((n, n), np.float32)
    a[lo:hi, lo:hi] = 1
    return a


class Metrics(unittest.TestCase):
    def test_a_perfect_cutout_scores_zero_error(self):
        gt = square()
        f = np.full((64, 64, 3), 0.25, np.float32)
        s = score_masks.score_image(gt, gt.copy(), f, f)
        for k in ("mae", "mse", "sad", "grad", "band", "colour"):
            self.assertEqual(s[k], 0.0, k)
        self.assertEqual(s["iou"], 1.0)

    def test_a_constant_offset_gives_known_mae_mse_sad(self):
        gt = square() * 0.8
        s = score_masks.score_image(gt, gt + 0.1)
        self.assertAlmostEqual(s["mae"], 0.1, places=6)
        self.assertAlmostEqual(s["mse"], 0.01, places=6)
        self.assertAlmostEqual(s["sad"], 0.1 * 64 * 64 / 1000, places=4)
        self.assertEqual(s["iou"], 1.0)  # 0.1 is still background at the 0.5 cut, 0.9 subject
        self.assertAlmostEqual(s["grad"], 0.0, places=6)  # a constant adds no gradient

    def test_iou_of_half_the_subject(self):
        gt = square()
        pred = gt.copy()
        pred[16:48, 32:48] = 0
        self.assertAlmostEqual(score_masks.score_image(gt, pred)["iou"], 0.5)

    def test_the_edge_band_is_15_px_around_the_contour(self):
        gt = square(128, 40, 88)
        band = score_masks.edge_band(gt)
        self.assertTrue(band[40, 64] and band[40 - 15, 64] and band[40 + 15, 64])
        self.assertFalse(band[40 - 16, 64] or band[64, 64] or band[0, 0])
        # An error far from the edge counts in MAE but not in the edge MAE.
        pred = gt.copy()
        pred[0:5, 0:5] = 1
        s = score_masks.score_image(gt, pred)
        self.assertGreater(s["mae"], 0)
        self.assertEqual(s["band"], 0.0)

    def test_edge_colour_sees_background_left_in_a_soft_edge(self):
        gt = square()
        gt[16:48, 15] = 0.5  # a soft column outside the left edge
        f = np.zeros((64, 64, 3), np.float32)
        f[..., 0] = 1  # a red subject
        leaked = f.copy()
        leaked[16:48, 15] = (0, 1, 0)  # the soft column's colour is the green background's
        s = score_masks.score_image(gt, gt.copy(), leaked, f)
        band = score_masks.edge_band(gt)
        # Premultiplied: 0.5 * |(0,1,0) - (1,0,0)| = 0.5 per channel on two of three channels.
        expected = 32 * (0.5 + 0.5) / (band.sum() * 3)
        self.assertAlmostEqual(s["colour"], expected, places=6)
        self.assertEqual(s["mae"], 0.0)  # alpha itself is exact

    def test_a_blurred_edge_has_gradient_error(self):
        from scipy import ndimage
        gt = square()
        soft = score_masks.score_image(gt, ndimage.uniform_filter(gt, 3))["grad"]
        softer = score_masks.score_image(gt, ndimage.uniform_filter(gt, 9))["grad"]
        self.assertGreater(soft, 0.0)
        self.assertGreater(softer, soft)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]])
