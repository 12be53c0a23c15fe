// EstimateForeground on composites made here, so the true foreground and background are known.
#include "matting/foreground.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace bgerase::matting {
namespace {

constexpr float kF[3] = {0.9f, 0.3f, 0.1f};  // the subject's colour

// A w x h composite: a constant-colour disc whose edge fades over `ramp` pixels, over a
// background that varies smoothly across the image in every channel.
struct Composite {
  int w, h;
  std::vector<float> image, alpha, background;
};
Composite MakeComposite(int w, int h, float ramp) {
  Composite c{w, h, std::vector<float>(w * h * 3), std::vector<float>(w * h),
              std::vector<float>(w * h * 3)};
  const float cx = (w - 1) / 2.0f, cy = (h - 1) / 2.0f, r = std::min(w, h) / 4.0f;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const int i = y * w + x;
      const float d = std::hypot(x - cx, y - cy);
      const float a = std::clamp((r + ramp - d) / ramp, 0.0f, 1.0f);
      const float b[3] = {static_cast<float>(x) / (w - 1), static_cast<float>(y) / (h - 1),
                          0.2f + 0.6f * static_cast<float>(x + y) / (w + h - 2)};
      c.alpha[i] = a;
      for (int k = 0; k < 3; ++k) {
        c.background[i * 3 + k] = b[k];
        c.image[i * 3 + k] = a * kF[k] + (1 - a) * b[k];
      }
    }
  }
  return c;
}

// Mean absolute error of the foreground where the subject shows (alpha > min_alpha), and of
// copying the photo's colour there instead.
struct Errors {
  double estimated = 0, copied = 0, worst = 0;
};
Errors ForegroundErrors(const Composite& c, const ForegroundResult& r, float min_alpha,
                        float max_alpha = 1.0f) {
  Errors e;
  int n = 0;
  for (int i = 0; i < c.w * c.h; ++i) {
    if (c.alpha[i] <= min_alpha || c.alpha[i] > max_alpha) continue;
    ++n;
    for (int k = 0; k < 3; ++k) {
      const double d = std::fabs(r.foreground[i * 3 + k] - kF[k]);
      e.estimated += d;
      e.copied += std::fabs(c.image[i * 3 + k] - kF[k]);
      e.worst = std::max(e.worst, d);
    }
  }
  e.estimated /= 3.0 * n;
  e.copied /= 3.0 * n;
  return e;
}

// Over a plain background the model's assumptions (smooth F, smooth B) hold exactly, and so
// does its answer: the subject's colour, everywhere it shows at all.
TEST(Foreground, AConstantColourUnderAKnownAlphaIsRecoveredExactly) {
  Composite c = MakeComposite(96, 80, 12.0f);
  for (int i = 0; i < c.w * c.h; ++i)
    for (int k = 0; k < 3; ++k) c.image[i * 3 + k] = c.alpha[i] * kF[k] + (1 - c.alpha[i]) * 0.2f;
  const auto r = EstimateForeground(c.image.data(), c.alpha.data(), c.w, c.h);
  ASSERT_EQ(r.foreground.size(), c.image.size());
  const Errors soft = ForegroundErrors(c, r, 0.01f, 0.99f);  // the fading edge
  EXPECT_LT(soft.worst, 1e-3) << "copying the photo's colour would be " << soft.copied;
  EXPECT_GT(soft.copied, 0.1);  // the test means something: the mix is far from the subject
}

// Over a background that changes across the edge (here by about 0.15 over the 12 px fade in
// each channel) the smooth-B assumption is only near: the answer is a tenth of the error of
// copying the photo's colour, not zero (measured: 0.017 against 0.174).
TEST(Foreground, OverAVaryingBackgroundTheColourIsNearlyRecovered) {
  const Composite c = MakeComposite(96, 80, 12.0f);
  const auto r = EstimateForeground(c.image.data(), c.alpha.data(), c.w, c.h);
  const Errors soft = ForegroundErrors(c, r, 0.1f, 0.99f);
  EXPECT_LT(soft.estimated, 0.15 * soft.copied) << soft.estimated << " vs " << soft.copied;
  EXPECT_LT(soft.worst, 0.08);
}

TEST(Foreground, AnOpaquePhotoIsItsOwnForeground) {
  Composite c = MakeComposite(40, 30, 4.0f);
  std::fill(c.alpha.begin(), c.alpha.end(), 1.0f);
  const auto r = EstimateForeground(c.image.data(), c.alpha.data(), c.w, c.h);
  for (std::size_t i = 0; i < c.image.size(); ++i)
    ASSERT_NEAR(r.foreground[i], c.image[i], 1e-4) << i;
}

TEST(Foreground, TheBackgroundIsRecoveredWhereItShows) {
  const Composite c = MakeComposite(96, 80, 12.0f);
  const auto r = EstimateForeground(c.image.data(), c.alpha.data(), c.w, c.h);
  double err = 0;
  int n = 0;
  for (int i = 0; i < c.w * c.h; ++i) {
    if (c.alpha[i] >= 0.9f) continue;
    for (int k = 0; k < 3; ++k) err += std::fabs(r.background[i * 3 + k] - c.background[i * 3 + k]);
    n += 3;
  }
  EXPECT_LT(err / n, 0.02);
}

TEST(Foreground, ValuesStayInRangeAndTinyImagesWork) {
  for (const auto& [w, h] : {std::pair{1, 1}, std::pair{1, 7}, std::pair{5, 1}, std::pair{3, 2}}) {
    std::vector<float> image(w * h * 3), alpha(w * h);
    for (int i = 0; i < w * h; ++i) {
      alpha[i] = static_cast<float>(i % 3) / 2.0f;
      for (int k = 0; k < 3; ++k) image[i * 3 + k] = static_cast<float>((i + k) % 4) / 3.0f;
    }
    const auto r = EstimateForeground(image.data(), alpha.data(), w, h);
    ASSERT_EQ(r.foreground.size(), image.size());
    for (float v : r.foreground) EXPECT_TRUE(v >= 0.0f && v <= 1.0f) << w << "x" << h;
    for (float v : r.background) EXPECT_TRUE(v >= 0.0f && v <= 1.0f) << w << "x" << h;
  }
}

// Solving only near unsure alpha (the large levels) gives the full solve's colours where they
// show, and the photo's own colour where alpha is sure.
TEST(Foreground, TheBandSolveMatchesTheFullSolve) {
  const Composite c = MakeComposite(640, 480, 16.0f);  // levels above 256 x 256 use the band
  ForegroundOptions full;
  full.band_from_pixels = 1LL << 40;
  const auto everywhere = EstimateForeground(c.image.data(), c.alpha.data(), c.w, c.h, full);
  const auto band = EstimateForeground(c.image.data(), c.alpha.data(), c.w, c.h);
  double worst = 0;
  for (int i = 0; i < c.w * c.h; ++i) {
    if (c.alpha[i] <= 0.01f) continue;  // invisible either way
    for (int k = 0; k < 3; ++k) {
      const double d = std::fabs(band.foreground[i * 3 + k] - everywhere.foreground[i * 3 + k]);
      worst = std::max(worst, d * c.alpha[i]);  // as it shows in the cut-out
      if (c.alpha[i] == 1.0f && std::hypot(i % c.w - c.w / 2.0, i / c.w - c.h / 2.0) < 50) {
        ASSERT_EQ(band.foreground[i * 3 + k], c.image[i * 3 + k]) << i;  // deep inside: the photo
      }
    }
  }
  EXPECT_LT(worst, 0.01);
  EXPECT_LT(ForegroundErrors(c, band, 0.1f, 0.99f).estimated,
            0.15 * ForegroundErrors(c, band, 0.1f, 0.99f).copied);
}

TEST(Foreground, TheResultDoesNotDependOnTheThreadCount) {
  const Composite c = MakeComposite(400, 300, 20.0f);  // above the size that goes parallel
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = EstimateForeground(c.image.data(), c.alpha.data(), c.w, c.h);
  omp_set_num_threads(std::max(2, threads));
  const auto many = EstimateForeground(c.image.data(), c.alpha.data(), c.w, c.h);
  omp_set_num_threads(threads);
  EXPECT_EQ(one.foreground, many.foreground);
  EXPECT_EQ(one.background, many.background);
}

// The composite as 8-bit planes, as the pipeline holds them.
void To8Bit(const Composite& c, std::vector<uint8_t>* rgb, std::vector<uint8_t>* alpha) {
  rgb->resize(c.image.size());
  alpha->resize(c.alpha.size());
  for (size_t i = 0; i < c.image.size(); ++i)
    (*rgb)[i] = static_cast<uint8_t>(std::lround(c.image[i] * 255));
  for (size_t i = 0; i < c.alpha.size(); ++i)
    (*alpha)[i] = static_cast<uint8_t>(std::lround(c.alpha[i] * 255));
}

TEST(ForegroundTiled, OneTileIsTheWholeSolve) {
  const Composite c = MakeComposite(120, 90, 8);
  std::vector<uint8_t> rgb, alpha, out(c.image.size());
  To8Bit(c, &rgb, &alpha);
  const long long n = EstimateForegroundTiled(rgb.data(), alpha.data(), c.w, c.h, out.data(), 256);
  std::vector<float> image(rgb.size()), a(alpha.size());
  for (size_t i = 0; i < rgb.size(); ++i) image[i] = rgb[i] / 255.0f;
  for (size_t i = 0; i < alpha.size(); ++i) a[i] = alpha[i] / 255.0f;
  const ForegroundResult whole = EstimateForeground(image.data(), a.data(), c.w, c.h);
  long long soft = 0;
  for (int i = 0; i < c.w * c.h; ++i) {
    const bool is_soft = alpha[i] != 0 && alpha[i] != 255;
    soft += is_soft;
    for (int k = 0; k < 3; ++k) {
      const int want = is_soft ? static_cast<int>(std::lround(whole.foreground[i * 3 + k] * 255))
                               : rgb[i * 3 + k];
      ASSERT_EQ(out[i * 3 + k], want) << "pixel " << i;
    }
  }
  EXPECT_EQ(n, soft);
  EXPECT_GT(soft, 100);
}

TEST(ForegroundTiled, SmallTilesStillRecoverTheColour) {
  // Tiles much smaller than the disc: each solves its part of the edge with only its halo for
  // context, and the colour is still close to the truth, far closer than the photo's.
  const Composite c = MakeComposite(300, 240, 10);
  std::vector<uint8_t> rgb, alpha, out(c.image.size());
  To8Bit(c, &rgb, &alpha);
  EstimateForegroundTiled(rgb.data(), alpha.data(), c.w, c.h, out.data(), 48, 16);
  double estimated = 0, copied = 0;
  int n = 0;
  for (int i = 0; i < c.w * c.h; ++i) {
    if (c.alpha[i] <= 0.1f || alpha[i] == 255) continue;
    ++n;
    for (int k = 0; k < 3; ++k) {
      estimated += std::fabs(out[i * 3 + k] / 255.0 - kF[k]);
      copied += std::fabs(rgb[i * 3 + k] / 255.0 - kF[k]);
    }
  }
  ASSERT_GT(n, 0);
  EXPECT_LT(estimated / (3 * n), 0.03);
  EXPECT_LT(estimated, copied / 4);
}

TEST(ForegroundTiled, TheResultDoesNotDependOnTheThreadCount) {
  const Composite c = MakeComposite(333, 257, 9);
  std::vector<uint8_t> rgb, alpha, one(c.image.size()), many(c.image.size());
  To8Bit(c, &rgb, &alpha);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  EstimateForegroundTiled(rgb.data(), alpha.data(), c.w, c.h, one.data(), 64, 16);
  omp_set_num_threads(std::max(2, threads));
  EstimateForegroundTiled(rgb.data(), alpha.data(), c.w, c.h, many.data(), 64, 16);
  omp_set_num_threads(threads);
  EXPECT_EQ(one, many);
}

}  // namespace
}  // namespace bgerase::matting
