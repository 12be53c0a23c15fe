// RefineAlpha on images made here, so the true alpha is known: a sure step stays a step, a grey
// region that the photo's colours explain becomes sure (foreground and background alike), a
// soft edge between two colours comes back close to its true ramp, and the result does not
// depend on the thread count.
#include "matting/refine.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <vector>

namespace bgerase::matting {
namespace {

constexpr float kFg[3] = {0.15f, 0.35f, 0.85f};  // the subject: blue
constexpr float kBg[3] = {0.80f, 0.55f, 0.20f};  // the background: orange

struct Photo {
  int w, h;
  std::vector<float> plane[3];
  std::vector<float> truth;  // true alpha
  const float* const* planes() const {
    ptrs[0] = plane[0].data();
    ptrs[1] = plane[1].data();
    ptrs[2] = plane[2].data();
    return ptrs;
  }
  mutable const float* ptrs[3];
};

// I = a F + (1 − a) B for a given true alpha, with a little texture on both sides so no window
// is perfectly flat.
Photo Composite(int w, int h, const std::vector<float>& truth) {
  Photo p{w, h, {}, truth, {}};
  for (auto& c : p.plane) c.resize(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      const float tex = 0.03f * std::sin(0.7f * x) * std::cos(0.5f * y);
      for (int k = 0; k < 3; ++k)
        p.plane[k][i] = truth[i] * (kFg[k] + tex) + (1 - truth[i]) * (kBg[k] - tex);
    }
  }
  return p;
}

// Left of `edge` background, right foreground; `ramp` pixels of linear transition.
std::vector<float> VerticalEdge(int w, int h, float edge, float ramp) {
  std::vector<float> a(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const float v = ramp > 0 ? (x - edge) / ramp + 0.5f : (x >= edge ? 1.0f : 0.0f);
      a[static_cast<size_t>(y) * w + x] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  return a;
}

double MeanAbs(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::fabs(a[i] - b[i]);
  return s / a.size();
}

TEST(RefineAlpha, ASureStepStaysAStep) {
  const int w = 96, h = 64;
  const auto truth = VerticalEdge(w, h, 48, 0);
  const Photo p = Composite(w, h, truth);
  std::vector<float> alpha = truth;
  RefineAlpha(p.planes(), alpha.data(), w, h);
  for (size_t i = 0; i < alpha.size(); ++i) ASSERT_EQ(alpha[i], truth[i]) << i;
}

TEST(RefineAlpha, AGreyRegionThePhotoExplainsBecomesSure) {
  // The model left a 24 x 24 patch of the subject at 0.4 and a patch of background at 0.4;
  // the photo's colours say which is which.
  const int w = 160, h = 96;
  const auto truth = VerticalEdge(w, h, 80, 0);
  const Photo p = Composite(w, h, truth);
  std::vector<float> alpha = truth;
  auto patch = [&](int x0, int y0) {
    for (int y = y0; y < y0 + 24; ++y)
      for (int x = x0; x < x0 + 24; ++x) alpha[static_cast<size_t>(y) * w + x] = 0.4f;
  };
  patch(100, 36);  // over the subject
  patch(30, 36);   // over the background
  RefineAlpha(p.planes(), alpha.data(), w, h);
  for (int y = 36; y < 60; ++y) {
    for (int x = 0; x < 24; ++x) {
      EXPECT_GT(alpha[static_cast<size_t>(y) * w + 100 + x], 0.9f) << x << "," << y;
      EXPECT_LT(alpha[static_cast<size_t>(y) * w + 30 + x], 0.1f) << x << "," << y;
    }
  }
}

TEST(RefineAlpha, ABlurredEdgeComesBackCloseToItsTrueRamp) {
  // The true edge fades over 4 pixels; the model's is blurred over 16 and 3 pixels off.
  const int w = 128, h = 64;
  const auto truth = VerticalEdge(w, h, 64, 4);
  const Photo p = Composite(w, h, truth);
  std::vector<float> alpha = VerticalEdge(w, h, 67, 16);
  const double before = MeanAbs(alpha, truth);
  RefineAlpha(p.planes(), alpha.data(), w, h);
  const double after = MeanAbs(alpha, truth);
  EXPECT_LT(after, 0.5 * before) << before << " -> " << after;
}

TEST(RefineAlpha, TheResultDoesNotDependOnTheThreadCount) {
  const int w = 200, h = 150;  // several bands, a partial last one
  const auto truth = VerticalEdge(w, h, 90, 6);
  const Photo p = Composite(w, h, truth);
  const std::vector<float> start = VerticalEdge(w, h, 95, 20);
  std::vector<float> one = start, many = start;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  RefineAlpha(p.planes(), one.data(), w, h);
  omp_set_num_threads(4);
  RefineAlpha(p.planes(), many.data(), w, h);
  omp_set_num_threads(threads);
  EXPECT_EQ(one, many);
}

}  // namespace
}  // namespace bgerase::matting
