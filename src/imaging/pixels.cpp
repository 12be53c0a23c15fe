// Pixel work between decode and encode: the model's input tensor, the mask at output
// resolution, and the composed cutout.
#include <algorithm>
#include <cstring>

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

// Resizes to exactly w x h, not keeping the aspect ratio.
VImage ResizeTo(const VImage& im, int w, int h, VipsKernel kernel) {
  if (im.width() == w && im.height() == h) return im;
  const double hscale = static_cast<double>(w) / im.width();
  const double vscale = static_cast<double>(h) / im.height();
  return ExactSize(
      im.resize(hscale, VImage::option()->set("vscale", vscale)->set("kernel", kernel)), w, h);
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
  VImage m(
      vips_image_new_from_memory_copy(mask, sizeof(float) * mw * mh, mw, mh, 1, VIPS_FORMAT_FLOAT));
  // Bicubic may overshoot [0,1] a little; the cast to uchar clamps it.
  return ResizeTo(m, w, h, VIPS_KERNEL_CUBIC)
      .linear(255.0, 0.5)
      .cast(VIPS_FORMAT_UCHAR)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_B_W))
      .copy_memory();
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
  VImage cutout = as(crop(im.rgb).bandjoin(crop(a)), VIPS_INTERPRETATION_sRGB);
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
