// EstimateForeground (foreground.h): the multi-level solve.
#include "matting/foreground.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "matting/soft_tiles.h"

namespace bgerase::matting {
namespace {

// Nearest-neighbour resampling of a plane with `c` interleaved channels.
void ResizeNearest(const float* src, int sw, int sh, int c, float* dst, int dw, int dh) {
  for (int y = 0; y < dh; ++y) {
    const int sy = std::min(sh - 1, static_cast<int>((static_cast<long long>(y) * sh) / dh));
    for (int x = 0; x < dw; ++x) {
      const int sx = std::min(sw - 1, static_cast<int>((static_cast<long long>(x) * sw) / dw));
      const float* s = src + (static_cast<std::size_t>(sy) * sw + sx) * c;
      float* d = dst + (static_cast<std::size_t>(y) * dw + x) * c;
      for (int k = 0; k < c; ++k) d[k] = s[k];
    }
  }
}

// One Gauss-Seidel update of the pixels with (x + y) % 2 == parity, in place; with `active`, only
// of the pixels it marks.
void Sweep(const float* image, const float* alpha, int w, int h, float eps, float gw, int parity,
           const uint8_t* active, float* fg, float* bg) {
  const bool parallel = static_cast<long long>(w) * h > 65536;
#pragma omp parallel for schedule(static) if (parallel)
  for (int y = 0; y < h; ++y) {
    const int ys[4] = {y, y, std::max(0, y - 1), std::min(h - 1, y + 1)};
    for (int x = (y + parity) & 1; x < w; x += 2) {
      const std::size_t i = static_cast<std::size_t>(y) * w + x;
      if (active && !active[i]) continue;
      const int xs[4] = {std::max(0, x - 1), std::min(w - 1, x + 1), x, x};
      const float a0 = alpha[i], a1 = 1.0f - a0;
      float a00 = a0 * a0, a11 = a1 * a1;
      const float a01 = a0 * a1;
      float b0[3], b1[3];
      for (int k = 0; k < 3; ++k) {
        b0[k] = a0 * image[i * 3 + k];
        b1[k] = a1 * image[i * 3 + k];
      }
      for (int n = 0; n < 4; ++n) {
        const std::size_t j = static_cast<std::size_t>(ys[n]) * w + xs[n];
        const float d = eps + gw * std::fabs(a0 - alpha[j]);
        a00 += d;
        a11 += d;
        for (int k = 0; k < 3; ++k) {
          b0[k] += d * fg[j * 3 + k];
          b1[k] += d * bg[j * 3 + k];
        }
      }
      // The 2x2 normal equations [a00 a01; a01 a11] [F; B] = [b0; b1], per channel.
      const float inv = 1.0f / (a00 * a11 - a01 * a01);
      for (int k = 0; k < 3; ++k) {
        fg[i * 3 + k] = std::clamp((a11 * b0[k] - a01 * b1[k]) * inv, 0.0f, 1.0f);
        bg[i * 3 + k] = std::clamp((a00 * b1[k] - a01 * b0[k]) * inv, 0.0f, 1.0f);
      }
    }
  }
}

// Alpha this close to 0 or 1 is sure: at most half a step of an 8-bit output away.
constexpr float kSure = 1.0f / 512;

bool Unsure(float a) {
  return a > kSure && a < 1 - kSure;
}

// The pixels within `radius` (Chebyshev) of an unsure one: the only ones whose F or B can still
// change the cut-out. Separable: a distance along each row, then along each column.
std::vector<uint8_t> UnsureBand(const float* alpha, int w, int h, int radius) {
  std::vector<uint8_t> rows(static_cast<std::size_t>(w) * h), band(rows.size());
#pragma omp parallel for schedule(static)
  for (int y = 0; y < h; ++y) {
    const float* a = alpha + static_cast<std::size_t>(y) * w;
    uint8_t* out = rows.data() + static_cast<std::size_t>(y) * w;
    int last = -radius - 1;  // the nearest unsure x on the left; then on the right
    for (int x = 0; x < w; ++x) {
      if (Unsure(a[x])) last = x;
      out[x] = x - last <= radius;
    }
    last = w + radius;
    for (int x = w - 1; x >= 0; --x) {
      if (Unsure(a[x])) last = x;
      out[x] |= last - x <= radius;
    }
  }
#pragma omp parallel for schedule(static)
  for (int x = 0; x < w; ++x) {
    int last = -radius - 1;
    for (int y = 0; y < h; ++y) {
      if (rows[static_cast<std::size_t>(y) * w + x]) last = y;
      band[static_cast<std::size_t>(y) * w + x] = y - last <= radius;
    }
    last = h + radius;
    for (int y = h - 1; y >= 0; --y) {
      if (rows[static_cast<std::size_t>(y) * w + x]) last = y;
      band[static_cast<std::size_t>(y) * w + x] |= last - y <= radius;
    }
  }
  return band;
}

}  // namespace

ForegroundResult EstimateForeground(const float* image, const float* alpha, int w, int h,
                                    const ForegroundOptions& o) {
  // Level sizes grow geometrically from 1x1 to w x h.
  const int levels = static_cast<int>(std::ceil(std::log2(std::max({w, h, 2}))));
  std::vector<float> fg(3, 0.0f), bg(3, 0.0f), level_image, level_alpha, up;
  // The coarsest F and B start as the mean colour: nothing is known yet.
  {
    double sum[3] = {0, 0, 0};
    const std::size_t n = static_cast<std::size_t>(w) * h;
    for (std::size_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) sum[k] += image[i * 3 + k];
    for (int k = 0; k < 3; ++k) fg[k] = bg[k] = static_cast<float>(sum[k] / static_cast<double>(n));
  }
  int pw = 1, ph = 1;
  for (int l = 0; l <= levels; ++l) {
    const double t = static_cast<double>(l) / levels;
    const int lw = std::max(1, static_cast<int>(std::lround(std::pow(w, t))));
    const int lh = std::max(1, static_cast<int>(std::lround(std::pow(h, t))));
    const std::size_t n = static_cast<std::size_t>(lw) * lh;
    const float* li = image;
    const float* la = alpha;
    if (lw != w || lh != h) {
      level_image.resize(n * 3);
      level_alpha.resize(n);
      ResizeNearest(image, w, h, 3, level_image.data(), lw, lh);
      ResizeNearest(alpha, w, h, 1, level_alpha.data(), lw, lh);
      li = level_image.data();
      la = level_alpha.data();
    }
    if (lw != pw || lh != ph) {
      up.resize(n * 3);
      ResizeNearest(fg.data(), pw, ph, 3, up.data(), lw, lh);
      fg.swap(up);
      up.resize(n * 3);
      ResizeNearest(bg.data(), pw, ph, 3, up.data(), lw, lh);
      bg.swap(up);
    }
    const int iterations =
        lw <= o.small_size && lh <= o.small_size ? o.small_iterations : o.big_iterations;
    // On the large levels only the band around unsure alpha is solved: a pixel further away
    // than the sweeps can carry a change is sure, and takes the photo's colour as its F (alpha
    // near 1) or B (near 0). So the cost follows the unsure area, not the photo's size.
    std::vector<uint8_t> band;
    if (static_cast<long long>(n) > o.band_from_pixels) {
      band = UnsureBand(la, lw, lh, 2 * iterations + 1);
      for (std::size_t i = 0; i < n; ++i) {
        if (band[i]) continue;
        float* sure = la[i] >= 0.5f ? fg.data() : bg.data();
        for (int k = 0; k < 3; ++k) sure[i * 3 + k] = li[i * 3 + k];
      }
    }
    const uint8_t* active = band.empty() ? nullptr : band.data();
    for (int it = 0; it < iterations; ++it) {
      Sweep(li, la, lw, lh, o.regularization, o.gradient_weight, 0, active, fg.data(), bg.data());
      Sweep(li, la, lw, lh, o.regularization, o.gradient_weight, 1, active, fg.data(), bg.data());
    }
    pw = lw;
    ph = lh;
  }
  return {std::move(fg), std::move(bg)};
}

long long EstimateForegroundTiled(const uint8_t* rgb, const uint8_t* alpha, int w, int h,
                                  uint8_t* out, int tile, int halo, const ForegroundOptions& o) {
  std::memcpy(out, rgb, static_cast<size_t>(w) * h * 3);
  tile = std::max(1, tile);
  halo = std::max(0, halo);
  const int tx = (w + tile - 1) / tile;
  const std::vector<int> blocks = SoftTiles(alpha, w, h, tile);
  long long estimated = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : estimated)
  for (size_t n = 0; n < blocks.size(); ++n) {
    const int x0 = blocks[n] % tx * tile, y0 = blocks[n] / tx * tile;
    const int x1 = std::min(w, x0 + tile), y1 = std::min(h, y0 + tile);
    const int hx0 = std::max(0, x0 - halo), hy0 = std::max(0, y0 - halo);
    const int hw = std::min(w, x1 + halo) - hx0, hh = std::min(h, y1 + halo) - hy0;
    std::vector<float> image(static_cast<size_t>(hw) * hh * 3), a(static_cast<size_t>(hw) * hh);
    for (int y = 0; y < hh; ++y) {
      const size_t src = static_cast<size_t>(hy0 + y) * w + hx0, dst = static_cast<size_t>(y) * hw;
      for (int x = 0; x < hw; ++x) {
        a[dst + x] = alpha[src + x] * (1.0f / 255);
        for (int k = 0; k < 3; ++k)
          image[(dst + x) * 3 + k] = rgb[(src + x) * 3 + k] * (1.0f / 255);
      }
    }
    const ForegroundResult r = EstimateForeground(image.data(), a.data(), hw, hh, o);
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) {
        const size_t p = static_cast<size_t>(y) * w + x;
        if (!SoftAlpha(alpha[p])) continue;
        const size_t q = static_cast<size_t>(y - hy0) * hw + (x - hx0);
        for (int k = 0; k < 3; ++k)
          out[p * 3 + k] = static_cast<uint8_t>(std::lround(r.foreground[q * 3 + k] * 255));
        ++estimated;
      }
    }
  }
  return estimated;
}

}  // namespace bgerase::matting
