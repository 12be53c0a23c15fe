// imaging/: everything bgerase does to pixels with libvips 8.14 — decode with limits checked
// before pixels are read, EXIF orientation, ICC -> sRGB, the model's input tensor, the mask at
// output resolution, compositing, cropping, size caps, encoding, and metadata carry-over.
// Knows nothing about options parsing or storage; removal/Pipeline drives it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vips/vips8>

#include "common/image_formats.h"
#include "common/status.h"
#include "engine/tensor.h"

namespace bgerase::imaging {

// Calls VIPS_INIT once per process (thread-safe) and sets libvips' own limits. Returns an
// error if libvips cannot start.
Status InitVips();

// libvips' HEIF loader (libheif 1.15) decodes a whole HEIC/AVIF image into memory before the
// first pixel is handed on: measured 11 bytes/pixel at peak while decoding HEIC (7 for AVIF)
// against 3.6 for a streamed JPEG. 50 MP keeps a HEIC's whole-pipeline peak below that of a
// 100 MP JPEG and still takes 48 MP phone photos. How it was measured: docs/design/imaging.md.
inline constexpr int64_t kDefaultMaxPixelsHeif = 50'000'000;

// Named, configurable limits; each has its own error code when hit.
struct DecodeLimits {
  size_t max_bytes = kMaxImageBytes;  // payload_too_large
  int64_t max_pixels = 100'000'000;   // image_too_large
  int64_t max_pixels_heif = 0;        // HEIC/AVIF (decoded whole, not streamed); 0: default
};

// Metadata blobs exactly as libvips names and stores them on an image.
struct Metadata {
  std::string exif;  // "exif-data"
  std::string xmp;   // "xmp-data"
  std::string iptc;  // "iptc-data"
  std::string icc;   // "icc-profile-data"
};

// `rgb` and `alpha` are views of one decoded buffer held in memory: reading them never decodes
// the input again and allows random access. They carry no metadata fields of their own (the
// input's metadata lives in `metadata`). Safe to read from several threads at once.
struct DecodedImage {
  vips::VImage rgb;                   // upright (EXIF orientation applied), sRGB, 3 bands, uchar
  std::optional<vips::VImage> alpha;  // the input's own alpha (1 band uchar), when it had one
  Metadata metadata;                  // from the input; EXIF orientation reset to 1
  std::string format;         // "jpeg" | "png" | "webp" | "heif" | "tiff" | "gif" | "bmp" ...
  int width = 0, height = 0;  // after orientation
};

// Decodes JPEG, PNG, WebP, HEIC/HEIF, AVIF, TIFF, GIF (first frame) and BMP from memory.
// Format is recognised from the bytes, never from a name or declared type. Limits are checked
// from the header before any pixel is decoded. Errors: "payload_too_large", "image_too_large",
// "unsupported_image" (not an image, or a format we do not take), "corrupt_image" (truncated or
// damaged), each with a message a person understands.
Result<DecodedImage> Decode(std::string_view bytes, const DecodeLimits& limits = {});

// How ModelInput shrinks (or enlarges) the photo to the model's square. Which gives better masks
// is measured on the quality set; kModelResizeKernel names the current choice.
enum class ResizeKernel {
  kLanczos3,  // vips_resize with the lanczos3 kernel alone (gap 0: no box pre-shrink)
  kArea,      // vips_shrink: box averaging over each output pixel's area (bicubic when enlarging)
};
inline constexpr ResizeKernel kModelResizeKernel = ResizeKernel::kLanczos3;

// The model's input: resized to size x size (aspect ratio not kept: the model was trained on
// squashed inputs), RGB, (x/255 - 0.5) / 1.0, NCHW float32 1x3xSxS. The input's alpha is ignored.
// Returns an empty Tensor only if libvips fails (out of memory).
engine::Tensor ModelInput(const DecodedImage& im, int size = 1024,
                          ResizeKernel kernel = kModelResizeKernel);

// A model mask (float32 in [0,1], mh x mw, row-major) upsampled smoothly (bilinear, pixel centres
// aligned) to w x h as a 1-band uchar alpha image held in memory. `mask` is copied; the caller
// keeps it.
vips::VImage MaskToAlpha(const float* mask, int mw, int mh, int w, int h);

// How the model's mask is brought to the photo's resolution. Which follows the photo's edges better
// is measured on the quality set (docs/design/imaging.md); kMaskUpsampling names the current
// choice.
enum class MaskUpsampling {
  kBilinear,  // MaskToAlpha above: smooth, blind to the photo
  kGuided,    // fast guided filter with the photo as guide: edges snap to the photo's own edges
};
inline constexpr MaskUpsampling kMaskUpsampling = MaskUpsampling::kGuided;

// The method for a w×h photo and an mw×mh mask: kMaskUpsampling only where the mask is really
// upsampled (the photo has more pixels than the mask). At or below the mask's size bilinear is
// already as fine as the photo, and the guided filter's fixed cost at mask resolution (~0.2 s on
// two cores) would make a small photo's removal ~40 % slower (make bench-e2e).
inline MaskUpsampling UpsamplingFor(int w, int h, int mw, int mh) {
  return static_cast<int64_t>(w) * h > static_cast<int64_t>(mw) * mh ? kMaskUpsampling
                                                                     : MaskUpsampling::kBilinear;
}

// The guided filter's two knobs, both at the mask's resolution: the window radius in mask pixels,
// and epsilon, the regularisation against the guide's local variance (guide colours in 0..1).
// Larger epsilon trusts the mask more and the photo less. The defaults were chosen on the quality
// set (docs/design/imaging.md); epsilon is kept above that set's optimum because its edges are
// perfectly sharp cuts, and on hair or fur a smaller one copies the photo's texture into the alpha.
struct GuidedFilter {
  int radius = 3;
  float epsilon = 1e-4f;
};

// The mask at the resolution of `guide` (the photo: 3-band uchar sRGB, any size, read once in
// strips, never copied whole), as a 1-band uchar alpha image of exactly guide's size held in
// memory. kBilinear is MaskToAlpha(mask, mw, mh, guide.width(), guide.height()). kGuided fits
// alpha ≈ a·I + b in each window of the mask's resolution against the photo shrunk to that
// resolution (He, Sun & Tang, "Guided Image Filtering", colour guide, fast variant), then
// evaluates a·I + b at full resolution with a and b interpolated bilinearly: where the photo is
// flat or the mask constant, the result is the mask's (smoothed) value; where both change, the
// edge follows the photo. Extra memory: 28 bytes per mask pixel (28 MB for 1024²) and a few rows,
// nothing per output pixel beyond the result. Uses two threads when libvips' concurrency allows.
// Throws vips::VError if the guide cannot be read.
vips::VImage MaskToAlpha(const float* mask, int mw, int mh, const vips::VImage& guide,
                         MaskUpsampling method = kMaskUpsampling, GuidedFilter filter = {});

// remove.bg's add_shadow: a soft black shadow made from the subject's own alpha, under it.
enum class ShadowType {
  kDrop,    // the subject's silhouette, offset down and right, blurred (a light from top left)
  kCar,     // a contact shadow: the silhouette squashed flat at the subject's base, wide blur
  kThreeD,  // a cast shadow: squashed to a quarter, rising from the base and leaning right
};
struct ShadowSpec {
  ShadowType type = ShadowType::kDrop;
  double opacity = 0.5;  // 0..1 at the shadow's darkest
  int subject_left = 0, subject_top = 0, subject_width = 0, subject_height = 0;  // full res
};

struct ComposeSpec {
  std::optional<std::array<uint8_t, 4>> background;  // RGBA to flatten onto; none: keep alpha
  // remove.bg's bg_image: scaled to cover the output (the smallest size that covers it, keeping
  // its aspect ratio) and centred; the output is opaque where it is. Wins over `background`.
  const DecodedImage* background_image = nullptr;
  std::optional<ShadowSpec> shadow;  // under the subject, on every background
  int crop_left = 0, crop_top = 0, crop_width = 0, crop_height = 0;  // 0 width: no crop
  int out_width = 0, out_height = 0;  // final size after crop (a downscale or the same size)
  bool alpha_only = false;            // produce the 1-band mask instead of the cutout
  bool despill = false;               // unmix the background's colour from edge pixels (Despill)
};

// Removes the background's colour from partly transparent pixels. An edge pixel's colour is a mix
// I = a·F + (1−a)·B of the subject's colour F and the background's B behind it; B is estimated
// locally (a wide blur of the colours where the mask is clearly background, computed at
// ≤ 256 px and scaled back up) and F = (I − (1−a)·B) / a is returned, clamped to 0..255. Opaque
// and fully transparent pixels are returned unchanged. `rgb` is 3-band uchar, `alpha` 1-band
// uchar of the same size; the result is lazy.
vips::VImage Despill(const vips::VImage& rgb, const vips::VImage& alpha);

// The subject moved: the `box` of `rgb` (3-band uchar) and `alpha` (1-band uchar, same size)
// resized by `factor` (premultiplied, so no background colour bleeds in) and placed with its
// top-left corner at (left, top) on a transparent canvas of the same size as the inputs. Returns
// the new colour and alpha; what falls outside the canvas is cut off.
struct PlacedSubject {
  vips::VImage rgb, alpha;
};
PlacedSubject PlaceSubject(const vips::VImage& rgb, const vips::VImage& alpha, int box_left,
                           int box_top, int box_width, int box_height, double factor, int left,
                           int top);

// The cutout: `im.rgb` with `alpha` (combined with the input's own alpha), cropped, resized to
// the output size, and flattened onto `background` when given (an opaque background gives an
// RGB image; a translucent one keeps alpha). `alpha` must be im.width x im.height. The crop is
// clamped to the image; out_width/out_height of 0 keep the cropped size. Resizing is done on
// premultiplied colour so transparent pixels never bleed into edges. The result is lazy: it is
// computed while it is encoded. With a shadow or a background image, the layers (subject over
// shadow over background) are blended in one pass at the output's size instead: the shadow is
// made at most 512 px across from the subject's alpha and scaled in that pass, so its cost does
// not grow with the photo.
vips::VImage Compose(const DecodedImage& im, const vips::VImage& alpha, const ComposeSpec& spec);

using Format = ImageFormat;  // writable rows of common/image_formats.h
struct EncodeSpec {
  Format format = Format::kPng;
  int quality = 90;           // jpeg/webp/avif
  bool keep_metadata = true;  // carry EXIF, XMP, IPTC and ICC into the output
};

// Encodes `image` (JPEG is always opaque: flattened on white if it still has alpha). Returns
// the bytes; `mime` receives the content type. With keep_metadata, `metadata` is written as the
// format allows (PNG: EXIF, XMP, ICC; JPEG: EXIF, XMP, IPTC, ICC; WebP and AVIF: EXIF, XMP, ICC);
// an RGB ICC profile other than sRGB is honoured by converting the sRGB pixels into it, a CMYK
// or grey profile (which cannot describe an RGB output) is dropped. Without keep_metadata the
// output carries no metadata at all. Error: "internal_error" if libvips fails. Thread-safe.
Result<std::string> Encode(const vips::VImage& image, const Metadata& metadata,
                           const EncodeSpec& spec, std::string* mime);

// An RGBA PNG cut-out split into its colours (an opaque JPEG, quality 90) and its matte (a
// one-band PNG): remove.bg's format=zip. Errors: "internal_error" (not RGBA, libvips failed).
struct ColorAndAlpha {
  std::string color_jpeg, alpha_png;
};
Result<ColorAndAlpha> SplitColorAndAlpha(std::string_view rgba_png);

}  // namespace bgerase::imaging
