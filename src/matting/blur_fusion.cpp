// BlurFusionForeground (blur_fusion.h).
#include "matting/blur_fusion.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "matting/soft_tiles.h"

namespace bgerase::matting {
namespace {

constexpr int kTile = 32;         // the narrow pass works tile by tile, on tiles with soft alpha
constexpr int kCellsAcross = 13;  // the wide window spans this many coarse cells
constexpr float kEps = 1e-5f;     // as the paper: keeps a mean defined where a weight is ~0
constexpr int kMeans = 8;         // a, a I (3), 1 - a, (1 - a) I (3)

// The wide pass's local means, on a grid of cell centres: each is the mean of kMeans values over
// the window of cells around it (clipped at the image's border), from a summed-area table.
struct WideMeans {
  int cell = 1, gx = 0, gy = 0;
  std::vector<float> at;  // gy * gx * kMeans

  // The means at pixel (x, y): bilinear between the four nearest cell centres.
  void Sample(int x, int y, float* m) const {
    const float fx = (x + 0.5f) / cell - 0.5f, fy = (y + 0.5f) / cell - 0.5f;
    const int i0 = std::clamp(static_cast<int>(std::floor(fx)), 0, gx - 1);
    const int j0 = std::clamp(static_cast<int>(std::floor(fy)), 0, gy - 1);
    const int i1 = std::min(i0 + 1, gx - 1), j1 = std::min(j0 + 1, gy - 1);
    const float tx = std::clamp(fx - i0, 0.0f, 1.0f), ty = std::clamp(fy - j0, 0.0f, 1.0f);
    const float* a = &at[(static_cast<size_t>(j0) * gx + i0) * kMeans];
    const float* b = &at[(static_cast<size_t>(j0) * gx + i1) * kMeans];
    const float* c = &at[(static_cast<size_t>(j1) * gx + i0) * kMeans];
    const float* d = &at[(static_cast<size_t>(j1) * gx + i1) * kMeans];
    for (int q = 0; q < kMeans; ++q) {
      const float top = a[q] + tx * (b[q] - a[q]), bottom = c[q] + tx * (d[q] - c[q]);
      m[q] = top + ty * (bottom - top);
    }
  }
};

WideMeans ComputeWideMeans(const uint8_t* rgb, const uint8_t* alpha, int w, int h, int radius) {
  WideMeans wm;
  // Cells of c pixels, the window k cells each side: (2k + 1) c ~ 2 radius + 1. A small radius
  // gets one-pixel cells, so the window is exact.
  wm.cell = std::max(1, static_cast<int>(std::lround((2.0 * radius + 1) / kCellsAcross)));
  const int k = wm.cell == 1 ? radius : kCellsAcross / 2;
  const int c = wm.cell;
  wm.gx = (w + c - 1) / c;
  wm.gy = (h + c - 1) / c;
  const int gx = wm.gx, gy = wm.gy;
  const size_t stride = static_cast<size_t>(gx + 1) * kMeans;
  // sat[(j + 1) * stride + (i + 1) * kMeans + q]: first each cell's own sums, then prefix sums.
  std::vector<double> sat(static_cast<size_t>(gy + 1) * stride, 0.0);
#pragma omp parallel for schedule(static)
  for (int j = 0; j < gy; ++j) {
    double* row = &sat[(j + 1) * stride + kMeans];
    for (int y = j * c; y < std::min(h, (j + 1) * c); ++y) {
      const uint8_t* p = rgb + static_cast<size_t>(y) * w * 3;
      const uint8_t* al = alpha + static_cast<size_t>(y) * w;
      for (int i = 0; i < gx; ++i) {
        float s[kMeans] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int x = i * c; x < std::min(w, (i + 1) * c); ++x) {
          const float a = al[x] * (1.0f / 255), b = 1.0f - a;
          const float r = p[x * 3] * (1.0f / 255), g = p[x * 3 + 1] * (1.0f / 255),
                      bl = p[x * 3 + 2] * (1.0f / 255);
          s[0] += a;
          s[1] += a * r;
          s[2] += a * g;
          s[3] += a * bl;
          s[4] += b;
          s[5] += b * r;
          s[6] += b * g;
          s[7] += b * bl;
        }
        for (int q = 0; q < kMeans; ++q) row[i * kMeans + q] += s[q];
      }
    }
  }
  for (int j = 1; j <= gy; ++j)
    for (int i = 1; i <= gx; ++i)
      for (int q = 0; q < kMeans; ++q)
        sat[j * stride + i * kMeans + q] += sat[(j - 1) * stride + i * kMeans + q] +
                                            sat[j * stride + (i - 1) * kMeans + q] -
                                            sat[(j - 1) * stride + (i - 1) * kMeans + q];
  wm.at.resize(static_cast<size_t>(gy) * gx * kMeans);
#pragma omp parallel for schedule(static)
  for (int j = 0; j < gy; ++j) {
    const int j0 = std::max(0, j - k), j1 = std::min(gy, j + k + 1);
    const double rows = std::min(h, j1 * c) - j0 * c;
    for (int i = 0; i < gx; ++i) {
      const int i0 = std::max(0, i - k), i1 = std::min(gx, i + k + 1);
      const double n = rows * (std::min(w, i1 * c) - i0 * c);
      float* m = &wm.at[(static_cast<size_t>(j) * gx + i) * kMeans];
      for (int q = 0; q < kMeans; ++q) {
        const double sum = sat[j1 * stride + i1 * kMeans + q] - sat[j0 * stride + i1 * kMeans + q] -
                           sat[j1 * stride + i0 * kMeans + q] + sat[j0 * stride + i0 * kMeans + q];
        m[q] = static_cast<float>(sum / n);
      }
    }
  }
  return wm;
}

// F = Fm + a (I - a Fm - (1 - a) Bm), clipped to [0, 1]; Fm and Bm from the weighted means.
inline void Fuse(const float* image, float a, const float* m, float* f, float* bm) {
  for (int ch = 0; ch < 3; ++ch) {
    const float fm = m[1 + ch] / (m[0] + kEps), b = m[5 + ch] / (m[4] + kEps);
    f[ch] = std::clamp(fm + a * (image[ch] - a * fm - (1 - a) * b), 0.0f, 1.0f);
    if (bm) bm[ch] = b;
  }
}

}  // namespace

long long BlurFusionForeground(const uint8_t* rgb, const uint8_t* alpha, int w, int h, uint8_t* out,
                               const BlurFusionOptions& o) {
  std::memcpy(out, rgb, static_cast<size_t>(w) * h * 3);
  const int tx = (w + kTile - 1) / kTile;
  const std::vector<int> tiles = SoftTiles(alpha, w, h, kTile);
  if (tiles.empty()) return 0;
  const WideMeans wide = ComputeWideMeans(rgb, alpha, w, h, o.wide_radius);
  const int r = std::max(0, o.narrow_radius);
  long long estimated = 0;
#pragma omp parallel reduction(+ : estimated)
  {
    // Per thread: the halo's kMeans narrow-pass inputs, and their sums along rows.
    std::vector<float> in, across;
#pragma omp for schedule(dynamic, 4)
    for (size_t n = 0; n < tiles.size(); ++n) {
      const int x0 = tiles[n] % tx * kTile, y0 = tiles[n] / tx * kTile;
      const int x1 = std::min(w, x0 + kTile), y1 = std::min(h, y0 + kTile);
      const int hx0 = std::max(0, x0 - r), hy0 = std::max(0, y0 - r);
      const int hx1 = std::min(w, x1 + r), hy1 = std::min(h, y1 + r);
      const int hw = hx1 - hx0, hh = hy1 - hy0, tw = x1 - x0;
      // The wide pass at every halo pixel: its F and Bm, weighted for the narrow means.
      in.resize(static_cast<size_t>(hw) * hh * kMeans);
      for (int y = hy0; y < hy1; ++y) {
        for (int x = hx0; x < hx1; ++x) {
          const size_t p = static_cast<size_t>(y) * w + x;
          const float a = alpha[p] * (1.0f / 255), b = 1 - a;
          float image[3], m[kMeans], f[3], bm[3];
          for (int ch = 0; ch < 3; ++ch) image[ch] = rgb[p * 3 + ch] * (1.0f / 255);
          wide.Sample(x, y, m);
          Fuse(image, a, m, f, bm);
          float* v = &in[(static_cast<size_t>(y - hy0) * hw + (x - hx0)) * kMeans];
          v[0] = a;
          v[4] = b;
          for (int ch = 0; ch < 3; ++ch) {
            v[1 + ch] = a * f[ch];
            v[5 + ch] = b * bm[ch];
          }
        }
      }
      // Narrow box sums: along each halo row for the tile's columns, then down the columns.
      across.resize(static_cast<size_t>(tw) * hh * kMeans);
      for (int y = 0; y < hh; ++y) {
        for (int x = x0; x < x1; ++x) {
          float s[kMeans] = {0, 0, 0, 0, 0, 0, 0, 0};
          for (int u = std::max(hx0, x - r); u <= std::min(hx1 - 1, x + r); ++u) {
            const float* v = &in[(static_cast<size_t>(y) * hw + (u - hx0)) * kMeans];
            for (int q = 0; q < kMeans; ++q) s[q] += v[q];
          }
          std::copy(s, s + kMeans, &across[(static_cast<size_t>(y) * tw + (x - x0)) * kMeans]);
        }
      }
      for (int y = y0; y < y1; ++y) {
        for (int x = x0; x < x1; ++x) {
          const size_t p = static_cast<size_t>(y) * w + x;
          if (!SoftAlpha(alpha[p])) continue;
          float m[kMeans] = {0, 0, 0, 0, 0, 0, 0, 0};
          const int v0 = std::max(hy0, y - r), v1 = std::min(hy1 - 1, y + r);
          for (int v = v0; v <= v1; ++v) {
            const float* s = &across[(static_cast<size_t>(v - hy0) * tw + (x - x0)) * kMeans];
            for (int q = 0; q < kMeans; ++q) m[q] += s[q];
          }
          const float count = static_cast<float>(
              (v1 - v0 + 1) * (std::min(hx1 - 1, x + r) - std::max(hx0, x - r) + 1));
          for (int q = 0; q < kMeans; ++q) m[q] /= count;
          float image[3], f[3];
          for (int ch = 0; ch < 3; ++ch) image[ch] = rgb[p * 3 + ch] * (1.0f / 255);
          Fuse(image, alpha[p] * (1.0f / 255), m, f, nullptr);
          for (int ch = 0; ch < 3; ++ch)
            out[p * 3 + ch] = static_cast<uint8_t>(std::lround(f[ch] * 255));
          ++estimated;
        }
      }
    }
  }
  return estimated;
}

}  // namespace bgerase::matting
