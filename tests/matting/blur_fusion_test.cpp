// BlurFusionForeground on 8-bit composites made here, where the true foreground is known, and
// against a direct (slow, whole-image) implementation of the same two formulas.
#include "matting/blur_fusion.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace bgerase::matting {
namespace {

constexpr uint8_t kF[3] = {230, 76, 25};  // the subject's colour

struct Composite8 {
  int w, h;
  std::vector<uint8_t> rgb, alpha;
};

// A disc of colour kF whose edge fades over `ramp` px, over a background that varies across
// the image in every channel; rounded once to 8 bits.
Composite8 MakeComposite(int w, int h, float ramp) {
  Composite8 c{w, h, std::vector<uint8_t>(w * h * 3), std::vector<uint8_t>(w * h)};
  const float cx = (w - 1) / 2.0f, cy = (h - 1) / 2.0f, r = std::min(w, h) / 4.0f;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const int i = y * w + x;
      const float d = std::hypot(x - cx, y - cy);
      const uint8_t a8 =
          static_cast<uint8_t>(std::lround(std::clamp((r + ramp - d) / ramp, 0.0f, 1.0f) * 255));
      const float a = a8 / 255.0f;
      const float b[3] = {255.0f * x / (w - 1), 255.0f * y / (h - 1),
                          50 + 150.0f * (x + y) / (w + h - 2)};
      c.alpha[i] = a8;
      for (int k = 0; k < 3; ++k)
        c.rgb[i * 3 + k] = static_cast<uint8_t>(std::lround(a * kF[k] + (1 - a) * b[k]));
    }
  }
  return c;
}

// Mean |F - kF| / 255 over the pixels with alpha > min_alpha (the ones a cut-out shows).
double MeanError(const Composite8& c, const std::vector<uint8_t>& f, int min_alpha) {
  double e = 0;
  long n = 0;
  for (int i = 0; i < c.w * c.h; ++i) {
    if (c.alpha[i] <= min_alpha || c.alpha[i] == 255) continue;
    for (int k = 0; k < 3; ++k) e += std::abs(f[i * 3 + k] - kF[k]) / 255.0;
    n += 3;
  }
  return n ? e / n : 0;
}

// The estimator written out directly: exact box means over the clipped window, every pixel.
std::vector<uint8_t> Reference(const Composite8& c, int wide, int narrow) {
  const int w = c.w, h = c.h, n = w * h;
  std::vector<float> image(n * 3), a(n);
  for (int i = 0; i < n; ++i) {
    a[i] = c.alpha[i] / 255.0f;
    for (int k = 0; k < 3; ++k) image[i * 3 + k] = c.rgb[i * 3 + k] / 255.0f;
  }
  auto pass = [&](const std::vector<float>& f_in, const std::vector<float>& b_in, int r,
                  std::vector<float>& f_out, std::vector<float>& b_out) {
    f_out.assign(n * 3, 0);
    b_out.assign(n * 3, 0);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        double sa = 0, sb = 0, fa[3] = {0, 0, 0}, bb[3] = {0, 0, 0};
        int count = 0;
        for (int v = std::max(0, y - r); v <= std::min(h - 1, y + r); ++v) {
          for (int u = std::max(0, x - r); u <= std::min(w - 1, x + r); ++u) {
            const int j = v * w + u;
            ++count;
            sa += a[j];
            sb += 1 - a[j];
            for (int k = 0; k < 3; ++k) {
              fa[k] += a[j] * f_in[j * 3 + k];
              bb[k] += (1 - a[j]) * b_in[j * 3 + k];
            }
          }
        }
        const int i = y * w + x;
        for (int k = 0; k < 3; ++k) {
          const double fm = fa[k] / count / (sa / count + 1e-5);
          const double bm = bb[k] / count / (sb / count + 1e-5);
          f_out[i * 3 + k] = static_cast<float>(
              std::clamp(fm + a[i] * (image[i * 3 + k] - a[i] * fm - (1 - a[i]) * bm), 0.0, 1.0));
          b_out[i * 3 + k] = static_cast<float>(bm);
        }
      }
    }
  };
  std::vector<float> f1, b1, f2, b2;
  pass(image, image, wide, f1, b1);
  pass(f1, b1, narrow, f2, b2);
  std::vector<uint8_t> out = c.rgb;
  for (int i = 0; i < n; ++i) {
    if (c.alpha[i] == 0 || c.alpha[i] == 255) continue;
    for (int k = 0; k < 3; ++k) out[i * 3 + k] = static_cast<uint8_t>(std::lround(f2[i * 3 + k] * 255));
  }
  return out;
}

TEST(BlurFusion, MatchesTheFormulasWrittenOutDirectly) {
  // A wide radius small enough for one-pixel cells: the fast path's means are exact then, so
  // only float rounding may differ (at most one 8-bit level).
  const Composite8 c = MakeComposite(90, 70, 6);
  BlurFusionOptions o;
  o.wide_radius = 5;
  o.narrow_radius = 2;
  std::vector<uint8_t> fast(c.rgb.size());
  const long long n = BlurFusionForeground(c.rgb.data(), c.alpha.data(), c.w, c.h, fast.data(), o);
  EXPECT_GT(n, 100);
  const std::vector<uint8_t> slow = Reference(c, o.wide_radius, o.narrow_radius);
  int worst = 0;
  for (size_t i = 0; i < fast.size(); ++i) worst = std::max(worst, std::abs(fast[i] - slow[i]));
  EXPECT_LE(worst, 1);
}

TEST(BlurFusion, RecoversAConstantForegroundUnderSoftAlpha) {
  const Composite8 c = MakeComposite(400, 300, 12);
  std::vector<uint8_t> f(c.rgb.size());
  BlurFusionForeground(c.rgb.data(), c.alpha.data(), c.w, c.h, f.data());
  // Where the subject shows at least a little (alpha > 10 %), the estimate is close to its true
  // colour, and several times closer than the photo's mixed colour.
  const double estimated = MeanError(c, f, 25), copied = MeanError(c, c.rgb, 25);
  EXPECT_LT(estimated, 0.03);
  EXPECT_LT(estimated, copied / 4) << "copied " << copied;
}

TEST(BlurFusion, LeavesSurePixelsAndCountsTheSoftOnes) {
  const Composite8 c = MakeComposite(200, 160, 5);
  std::vector<uint8_t> f(c.rgb.size());
  const long long n = BlurFusionForeground(c.rgb.data(), c.alpha.data(), c.w, c.h, f.data());
  long long soft = 0;
  for (int i = 0; i < c.w * c.h; ++i) {
    if (c.alpha[i] != 0 && c.alpha[i] != 255) {
      ++soft;
      continue;
    }
    for (int k = 0; k < 3; ++k) ASSERT_EQ(f[i * 3 + k], c.rgb[i * 3 + k]) << "pixel " << i;
  }
  EXPECT_EQ(n, soft);
}

TEST(BlurFusion, AHardMaskChangesNothing) {
  Composite8 c = MakeComposite(130, 100, 5);
  for (auto& a : c.alpha) a = a >= 128 ? 255 : 0;
  std::vector<uint8_t> f(c.rgb.size(), 7);
  EXPECT_EQ(BlurFusionForeground(c.rgb.data(), c.alpha.data(), c.w, c.h, f.data()), 0);
  EXPECT_EQ(f, c.rgb);
}

TEST(BlurFusion, TheResultDoesNotDependOnTheThreadCount) {
  const Composite8 c = MakeComposite(333, 257, 9);
  std::vector<uint8_t> one(c.rgb.size()), many(c.rgb.size());
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  BlurFusionForeground(c.rgb.data(), c.alpha.data(), c.w, c.h, one.data());
  omp_set_num_threads(std::max(2, threads));
  BlurFusionForeground(c.rgb.data(), c.alpha.data(), c.w, c.h, many.data());
  omp_set_num_threads(threads);
  EXPECT_EQ(one, many);
}

TEST(BlurFusion, OnePixelAndThinImages) {
  for (auto [w, h] : {std::pair{1, 1}, std::pair{1, 50}, std::pair{77, 1}}) {
    std::vector<uint8_t> rgb(w * h * 3, 100), alpha(w * h, 128), out(rgb.size());
    EXPECT_EQ(BlurFusionForeground(rgb.data(), alpha.data(), w, h, out.data()), w * h);
    // A uniform photo under uniform alpha: F = B = the photo's colour.
    for (uint8_t v : out) EXPECT_NEAR(v, 100, 1);
  }
}

}  // namespace
}  // namespace bgerase::matting
