// Pixel work between decode and encode: the model's input tensor, the mask at output
// resolution, and the composed cutout.
#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "common/clones.h"
#include "imaging/imaging.h"

namespace bgerase::imaging {
namespace {

using vips::VImage;

// libvips rounds output sizes; callers need exactly w x h.
VImage ExactSize(VImage im, int w, int h) {
  if (im.width() > w || im.height() > h) {
    im = im.extract_area(0, 0, std::min(w, im.width()), std::min(h, im.height()));
  }
  if (im.width() < w || im.height() < h) {
    im = im.embed(0, 0, w, h, VImage::option()->set("extend", VIPS_EXTEND_COPY));
  }
  return im;
}

// Resizes to exactly w x h, not keeping the aspect ratio. gap 0: the kernel itself does all of
// the shrinking (no box pre-shrink), which is both the higher-quality and, from an image in
// memory, the faster path.
VImage ResizeTo(const VImage& im, int w, int h, VipsKernel kernel) {
  if (im.width() == w && im.height() == h) return im;
  // libvips' resize fails for shrink factors in the thousands (a 3,000,000 x 1 strip to 1024
  // wide). Past a factor of 100 (never a photo: 50 MP to 1024 is 8), a box shrink by an integer
  // factor first leaves the kernel a factor of about 8.
  auto pre = [](int from, int to) { return from > to * 100 ? from / (to * 8) : 1; };
  const int hpre = pre(im.width(), w);
  const int vpre = pre(im.height(), h);
  const VImage src = hpre > 1 || vpre > 1 ? im.shrink(hpre, vpre) : im;
  const double hscale = static_cast<double>(w) / src.width();
  const double vscale = static_cast<double>(h) / src.height();
  return ExactSize(
      src.resize(hscale,
                 VImage::option()->set("vscale", vscale)->set("kernel", kernel)->set("gap", 0.0)),
      w, h);
}

// An RGBA uchar image resized to w x h on premultiplied colour, so the colour of invisible pixels
// cannot bleed into visible ones.
VImage ResizeRgba(const VImage& rgba, int w, int h) {
  if (rgba.width() == w && rgba.height() == h) return rgba;
  return ResizeTo(rgba.premultiply(), w, h, VIPS_KERNEL_LANCZOS3)
      .unpremultiply()
      .linear(1.0, 0.5)
      .cast(VIPS_FORMAT_UCHAR)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

// Where output pixel i (of `out`) samples a source of `in` pixels, pixel centres aligned.
float SourcePosition(int i, int out, int in) {
  return std::clamp((i + 0.5f) * static_cast<float>(in) / static_cast<float>(out) - 0.5f, 0.0f,
                    static_cast<float>(in - 1));
}

// For each of `out` output columns, the two source columns (of `in`) and the weight of the second.
struct BilinearTaps {
  BilinearTaps(int out, int in) : x0(out), x1(out), fx(out) {
    for (int x = 0; x < out; ++x) {
      const float sx = SourcePosition(x, out, in);
      x0[x] = static_cast<int>(sx);
      x1[x] = std::min(x0[x] + 1, in - 1);
      fx[x] = sx - static_cast<float>(x0[x]);
    }
  }
  std::vector<int> x0, x1;
  std::vector<float> fx;
};

}  // namespace

engine::Tensor ModelInput(const DecodedImage& im, int size, ResizeKernel kernel) {
  try {
    VImage small;
    const double hshrink = static_cast<double>(im.rgb.width()) / size;
    const double vshrink = static_cast<double>(im.rgb.height()) / size;
    if (kernel == ResizeKernel::kArea && hshrink >= 1 && vshrink >= 1) {
      small = ExactSize(im.rgb.shrink(hshrink, vshrink), size, size);
    } else {
      small = ResizeTo(im.rgb, size, size,
                       kernel == ResizeKernel::kArea ? VIPS_KERNEL_CUBIC : VIPS_KERNEL_LANCZOS3);
    }
    size_t length = 0;
    auto* pixels = static_cast<uint8_t*>(small.write_to_memory(&length));
    const size_t plane = static_cast<size_t>(size) * size;
    engine::Tensor t(engine::DType::kFloat32, {1, 3, size, size});
    if (length == plane * 3) {
      float lut[256];
      for (int v = 0; v < 256; ++v) lut[v] = (v / 255.0f - 0.5f) / 1.0f;  // the model's training
      float* r = t.data<float>();
      float* g = r + plane;
      float* b = g + plane;
      for (size_t i = 0; i < plane; ++i) {
        r[i] = lut[pixels[3 * i]];
        g[i] = lut[pixels[3 * i + 1]];
        b[i] = lut[pixels[3 * i + 2]];
      }
    }
    g_free(pixels);
    if (length != plane * 3) return {};
    return t;
  } catch (const vips::VError&) {
    vips_error_clear();
    return {};
  }
}

VImage MaskToAlpha(const float* mask, int mw, int mh, int w, int h) {
  // Plain bilinear with pixel centres aligned, written straight into the output plane: several
  // times faster than libvips' general affine path for a 1024^2 -> 50 MP enlargement.
  const BilinearTaps taps(w, mw);
  const std::vector<int>& x0 = taps.x0;
  const std::vector<int>& x1 = taps.x1;
  const std::vector<float>& fx = taps.fx;
  auto* plane = static_cast<uint8_t*>(g_malloc(static_cast<size_t>(w) * h));
  std::vector<float> row(mw);
  for (int y = 0; y < h; ++y) {
    const float sy = SourcePosition(y, h, mh);
    const int y0 = static_cast<int>(sy), y1 = std::min(y0 + 1, mh - 1);
    const float fy = sy - static_cast<float>(y0);
    const float* r0 = mask + static_cast<size_t>(y0) * mw;
    const float* r1 = mask + static_cast<size_t>(y1) * mw;
    for (int x = 0; x < mw; ++x) row[x] = r0[x] + (r1[x] - r0[x]) * fy;
    uint8_t* out = plane + static_cast<size_t>(y) * w;
    for (int x = 0; x < w; ++x) {
      const float v = row[x0[x]] + (row[x1[x]] - row[x0[x]]) * fx[x];
      out[x] = static_cast<uint8_t>(std::clamp(v, 0.0f, 1.0f) * 255.0f + 0.5f);
    }
  }
  return VImage::new_from_memory_steal(plane, static_cast<size_t>(w) * h, w, h, 1,
                                       VIPS_FORMAT_UCHAR)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_B_W));
}

namespace {

// One plane at the mask's resolution, row-major.
using Plane = std::vector<float>;

// Box means over (2r+1)² windows clipped at the borders (each mean divides by the pixels it saw),
// of C interleaved channels, fed one row at a time: only 2r+2 rows are held, so the guided
// filter's thirteen statistics never exist as whole planes. Sums are kept in double so
// thousands of additions and subtractions do not drift.
class RunningBoxMean {
 public:
  RunningBoxMean(int channels, int w, int h, int r)
      : c_(channels),
        w_(w),
        h_(h),
        r_(r),
        ring_(static_cast<size_t>(2 * r + 2) * c_ * w),
        sum_(static_cast<size_t>(c_) * w, 0.0),
        row_(static_cast<size_t>(c_) * w),
        run_(c_),
        inv_width_(w) {
    for (int x = 0; x < w; ++x) {
      inv_width_[x] = 1.0 / (std::min(x + r, w - 1) - std::max(x - r, 0) + 1);
    }
  }

  // Feeds the next row (C·w interleaved values); calls emit(y, means) for each row of means it
  // completes, in order, the last ones when the h-th row comes.
  template <typename Emit>
  void Push(const float* in, Emit&& emit) {
    float* slot = Slot(pushed_);
    // Horizontal means, clipped at the ends.
    std::fill(run_.begin(), run_.end(), 0.0);
    for (int x = 0; x < std::min(r_, w_); ++x) {
      for (int c = 0; c < c_; ++c) run_[c] += in[x * c_ + c];
    }
    for (int x = 0; x < w_; ++x) {
      const float* enter = x + r_ < w_ ? in + static_cast<size_t>(x + r_) * c_ : nullptr;
      const float* leave = x - r_ - 1 >= 0 ? in + static_cast<size_t>(x - r_ - 1) * c_ : nullptr;
      for (int c = 0; c < c_; ++c) {
        if (enter) run_[c] += enter[c];
        if (leave) run_[c] -= leave[c];
        slot[x * c_ + c] = static_cast<float>(run_[c] * inv_width_[x]);
      }
    }
    for (size_t i = 0; i < sum_.size(); ++i) sum_[i] += slot[i];
    ++pushed_;
    if (pushed_ - 1 - r_ >= 0) EmitRow(pushed_ - 1 - r_, emit);
    if (pushed_ == h_) {
      while (emitted_ < h_) EmitRow(emitted_, emit);
    }
  }

 private:
  float* Slot(int y) { return ring_.data() + static_cast<size_t>(y % (2 * r_ + 2)) * c_ * w_; }

  template <typename Emit>
  void EmitRow(int y, Emit& emit) {
    for (; removed_ < y - r_; ++removed_) {
      const float* old = Slot(removed_);
      for (size_t i = 0; i < sum_.size(); ++i) sum_[i] -= old[i];
    }
    const double inv = 1.0 / (std::min(y + r_, h_ - 1) - std::max(y - r_, 0) + 1);
    for (size_t i = 0; i < sum_.size(); ++i) row_[i] = static_cast<float>(sum_[i] * inv);
    emit(y, row_.data());
    emitted_ = y + 1;
  }

  int c_, w_, h_, r_;
  std::vector<float> ring_;
  std::vector<double> sum_;
  std::vector<float> row_;
  std::vector<double> run_, inv_width_;
  int pushed_ = 0, emitted_ = 0, removed_ = 0;
};

// Calls visit(y, row) for rows [begin, end) of a 3-band uchar image, top to bottom, reading strips
// through a region so a lazy image is computed a strip at a time and a memory image is not copied.
template <typename Visit>
void ForEachRow(const VImage& im, int begin, int end, Visit visit) {
  constexpr int kStrip = 32;
  vips::VRegion region = vips::VRegion::new_from_image(im);
  for (int top = begin; top < end; top += kStrip) {
    const int n = std::min(kStrip, end - top);
    region.prepare(0, top, im.width(), n);
    for (int y = top; y < top + n; ++y) visit(y, static_cast<const uint8_t*>(region.addr(0, y)));
  }
}

// Runs body(0, split) here and body(split, n) on a second thread when libvips may use more than
// one: the full-resolution passes run while the model is idle, and on 2 cores the second half
// would otherwise wait. Rethrows what either half threw.
template <typename Body>
void InTwo(int n, int split, Body body) {
  if (vips_concurrency_get() < 2 || split <= 0 || split >= n) {
    body(0, n);
    return;
  }
  std::exception_ptr failed;
  std::thread second([&] {
    try {
      body(split, n);
    } catch (...) {
      failed = std::current_exception();
    }
  });
  try {
    body(0, split);
  } catch (...) {
    second.join();
    throw;
  }
  second.join();
  if (failed) std::rethrow_exception(failed);
}

// The guide (3-band uchar) at mw x mh as three planes of colours in 0..1, each low-resolution pixel
// the mean of the full-resolution pixels whose centres fall in it — the same centre alignment as
// SourcePosition. When the photo is smaller than the mask in either direction some cells would
// be empty, so libvips interpolates instead (the photo is small then, so it is cheap).
std::array<Plane, 3> GuideAtMaskSize(const VImage& guide, int mw, int mh) {
  const int w = guide.width(), h = guide.height();
  std::array<Plane, 3> out;
  for (auto& p : out) p.assign(static_cast<size_t>(mw) * mh, 0.0f);
  if (w < mw || h < mh) {
    const VImage small = ResizeTo(guide.cast(VIPS_FORMAT_FLOAT), mw, mh, VIPS_KERNEL_LINEAR);
    ForEachRow(small, 0, mh, [&](int y, const uint8_t* bytes) {
      const auto* row = reinterpret_cast<const float*>(bytes);
      for (int x = 0; x < mw; ++x) {
        for (int c = 0; c < 3; ++c) out[c][static_cast<size_t>(y) * mw + x] = row[3 * x + c] / 255;
      }
    });
    return out;
  }
  std::vector<int> cell_x(w);
  for (int x = 0; x < w; ++x) cell_x[x] = static_cast<int>(int64_t{x} * mw / w);
  std::vector<double> count_x(mw, 0.0);
  for (int x = 0; x < w; ++x) count_x[cell_x[x]] += 1;
  auto cell_y = [&](int y) { return static_cast<int>(int64_t{y} * mh / h); };
  // Each half sums whole mask rows: split at the first photo row of the middle mask row.
  int split = 0;
  while (split < h && cell_y(split) < mh / 2) ++split;
  InTwo(h, split, [&](int begin, int end) {
    std::vector<uint32_t> sums(static_cast<size_t>(mw) * 3, 0u);
    int current = cell_y(begin), rows = 0;
    auto flush = [&] {
      for (int x = 0; x < mw; ++x) {
        const double n = count_x[x] * rows * 255.0;
        for (int c = 0; c < 3; ++c) {
          out[c][static_cast<size_t>(current) * mw + x] = static_cast<float>(sums[3 * x + c] / n);
        }
      }
      std::fill(sums.begin(), sums.end(), 0u);
      rows = 0;
    };
    ForEachRow(guide, begin, end, [&](int y, const uint8_t* row) {
      if (cell_y(y) != current) flush();
      current = cell_y(y);
      ++rows;
      for (int x = 0; x < w; ++x) {
        uint32_t* s = &sums[3 * cell_x[x]];
        s[0] += row[3 * x];
        s[1] += row[3 * x + 1];
        s[2] += row[3 * x + 2];
      }
    });
    flush();
  });
  return out;
}

// The guided filter's linear model at the mask's resolution: alpha ≈ a·I + b per window, then
// a and b averaged over the windows that contain each pixel ("mean_a", "mean_b" in the paper).
// Returns mw·mh pixels of four interleaved values a_r, a_g, a_b, b.
std::vector<float> GuidedCoefficients(const float* mask, int mw, int mh,
                                      const std::array<Plane, 3>& guide,
                                      const GuidedFilter& filter) {
  const int r = std::max(1, filter.radius);
  const double eps = filter.epsilon;
  std::vector<float> out(static_cast<size_t>(mw) * mh * 4);
  RunningBoxMean mean_ab(4, mw, mh, r);
  auto store = [&](int y, const float* row) {
    std::copy(row, row + 4 * mw, out.data() + static_cast<size_t>(y) * mw * 4);
  };
  // Per pixel: I (3), p, the guide's second moments rr rg rb gg gb bb, and I·p (3).
  constexpr int kStats = 13;
  RunningBoxMean stats(kStats, mw, mh, r);
  std::vector<float> ab(static_cast<size_t>(mw) * 4);
  auto solve = [&](int, const float* m) {
    for (int x = 0; x < mw; ++x, m += kStats) {
      const double mr = m[0], mg = m[1], mb = m[2], mp = m[3];
      const double rr = m[4] - mr * mr + eps, rg = m[5] - mr * mg, rb = m[6] - mr * mb;
      const double gg = m[7] - mg * mg + eps, gb = m[8] - mg * mb, bb = m[9] - mb * mb + eps;
      const double cr = m[10] - mr * mp, cg = m[11] - mg * mp, cb = m[12] - mb * mp;
      // (Σ + εU)⁻¹·cov(I, p) by cofactors; Σ + εU is symmetric positive definite.
      const double i_rr = gg * bb - gb * gb, i_rg = rb * gb - rg * bb, i_rb = rg * gb - rb * gg;
      const double i_gg = rr * bb - rb * rb, i_gb = rb * rg - rr * gb, i_bb = rr * gg - rg * rg;
      const double inv_det = 1.0 / (rr * i_rr + rg * i_rg + rb * i_rb);
      const double ar = (i_rr * cr + i_rg * cg + i_rb * cb) * inv_det;
      const double ag = (i_rg * cr + i_gg * cg + i_gb * cb) * inv_det;
      const double ac = (i_rb * cr + i_gb * cg + i_bb * cb) * inv_det;
      ab[4 * x] = static_cast<float>(ar);
      ab[4 * x + 1] = static_cast<float>(ag);
      ab[4 * x + 2] = static_cast<float>(ac);
      ab[4 * x + 3] = static_cast<float>(mp - ar * mr - ag * mg - ac * mb);
    }
    mean_ab.Push(ab.data(), store);
  };
  std::vector<float> raw(static_cast<size_t>(mw) * kStats);
  for (int y = 0; y < mh; ++y) {
    const size_t at = static_cast<size_t>(y) * mw;
    for (int x = 0; x < mw; ++x) {
      const float ir = guide[0][at + x], ig = guide[1][at + x], ib = guide[2][at + x];
      const float p = mask[at + x];
      float* v = &raw[static_cast<size_t>(x) * kStats];
      v[0] = ir, v[1] = ig, v[2] = ib, v[3] = p;
      v[4] = ir * ir, v[5] = ir * ig, v[6] = ir * ib, v[7] = ig * ig, v[8] = ig * ib;
      v[9] = ib * ib, v[10] = ir * p, v[11] = ig * p, v[12] = ib * p;
    }
    stats.Push(raw.data(), solve);
  }
  return out;
}

VImage GuidedMaskToAlpha(const float* mask, int mw, int mh, const VImage& guide,
                         const GuidedFilter& filter) {
  const int w = guide.width(), h = guide.height();
  std::vector<float> ab = GuidedCoefficients(mask, mw, mh, GuideAtMaskSize(guide, mw, mh), filter);
  // In 0..255 units on both sides: alpha·255 = a·I₂₅₅ + 255·b.
  for (size_t i = 3; i < ab.size(); i += 4) ab[i] *= 255.0f;
  // The coefficients are interpolated along a mask row once per mask row (there are only mh of
  // them), so each output row is a vertical blend of two cached wide rows: plain loops.
  const BilinearTaps taps(w, mw);
  const std::vector<int>& x0 = taps.x0;
  const std::vector<int>& x1 = taps.x1;
  const std::vector<float>& fx = taps.fx;
  // Owned here until libvips takes it, so an error while reading the guide does not leak it.
  std::unique_ptr<uint8_t, decltype(&g_free)> owned(
      static_cast<uint8_t*>(g_malloc(static_cast<size_t>(w) * h)), &g_free);
  uint8_t* plane = owned.get();
  InTwo(h, h / 2, [&](int begin, int end) {
    struct WideRow {
      int source = -1;
      std::array<std::vector<float>, 4> k;
    };
    std::array<WideRow, 2> cache;
    for (auto& c : cache) {
      for (auto& k : c.k) k.resize(w);
    }
    auto wide = [&](int sy) -> const WideRow& {
      for (auto& c : cache) {
        if (c.source == sy) return c;
      }
      WideRow& c = cache[sy & 1];  // rows y0 and y0 + 1 never share a slot
      c.source = sy;
      const float* src = ab.data() + static_cast<size_t>(sy) * mw * 4;
      for (int k = 0; k < 4; ++k) {
        float* dst = c.k[k].data();
        for (int x = 0; x < w; ++x) {
          const float left = src[4 * x0[x] + k], right = src[4 * x1[x] + k];
          dst[x] = left + (right - left) * fx[x];
        }
      }
      return c;
    };
    std::array<std::vector<float>, 4> k;
    for (auto& row : k) row.resize(w);
    ForEachRow(guide, begin, end, [&](int y, const uint8_t* rgb) {
      const float sy = SourcePosition(y, h, mh);
      const int y0 = static_cast<int>(sy), y1 = std::min(y0 + 1, mh - 1);
      const float fy = sy - static_cast<float>(y0);
      const WideRow& top = wide(y0);
      const WideRow& bottom = wide(y1);
      for (int c = 0; c < 4; ++c) {
        const float* t = top.k[c].data();
        const float* b = bottom.k[c].data();
        float* o = k[c].data();
        for (int x = 0; x < w; ++x) o[x] = t[x] + (b[x] - t[x]) * fy;
      }
      uint8_t* out = plane + static_cast<size_t>(y) * w;
      const float *kr = k[0].data(), *kg = k[1].data(), *kb = k[2].data(), *kc = k[3].data();
      for (int x = 0; x < w; ++x) {
        const float v =
            kr[x] * rgb[3 * x] + kg[x] * rgb[3 * x + 1] + kb[x] * rgb[3 * x + 2] + kc[x];
        out[x] = static_cast<uint8_t>(std::clamp(v + 0.5f, 0.0f, 255.0f));  // + 0.5: to nearest
      }
    });
  });
  return VImage::new_from_memory_steal(owned.release(), static_cast<size_t>(w) * h, w, h, 1,
                                       VIPS_FORMAT_UCHAR)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_B_W));
}

}  // namespace

VImage MaskToAlpha(const float* mask, int mw, int mh, const VImage& guide, MaskUpsampling method,
                   GuidedFilter filter) {
  if (method == MaskUpsampling::kBilinear) {
    return MaskToAlpha(mask, mw, mh, guide.width(), guide.height());
  }
  VImage rgb = guide;
  if (rgb.bands() < 3) rgb = VImage::bandjoin({rgb[0], rgb[0], rgb[0]});
  if (rgb.bands() > 3) rgb = rgb.extract_band(0, VImage::option()->set("n", 3));
  if (rgb.format() != VIPS_FORMAT_UCHAR) rgb = rgb.cast(VIPS_FORMAT_UCHAR);
  return GuidedMaskToAlpha(mask, mw, mh, rgb, filter);
}

VImage Despill(const VImage& rgb, const VImage& alpha) {
  const int w = rgb.width(), h = rgb.height();
  const VImage a = alpha.cast(VIPS_FORMAT_FLOAT) / 255.0;
  const VImage behind = 1.0 - a;  // how much of the background shows through
  // The background near each pixel, from the pixels the mask calls clearly background (edge
  // pixels would mix the subject into it), at low resolution: it varies slowly, and a wide blur
  // of a full-resolution image would cost more than the whole removal.
  const VImage clear = (alpha < 13).cast(VIPS_FORMAT_FLOAT) / 255.0;
  const int longest = std::max(w, h);
  const int sw = std::max(1, w * 256 / longest), sh = std::max(1, h * 256 / longest);
  const VImage weight = ResizeTo(clear, sw, sh, VIPS_KERNEL_LINEAR).copy_memory();
  const VImage weighted =
      ResizeTo(rgb.cast(VIPS_FORMAT_FLOAT) * clear, sw, sh, VIPS_KERNEL_LINEAR).copy_memory();
  const double sigma = 6.0;  // ~2.5 % of the long side
  const VImage background_small =
      (weighted.gaussblur(sigma) / (weight.gaussblur(sigma) + 1e-4)).copy_memory();
  const VImage background = ResizeTo(background_small, w, h, VIPS_KERNEL_LINEAR);
  // Below a = 0.02 the division would amplify noise; such pixels are nearly invisible anyway.
  const VImage divisor = (a < 0.02).ifthenelse(0.02, a);
  VImage subject = (rgb.cast(VIPS_FORMAT_FLOAT) - background * behind) / divisor;
  subject = (subject < 0.0).ifthenelse(0.0, (subject > 255.0).ifthenelse(255.0, subject));
  const VImage edge = (alpha > 0) & (alpha < 255);
  return edge.ifthenelse(subject.linear(1.0, 0.5).cast(VIPS_FORMAT_UCHAR), rgb)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

PlacedSubject PlaceSubject(const VImage& rgb, const VImage& alpha, int box_left, int box_top,
                           int box_width, int box_height, double factor, int left, int top) {
  const int w = rgb.width(), h = rgb.height();
  const int sw = std::max(1, static_cast<int>(std::lround(box_width * factor)));
  const int sh = std::max(1, static_cast<int>(std::lround(box_height * factor)));
  VImage subject = rgb.bandjoin(alpha)
                       .extract_area(box_left, box_top, box_width, box_height)
                       .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  subject = ResizeRgba(subject, sw, sh);
  // Transparent and black everywhere else; embed cuts off whatever lies past the canvas.
  const VImage placed = subject.embed(left, top, w, h).copy_memory();
  return {placed.extract_band(0, VImage::option()->set("n", 3)).copy_memory(),
          placed[3].copy_memory()};
}

namespace {

// A shadow's shape (MakeSmallShadow's) on an alpha plane of any size (`shadow`'s box in its
// coordinates).
VImage ShadowShape(const VImage& alpha, const ShadowSpec& shadow) {
  const int w = alpha.width(), h = alpha.height();
  const int bw = std::max(1, shadow.subject_width), bh = std::max(1, shadow.subject_height);
  const int bl = std::clamp(shadow.subject_left, 0, w - 1);
  const int bt = std::clamp(shadow.subject_top, 0, h - 1);
  const int cw = std::max(1, std::min(bw, w - bl)), ch = std::max(1, std::min(bh, h - bt));
  const int base = bt + ch;  // the subject's bottom edge
  VImage s;
  double sigma = 0;
  if (shadow.type == ShadowType::kDrop) {
    const int dx = std::max(1, static_cast<int>(std::lround(0.03 * std::min(bw, bh))));
    s = alpha.embed(dx, dx, w, h);  // shifted down and right, black where it came from
    sigma = 0.02 * std::min(bw, bh);
  } else {
    // Flattened onto the ground the subject stands on.
    const bool contact = shadow.type == ShadowType::kCar;
    const int sh = std::max(1, static_cast<int>(std::lround(ch * (contact ? 0.08 : 0.25))));
    const VImage flat = ResizeTo(alpha.extract_area(bl, bt, cw, ch), cw, sh, VIPS_KERNEL_LINEAR);
    const int lean = contact ? 0 : static_cast<int>(std::lround(0.15 * cw));
    const int top = contact ? base - sh / 2 : base - sh;
    s = flat.embed(bl + lean, top, w, h);
    sigma = (contact ? 0.04 : 0.03) * std::min(bw, bh);
  }
  if (sigma >= 0.5)
    s = s.gaussblur(sigma, VImage::option()->set("precision", VIPS_PRECISION_APPROXIMATE));
  return s;
}

// A shadow made small: its alpha (0..1, times the opacity) on a plane at most kShadowSide pixels
// across that stands for the whole full-resolution image, kx = sw / w and ky = sh / h of its size.
// A shadow is soft, so a 12 MP photo pays for a 512 px blur, not a 60 px-sigma one at full size.
struct SmallShadow {
  std::vector<float> plane;
  int sw = 0, sh = 0;
  double kx = 1, ky = 1;
};

SmallShadow MakeSmallShadow(const VImage& alpha, const ShadowSpec& shadow) {
  constexpr int kShadowSide = 512;
  const int w = alpha.width(), h = alpha.height();
  const double k = std::min(1.0, static_cast<double>(kShadowSide) / std::max(w, h));
  SmallShadow out;
  out.sw = std::max(1, static_cast<int>(std::lround(w * k)));
  out.sh = std::max(1, static_cast<int>(std::lround(h * k)));
  out.kx = static_cast<double>(out.sw) / w;
  out.ky = static_cast<double>(out.sh) / h;
  ShadowSpec small = shadow;
  small.subject_left = static_cast<int>(std::lround(shadow.subject_left * out.kx));
  small.subject_top = static_cast<int>(std::lround(shadow.subject_top * out.ky));
  small.subject_width = std::max(1, static_cast<int>(std::lround(shadow.subject_width * out.kx)));
  small.subject_height = std::max(1, static_cast<int>(std::lround(shadow.subject_height * out.ky)));
  const VImage shape =
      ShadowShape(ResizeTo(alpha, out.sw, out.sh, VIPS_KERNEL_LINEAR).copy_memory(), small)
          .cast(VIPS_FORMAT_FLOAT)
          .linear(std::clamp(shadow.opacity, 0.0, 1.0) / 255.0, 0.0)
          .copy_memory();
  const auto* data = static_cast<const float*>(vips_image_get_data(shape.get_image()));
  out.plane.assign(data, data + static_cast<size_t>(out.sw) * out.sh);
  return out;
}

// Bilinear taps for `n` output pixels whose centres fall at source positions
// (origin + (i + 0.5) * step) * k - 0.5 on a source `in` pixels long (clamped to its edge).
struct Taps {
  std::vector<int> i0, i1;
  std::vector<float> f;
  Taps(int n, double origin, double step, double k, int in) : i0(n), i1(n), f(n) {
    for (int i = 0; i < n; ++i) {
      const double p =
          std::clamp((origin + (i + 0.5) * step) * k - 0.5, 0.0, static_cast<double>(in - 1));
      i0[i] = static_cast<int>(p);
      i1[i] = std::min(i0[i] + 1, in - 1);
      f[i] = static_cast<float>(p - i0[i]);
    }
  }
};

// Where the output's pixels sample a full-resolution plane: this crop rectangle, resized to the
// output's size.
struct OutputGeometry {
  int crop_left = 0, crop_top = 0, crop_width = 0, crop_height = 0;
};

// The per-pixel loops of Layered, each also compiled for AVX2 and chosen when the CPU has it (the
// baseline x86-64 build cannot vectorise their interleaved bytes; common/clones.h).

// out[x] (C bytes) = bilinear between the C floats at o0[x] and o1[x] of `col`, weight fx[x].
template <int C>
BGERASE_CLONES_AVX2 void SampleColumns(const float* __restrict col, const int* __restrict o0,
                                       const int* __restrict o1, const float* __restrict fx, int n,
                                       uint8_t* __restrict out) {
  for (int x = 0; x < n; ++x)
    for (int k = 0; k < C; ++k)
      out[C * x + k] =
          static_cast<uint8_t>(col[o0[x] + k] + (col[o1[x] + k] - col[o0[x] + k]) * fx[x] + 0.5f);
}

// out[x] = bilinear in the plane rows r0/r1 (weight fy) at columns i0[x]/i1[x] (weight fx[x]).
BGERASE_CLONES_AVX2 void SampleShadowRow(const float* __restrict r0, const float* __restrict r1,
                                         float fy, const int* __restrict i0,
                                         const int* __restrict i1, const float* __restrict fx,
                                         int n, float* __restrict out) {
  for (int x = 0; x < n; ++x) {
    const float t = r0[i0[x]] + (r0[i1[x]] - r0[i0[x]]) * fx[x];
    const float u = r1[i0[x]] + (r1[i1[x]] - r1[i0[x]]) * fx[x];
    out[x] = t + (u - t) * fy;
  }
}

// remove.bg's background image at the output's size: scaled to the smallest size that covers
// ow x oh, keeping its aspect ratio, and centred. A shrink is done by libvips (Lanczos) and read
// back through a region; an enlargement — the usual case, and libvips' slow affine path — is
// sampled bilinearly from the decoded image inside the blending pass.
class BackgroundLayer {
 public:
  BackgroundLayer(const DecodedImage& bg, int ow, int oh) : ow_(ow) {
    const double f =
        std::max(static_cast<double>(ow) / bg.width, static_cast<double>(oh) / bg.height);
    const int rw = std::max(ow, static_cast<int>(std::ceil(bg.width * f - 1e-6)));
    const int rh = std::max(oh, static_cast<int>(std::ceil(bg.height * f - 1e-6)));
    const VImage rgb =
        bg.rgb.copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
    bands_ = bg.alpha ? 4 : 3;
    if (f <= 1) {
      const VImage covered = bg.alpha ? ResizeRgba(rgb.bandjoin(*bg.alpha), rw, rh)
                                      : ResizeTo(rgb, rw, rh, VIPS_KERNEL_LANCZOS3);
      fitted_ = covered.extract_area((rw - ow) / 2, (rh - oh) / 2, ow, oh);
      return;
    }
    source_ = (bg.alpha ? rgb.bandjoin(*bg.alpha) : rgb).copy_memory();
    tx_.emplace(ow, (rw - ow) / 2, 1.0, 1.0 / f, bg.width);
    ty_.emplace(oh, (rh - oh) / 2, 1.0, 1.0 / f, bg.height);
  }
  bool opaque() const { return bands_ == 3; }
  int bands() const { return bands_; }

  // Rows [begin, end) come next, a strip at a time; Row(y) is then that row's pixels.
  class Reader {
   public:
    explicit Reader(const BackgroundLayer& layer) : layer_(layer), row_(layer.ow_ * layer.bands_) {
      if (layer_.fitted_) {
        region_ = vips::VRegion::new_from_image(*layer_.fitted_);
        return;
      }
      const int c = layer_.bands_;
      column_.resize(static_cast<size_t>(layer_.source_.width()) * c);
      for (int x = 0; x < layer_.ow_; ++x) {
        off0_.push_back(layer_.tx_->i0[x] * c);
        off1_.push_back(layer_.tx_->i1[x] * c);
      }
    }
    void Prepare(int top, int n) {
      if (region_) region_->prepare(0, top, layer_.ow_, n);
    }
    const uint8_t* Row(int y) {
      if (region_) return static_cast<const uint8_t*>(region_->addr(0, y));
      return layer_.bands_ == 4 ? Enlarged<4>(y) : Enlarged<3>(y);
    }

   private:
    // Bilinear, separably: the two source rows blended into one (contiguous, so it vectorises),
    // then each output pixel from its two columns of that.
    template <int C>
    const uint8_t* Enlarged(int y) {
      const auto* data =
          static_cast<const uint8_t*>(vips_image_get_data(layer_.source_.get_image()));
      const size_t stride = column_.size();
      const uint8_t* r0 = data + layer_.ty_->i0[y] * stride;
      const uint8_t* r1 = data + layer_.ty_->i1[y] * stride;
      const float fy = layer_.ty_->f[y];
      float* col = column_.data();
      for (size_t j = 0; j < stride; ++j)
        col[j] = static_cast<float>(r0[j]) + static_cast<float>(r1[j] - r0[j]) * fy;
      SampleColumns<C>(col, off0_.data(), off1_.data(), layer_.tx_->f.data(), layer_.ow_,
                       row_.data());
      return row_.data();
    }

    const BackgroundLayer& layer_;
    std::optional<vips::VRegion> region_;
    std::vector<uint8_t> row_;
    std::vector<float> column_;     // the two source rows blended
    std::vector<int> off0_, off1_;  // each output pixel's two source columns, in bytes
  };

 private:
  int ow_ = 0, bands_ = 3;
  std::optional<VImage> fitted_;  // the shrunk image at the output's size
  VImage source_;                 // or the decoded image in memory, with its taps
  std::optional<Taps> tx_, ty_;
};

// One row of Layered's blend: `s` RGBA subject, `shade` the shadow's alpha (0..1), `b` the
// background at BB bytes a pixel (RGB: opaque; RGBA), `o` the answer at 3 (OPAQUE) or 4 bytes.
// Branch-free, so the compiler vectorises it: where the answer's alpha is 0 so is every term.
template <int BB, bool OPAQUE>
BGERASE_CLONES_AVX2 void BlendRow(const uint8_t* __restrict s, const float* __restrict shade,
                                  const uint8_t* __restrict b, int n, uint8_t* __restrict o) {
  constexpr float k1 = 1.0f / 255.0f;
  constexpr int C = OPAQUE ? 3 : 4;
  for (int x = 0; x < n; ++x) {
    const float a = s[4 * x + 3] * k1, sh = shade[x];
    const float ab = BB == 4 ? b[BB * x + 3] * k1 : 1.0f;
    const float under = (1 - a) * (1 - sh) * ab;  // weight of the background's colour
    float inv = 1.0f, total = 1.0f;
    if constexpr (!OPAQUE) {
      total = a + (1 - a) * (sh + (1 - sh) * ab);
      inv = total > 0 ? 1.0f / total : 0.0f;
    }
    // Never above 255.5: the colour is a weighted mean of colours with weights summing to total.
    o[C * x + 0] = static_cast<uint8_t>((a * s[4 * x + 0] + under * b[BB * x + 0]) * inv + 0.5f);
    o[C * x + 1] = static_cast<uint8_t>((a * s[4 * x + 1] + under * b[BB * x + 1]) * inv + 0.5f);
    o[C * x + 2] = static_cast<uint8_t>((a * s[4 * x + 2] + under * b[BB * x + 2]) * inv + 0.5f);
    if constexpr (!OPAQUE) o[4 * x + 3] = static_cast<uint8_t>(total * 255.0f + 0.5f);
  }
}

// Subject over shadow over background, in one pass at the output's size (premultiplied OVER):
// A = a + (1 - a) * Au with the layer below Au = s + (1 - s) * ab, and colour
// (a * F + (1 - a) * (1 - s) * ab * B) / A (the shadow is black). `cutout` is RGBA uchar at the
// output size; the background is `background` when given, else `color` (none: clear). The answer
// is RGB when the background is opaque, else RGBA with no colour where A is 0.
VImage Layered(const VImage& cutout, const SmallShadow* shadow, const OutputGeometry& at,
               const BackgroundLayer* background,
               const std::optional<std::array<uint8_t, 4>>& color) {
  const int ow = cutout.width(), oh = cutout.height();
  const bool opaque = background ? background->opaque() : color && (*color)[3] == 255;
  const int bands = opaque ? 3 : 4;
  const int bg_bands = background ? background->bands() : 4;  // a colour is one RGBA row
  const size_t size = static_cast<size_t>(ow) * oh * bands;
  std::unique_ptr<uint8_t, decltype(&g_free)> owned(static_cast<uint8_t*>(g_malloc(size)), g_free);
  uint8_t* pixels = owned.get();
  std::optional<Taps> tx, ty;
  if (shadow) {
    tx.emplace(ow, at.crop_left, static_cast<double>(at.crop_width) / ow, shadow->kx, shadow->sw);
    ty.emplace(oh, at.crop_top, static_cast<double>(at.crop_height) / oh, shadow->ky, shadow->sh);
  }
  std::vector<uint8_t> color_row;  // the colour (or clear) as a background row
  if (!background) {
    const std::array<uint8_t, 4> c = color.value_or(std::array<uint8_t, 4>{0, 0, 0, 0});
    color_row.resize(static_cast<size_t>(ow) * 4);
    for (int x = 0; x < ow; ++x) std::memcpy(&color_row[4 * x], c.data(), 4);
  }
  auto blend = opaque ? (bg_bands == 3 ? BlendRow<3, true> : BlendRow<4, true>)
                      : (bg_bands == 3 ? BlendRow<3, false> : BlendRow<4, false>);
  InTwo(oh, oh / 2, [&](int begin, int end) {
    constexpr int kStrip = 32;
    vips::VRegion subject = vips::VRegion::new_from_image(cutout);
    std::optional<BackgroundLayer::Reader> behind;
    if (background) behind.emplace(*background);
    std::vector<float> srow(ow, 0.0f);
    for (int top = begin; top < end; top += kStrip) {
      const int n = std::min(kStrip, end - top);
      subject.prepare(0, top, ow, n);
      if (behind) behind->Prepare(top, n);
      for (int y = top; y < top + n; ++y) {
        if (shadow) {
          const float* r0 = shadow->plane.data() + static_cast<size_t>(ty->i0[y]) * shadow->sw;
          const float* r1 = shadow->plane.data() + static_cast<size_t>(ty->i1[y]) * shadow->sw;
          SampleShadowRow(r0, r1, ty->f[y], tx->i0.data(), tx->i1.data(), tx->f.data(), ow,
                          srow.data());
        }
        blend(static_cast<const uint8_t*>(subject.addr(0, y)), srow.data(),
              behind ? behind->Row(y) : color_row.data(), ow,
              pixels + static_cast<size_t>(y) * ow * bands);
      }
    }
  });
  return VImage::new_from_memory_steal(owned.release(), size, ow, oh, bands, VIPS_FORMAT_UCHAR)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

}  // namespace

VImage Compose(const DecodedImage& im, const VImage& alpha, const ComposeSpec& spec) {
  VImage a = alpha;
  if (im.alpha) {
    // Where the input was already transparent it stays so: multiply, rounding to nearest.
    a = (alpha * *im.alpha).linear(1.0 / 255.0, 0.5).cast(VIPS_FORMAT_UCHAR);
  }
  const int w = im.rgb.width(), h = im.rgb.height();
  int left = 0, top = 0, cw = w, ch = h;
  if (spec.crop_width > 0 && spec.crop_height > 0) {
    left = std::clamp(spec.crop_left, 0, w - 1);
    top = std::clamp(spec.crop_top, 0, h - 1);
    cw = std::min(spec.crop_width, w - left);
    ch = std::min(spec.crop_height, h - top);
  }
  const int ow = spec.out_width > 0 ? spec.out_width : cw;
  const int oh = spec.out_height > 0 ? spec.out_height : ch;
  auto crop = [&](const VImage& x) {
    return cw == w && ch == h ? x : x.extract_area(left, top, cw, ch);
  };
  auto as = [](const VImage& x, VipsInterpretation interpretation) {
    return x.copy(VImage::option()->set("interpretation", interpretation));
  };

  if (spec.alpha_only) {
    return as(ResizeTo(crop(a), ow, oh, VIPS_KERNEL_LANCZOS3), VIPS_INTERPRETATION_B_W);
  }
  const VImage rgb = spec.despill ? Despill(im.rgb, a) : im.rgb;
  VImage cutout = as(crop(rgb).bandjoin(crop(a)), VIPS_INTERPRETATION_sRGB);
  if (spec.shadow || spec.background_image) {
    std::optional<SmallShadow> shadow;
    if (spec.shadow) shadow = MakeSmallShadow(a, *spec.shadow);
    std::optional<BackgroundLayer> background;
    if (spec.background_image) background.emplace(*spec.background_image, ow, oh);
    return Layered(ResizeRgba(cutout, ow, oh), shadow ? &*shadow : nullptr, {left, top, cw, ch},
                   background ? &*background : nullptr, spec.background);
  }
  if (spec.background && (*spec.background)[3] == 255) {
    // Opaque background: flatten first, so resizing works on plain RGB.
    const auto& bg = *spec.background;
    VImage flat = cutout.flatten(VImage::option()->set(
        "background", std::vector<double>{double(bg[0]), double(bg[1]), double(bg[2])}));
    return as(ResizeTo(flat.cast(VIPS_FORMAT_UCHAR), ow, oh, VIPS_KERNEL_LANCZOS3),
              VIPS_INTERPRETATION_sRGB);
  }
  cutout = ResizeRgba(cutout, ow, oh);
  // What the mask removed is gone, not hidden: fully transparent pixels carry no photo colour
  // (which also lets PNG and WebP compress the background away).
  cutout = (cutout[3] == 0).ifthenelse(0, cutout);
  if (spec.background && (*spec.background)[3] != 0) {
    const auto& bg = *spec.background;
    VImage base =
        as(cutout.new_from_image({double(bg[0]), double(bg[1]), double(bg[2]), double(bg[3])}),
           VIPS_INTERPRETATION_sRGB);
    cutout = as(base.composite2(cutout, VIPS_BLEND_MODE_OVER).cast(VIPS_FORMAT_UCHAR),
                VIPS_INTERPRETATION_sRGB);
  }
  return cutout;
}

}  // namespace bgerase::imaging
