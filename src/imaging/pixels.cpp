// Pixel work between decode and encode: the model's input tensor, the mask at output
// resolution, and the composed cutout.
#include <algorithm>
#include <cstring>
#include <vector>

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
  const double hscale = static_cast<double>(w) / im.width();
  const double vscale = static_cast<double>(h) / im.height();
  return ExactSize(
      im.resize(hscale,
                VImage::option()->set("vscale", vscale)->set("kernel", kernel)->set("gap", 0.0)),
      w, h);
}

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
  std::vector<int> x0(w), x1(w);
  std::vector<float> fx(w);
  auto source = [](int i, int out, int in) {
    return std::clamp((i + 0.5f) * static_cast<float>(in) / static_cast<float>(out) - 0.5f, 0.0f,
                      static_cast<float>(in - 1));
  };
  for (int x = 0; x < w; ++x) {
    const float sx = source(x, w, mw);
    x0[x] = static_cast<int>(sx);
    x1[x] = std::min(x0[x] + 1, mw - 1);
    fx[x] = sx - static_cast<float>(x0[x]);
  }
  auto* plane = static_cast<uint8_t*>(g_malloc(static_cast<size_t>(w) * h));
  std::vector<float> row(mw);
  for (int y = 0; y < h; ++y) {
    const float sy = source(y, h, mh);
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
  if (spec.background && (*spec.background)[3] == 255) {
    // Opaque background: flatten first, so resizing works on plain RGB.
    const auto& bg = *spec.background;
    VImage flat = cutout.flatten(VImage::option()->set(
        "background", std::vector<double>{double(bg[0]), double(bg[1]), double(bg[2])}));
    return as(ResizeTo(flat.cast(VIPS_FORMAT_UCHAR), ow, oh, VIPS_KERNEL_LANCZOS3),
              VIPS_INTERPRETATION_sRGB);
  }
  if (ow != cw || oh != ch) {
    // Premultiplied, so the colour of invisible pixels cannot bleed into the edges.
    cutout = ResizeTo(cutout.premultiply(), ow, oh, VIPS_KERNEL_LANCZOS3)
                 .unpremultiply()
                 .linear(1.0, 0.5)
                 .cast(VIPS_FORMAT_UCHAR);
    cutout = as(cutout, VIPS_INTERPRETATION_sRGB);
  }
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
