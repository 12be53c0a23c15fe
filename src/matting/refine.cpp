// See refine.h. Two box passes per level: the first fits every window's colour model to its
// confident pixels, the second averages the models over each pixel's windows and blends.
#include "matting/refine.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace bgerase::matting {
namespace {

constexpr int kBand = 64;  // output rows per task of a box pass

inline int Clamp(int v, int lo, int hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

// Box means of K interleaved values per pixel over (2r + 1)² windows, edges replicated.
// fill(y, row) writes row y's w*K values; emit(y, means) receives row y's w*K means. Bands of
// kBand output rows run in parallel, each recomputing its 2r rows of context, so memory is a few
// bands, not the image, and the sums do not depend on the thread count. Accumulators are double:
// the covariances are differences of these means.
template <int K, typename Fill, typename Emit>
void BoxMeans(int w, int h, int r, Fill fill, Emit emit) {
  const int bands = (h + kBand - 1) / kBand;
  const double norm = 1.0 / ((2.0 * r + 1) * (2.0 * r + 1));
#pragma omp parallel
  {
    std::vector<float> src(static_cast<size_t>(w) * K);
    std::vector<float> rows;  // horizontal sums of the band's rows and context
    std::vector<double> acc(static_cast<size_t>(w) * K);
    std::vector<float> out(static_cast<size_t>(w) * K);
#pragma omp for schedule(dynamic)
    for (int band = 0; band < bands; ++band) {
      const int y0 = band * kBand, y1 = std::min(h, y0 + kBand);
      const int first = std::max(0, y0 - r), last = std::min(h - 1, y1 - 1 + r);
      rows.resize(static_cast<size_t>(last - first + 1) * w * K);
      for (int y = first; y <= last; ++y) {
        fill(y, src.data());
        float* dst = rows.data() + static_cast<size_t>(y - first) * w * K;
        double s[K];
        for (int k = 0; k < K; ++k) s[k] = 0;
        for (int t = -r; t <= r; ++t) {
          const float* p = src.data() + static_cast<size_t>(Clamp(t, 0, w - 1)) * K;
          for (int k = 0; k < K; ++k) s[k] += p[k];
        }
        for (int x = 0; x < w; ++x) {
          for (int k = 0; k < K; ++k) dst[x * K + k] = static_cast<float>(s[k]);
          const float* in = src.data() + static_cast<size_t>(Clamp(x + r + 1, 0, w - 1)) * K;
          const float* outp = src.data() + static_cast<size_t>(Clamp(x - r, 0, w - 1)) * K;
          for (int k = 0; k < K; ++k) s[k] += in[k] - outp[k];
        }
      }
      auto row = [&](int y) {
        return rows.data() + static_cast<size_t>(Clamp(y, 0, h - 1) - first) * w * K;
      };
      const size_t n = static_cast<size_t>(w) * K;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int t = y0 - r; t <= y0 + r; ++t) {
        const float* p = row(t);
        for (size_t j = 0; j < n; ++j) acc[j] += p[j];
      }
      for (int y = y0; y < y1; ++y) {
        for (size_t j = 0; j < n; ++j) out[j] = static_cast<float>(acc[j] * norm);
        emit(y, out.data());
        if (y + 1 < y1) {
          const float* in = row(y + r + 1);
          const float* outp = row(y - r);
          for (size_t j = 0; j < n; ++j) acc[j] += static_cast<double>(in[j]) - outp[j];
        }
      }
    }
  }
}

inline float Confidence(float a, float power) {
  const float d = std::fabs(2 * a - 1);
  return power == 2.0f ? d * d : std::pow(d, power);
}

void RefineLevelOnce(const float* const planes[3], float* alpha, int w, int h,
                     const RefineLevel& level, const RefineOptions& o) {
  const size_t n = static_cast<size_t>(w) * h;
  // Per pixel, its window's model weighted by the window's confident mass: W·A (3), W·b, W.
  std::vector<float> model(n * 5);
  BoxMeans<14>(
      w, h, level.radius,
      [&](int y, float* row) {
        for (int x = 0; x < w; ++x) {
          const size_t i = static_cast<size_t>(y) * w + x;
          const float a = alpha[i];
          const float c = Confidence(a, o.confidence_power);
          const float r = planes[0][i], g = planes[1][i], b = planes[2][i];
          float* v = row + x * 14;
          v[0] = c;
          v[1] = c * r;
          v[2] = c * g;
          v[3] = c * b;
          v[4] = c * a;
          v[5] = c * r * r;
          v[6] = c * r * g;
          v[7] = c * r * b;
          v[8] = c * g * g;
          v[9] = c * g * b;
          v[10] = c * b * b;
          v[11] = c * r * a;
          v[12] = c * g * a;
          v[13] = c * b * a;
        }
      },
      [&](int y, const float* m) {
        for (int x = 0; x < w; ++x) {
          const float* v = m + x * 14;
          const double W = v[0] + 1e-6;
          const double mr = v[1] / W, mg = v[2] / W, mb = v[3] / W, ma = v[4] / W;
          const double e = level.epsilon;
          // The window's colour covariance (ridged) and colour–alpha covariance.
          const double s00 = v[5] / W - mr * mr + e, s01 = v[6] / W - mr * mg,
                       s02 = v[7] / W - mr * mb, s11 = v[8] / W - mg * mg + e,
                       s12 = v[9] / W - mg * mb, s22 = v[10] / W - mb * mb + e;
          const double t0 = v[11] / W - mr * ma, t1 = v[12] / W - mg * ma, t2 = v[13] / W - mb * ma;
          // A = S⁻¹ t by the adjugate (S is symmetric positive definite thanks to the ridge).
          const double c00 = s11 * s22 - s12 * s12, c01 = s02 * s12 - s01 * s22,
                       c02 = s01 * s12 - s02 * s11, c11 = s00 * s22 - s02 * s02,
                       c12 = s01 * s02 - s00 * s12, c22 = s00 * s11 - s01 * s01;
          const double det = s00 * c00 + s01 * c01 + s02 * c02;
          const double a0 = (c00 * t0 + c01 * t1 + c02 * t2) / det;
          const double a1 = (c01 * t0 + c11 * t1 + c12 * t2) / det;
          const double a2 = (c02 * t0 + c12 * t1 + c22 * t2) / det;
          const double b = ma - a0 * mr - a1 * mg - a2 * mb;
          float* out = model.data() + (static_cast<size_t>(y) * w + x) * 5;
          out[0] = static_cast<float>(W * a0);
          out[1] = static_cast<float>(W * a1);
          out[2] = static_cast<float>(W * a2);
          out[3] = static_cast<float>(W * b);
          out[4] = static_cast<float>(W);
        }
      });
  BoxMeans<5>(
      w, h, level.radius,
      [&](int y, float* row) {
        std::copy_n(model.data() + static_cast<size_t>(y) * w * 5, static_cast<size_t>(w) * 5, row);
      },
      [&](int y, const float* m) {
        for (int x = 0; x < w; ++x) {
          const size_t i = static_cast<size_t>(y) * w + x;
          const float* v = m + x * 5;
          const float ws = v[4];
          const float fit =
              (v[0] * planes[0][i] + v[1] * planes[1][i] + v[2] * planes[2][i] + v[3]) / ws;
          const float f = fit < 0 ? 0 : fit > 1 ? 1 : fit;
          const float gain = ws * o.evidence_gain;
          const float g = gain > 1 ? 1 : gain;
          const float a = alpha[i];
          const float c = Confidence(a, o.confidence_power);
          alpha[i] = c * a + (1 - c) * (g * f + (1 - g) * a);
        }
      });
}

}  // namespace

void RefineAlpha(const float* const planes[3], float* alpha, int w, int h,
                 const RefineOptions& options) {
  for (const RefineLevel& level : options.levels)
    RefineLevelOnce(planes, alpha, w, h, level, options);
}

}  // namespace bgerase::matting
