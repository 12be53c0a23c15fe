// RemovalOptions: the one options model for the CLI and both HTTP dialects. Every option is
// parsed and validated here (case-insensitive keys, true/false/1/0/yes/no booleans), so the
// CLI and api/ only map their field names onto keys. Reference: docs/reference/options.md,
// docs/reference/api.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/image_formats.h"
#include "common/status.h"
#include "common/text.h"

namespace bgerase::removal {

// An output format: a row of common/image_formats.h marked writable.
using OutputFormat = ImageFormat;
enum class Channels { kRgba, kAlpha };

struct Rgba {
  uint8_t r = 0, g = 0, b = 0, a = 255;
  bool operator==(const Rgba&) const = default;
};

struct CropMargin {
  double value = 0;  // pixels, or percent of the subject box's size when `percent`
  bool percent = false;
  bool operator==(const CropMargin&) const = default;
};
// The margin on each side (remove.bg's crop_margin: one value for all four, two for top/bottom
// and left/right, or four in CSS order top, right, bottom, left).
struct CropMargins {
  CropMargin top, right, bottom, left;
  CropMargins() = default;
  CropMargins(CropMargin all) : top(all), right(all), bottom(all), left(all) {}  // NOLINT
  CropMargins(CropMargin t, CropMargin r, CropMargin b, CropMargin l)
      : top(t), right(r), bottom(b), left(l) {}
  bool operator==(const CropMargins&) const = default;
};

// remove.bg's `roi`: the only region of the input that may hold foreground (alpha is 0 outside),
// as x1 y1 x2 y2 — the left/top and right/bottom edges, each in pixels or in percent of the image's
// width (x) or height (y). "0% 0% 100% 100%" is the whole image.
struct RoiEdge {
  double value = 0;
  bool percent = false;
  bool operator==(const RoiEdge&) const = default;
};
struct Roi {
  RoiEdge x1, y1, x2, y2;
  bool operator==(const Roi&) const = default;
};

// Output size caps by megapixels; the output is never upscaled.
inline constexpr int64_t kPreviewPixels = 250'000;
inline constexpr int64_t kMediumPixels = 1'500'000;
inline constexpr int64_t kHdPixels = 4'000'000;
inline constexpr int64_t kFullPixels = 50'000'000;

// Limits on free-form values, enforced by ParseRemovalOptions (docs/reference/options.md says why).
inline constexpr double kMaxCropMarginPixels = 500;  // remove.bg's cap per side
inline constexpr double kMaxCropMarginPercent = 50;  // of the subject box, remove.bg's cap
inline constexpr size_t kMaxOnBehalfOfChars = 200;   // Unicode code points, after trimming

struct RemovalOptions {
  OutputFormat format = OutputFormat::kPng;
  // format=auto was asked: `format` is jpg for an opaque bg_color, else png, and the pipeline
  // makes it jpg for a background image without transparency.
  bool format_auto = false;
  Channels channels = Channels::kRgba;  // kAlpha: a single-channel PNG mask, whatever `format`
  std::string size = "full";            // the size name as given, normalised to lower case
  int64_t max_pixels = kFullPixels;     // cap implied by `size`
  bool crop = false;                    // crop to the subject
  CropMargins crop_margin;              // around the subject when cropping
  std::optional<Roi> roi;               // foreground only inside this region of the input
  // remove.bg's scale and position: the subject (its box) resized to fit `scale` of the canvas
  // (0.1..1; none: its own size) and placed at `position` (fractions of the free space across
  // and down, as CSS background-position; none: where it was, or centred when scaled).
  std::optional<double> scale;
  std::optional<std::pair<double, double>> position;
  std::optional<Rgba> bg_color;  // composite onto this colour; none: transparent
  // remove.bg's bg_image_file / bg_image_url: the encoded bytes of a background image, set by the
  // caller (the CLI's --bg-image, the API's fields), never by ParseRemovalOptions. It covers the
  // output, centred; bg_color and a background image are mutually exclusive (callers refuse both).
  std::shared_ptr<const std::string> bg_image;
  // remove.bg's add_shadow, shadow_type (drop | car | 3D) and shadow_opacity (0..100 %).
  bool add_shadow = false;
  enum class ShadowType { kDrop, kCar, kThreeD } shadow_type = ShadowType::kDrop;
  int shadow_opacity = 50;
  bool despill = false;  // remove background colour spill from edge pixels
  // How hard to work on the cut-out (docs/reference/options.md, quality_mode): fast is the
  // model's mask alone, with the photo's colours; balanced (the default) also estimates the
  // subject's own colour under soft alpha, so no old background shows on a new one; best also
  // runs the model on the photo's mirror image and averages the two masks.
  enum class QualityMode { kFast, kBalanced, kBest } quality_mode = QualityMode::kBalanced;
  // balanced and best re-estimate unsure alpha from the photo's colours (matting/refine.h);
  // refine=off keeps the model's alpha there, for comparison. fast never refines.
  bool refine = true;
  bool keep_metadata = true;  // metadata=keep (default) | strip
  int quality = 90;           // 1..100, for jpg/webp/avif
  std::string on_behalf_of;   // rights holder, free text (recorded when stored)
  bool store = false;         // keep input and result for later download (API)
  // remove.bg's foreground `type` hint (auto|person|product|animal|car|car_interior|car_part|
  // transportation|graphics|other), lower case. Recorded for X-Type; the model is general-purpose
  // and segments the same way whatever it says.
  std::string type = "auto";
};

// One rejected field, shaped for the API's 422 `details` entries.
struct FieldError {
  std::string type;     // e.g. "enum", "bool_parsing", "color", "int_parsing", "range"
  std::string field;    // the key as the caller spelled it
  std::string message;  // a sentence a person understands
  std::string input;    // the offending value
};

using OptionFields = std::vector<std::pair<std::string, std::string>>;

// Parses `fields` (key, value) into options. Keys are case-insensitive; `-` and `_` are the same
// (so CLI `--crop-margin` and API `crop_margin` meet). Keys this model does not know are left
// to the caller (returned in `unknown` when non-null), never silently treated as options.
// Errors: "invalid_bg_color" for an unparseable colour, "validation_error" for every other bad
// value; every bad field is appended to `details` (when non-null) so the API can list them all.
// The Status code follows the first bad field in `fields` order; its message names that field
// and the accepted values.
// Values are trimmed of ASCII whitespace; an empty value means the field is absent (remove.bg
// clients send empty strings for unused fields), for booleans too, so a bare CLI flag such as
// `--crop` must be passed as ("crop", "true"). A key given twice with different values is an
// error. Both dialects' names are accepted: `bg_colour` is `bg_color`; `format=auto` becomes jpg
// when an opaque `bg_color` is given and png otherwise; `format=zip` is refused (api/ may
// intercept it before calling this, using NormalizeOptionKey). Details: docs/reference/options.md.
Result<RemovalOptions> ParseRemovalOptions(const OptionFields& fields,
                                           std::vector<FieldError>* details = nullptr,
                                           std::vector<std::string>* unknown = nullptr);

// The form keys are compared in: ASCII lower case with every `-` turned into `_`.
std::string NormalizeOptionKey(std::string_view key);

// Boolean spellings: true/false/1/0/yes/no/on/off, any case. nullopt when none. The Parse*
// functions below ignore leading and trailing ASCII whitespace.
std::optional<bool> ParseBool(const std::string& s);

// CSS named colours, #rgb, #rgba, #rrggbb, #rrggbbaa, with or without '#'. nullopt when none.
// All 148 CSS Color 4 names plus `transparent` (0,0,0,0); names and hex digits in any case.
std::optional<Rgba> ParseColor(const std::string& s);

// "#rrggbb" for an opaque colour, "#rrggbbaa" otherwise, lower case; ParseColor reads it back.
std::string ColorToHex(const Rgba& c);

// "20" -> 20 px, "10%" -> 10 percent, "20px" -> 20 px. nullopt when malformed or negative.
// Decimals are allowed ("12.5%"); one value (ParseCropMargins reads the two- and four-value
// forms). The caps above are checked by ParseRemovalOptions, not here.
std::optional<CropMargin> ParseCropMargin(const std::string& s);
// One, two or four values separated by spaces, as CSS (and remove.bg) reads them: "10%" for all
// sides, "10px 20px" for top/bottom and left/right, "1 2 3 4" for top, right, bottom, left.
// nullopt when malformed (including three values, which remove.bg does not take).
std::optional<CropMargins> ParseCropMargins(const std::string& s);

// Limits of `scale`, in percent of the canvas (remove.bg's).
inline constexpr double kMinScalePercent = 10, kMaxScalePercent = 100;

// "x1 y1 x2 y2", four values separated by spaces (or commas), each "20", "20px" or "12.5%";
// nullopt when malformed, negative or over 100%. Whether it fits an image is RoiBox's question.
std::optional<Roi> ParseRoi(const std::string& s);

// The largest size with the same aspect ratio that fits `max_pixels`, never above (w, h), each
// side at least 1. Each side is floor(side * s) for the real scale s = sqrt(max_pixels / (w*h))
// (computed exactly), so the aspect ratio is kept to within one pixel of rounding; a side that
// would round to 0 becomes 1 and the other side shrinks to keep w*h <= max_pixels. w or h below
// 1 count as 1, max_pixels below 1 as 1.
std::pair<int, int> CapSize(int w, int h, int64_t max_pixels);

struct Box {
  int left = 0, top = 0, width = 0, height = 0;
  bool empty() const { return width <= 0 || height <= 0; }
  bool operator==(const Box&) const = default;
};

// `roi` on a w x h image, in pixels: a percent edge is rounded to the nearest pixel. Error
// "bad_request" naming the roi when it is reversed or empty (x2 <= x1 or y2 <= y1) or reaches
// outside the image (a pixel edge past w or h).
Result<Box> RoiBox(const Roi& roi, int w, int h);

// Where remove.bg's scale and position put a subject `box` on a w x h canvas. The factor is
// scale * min(w / box.width, h / box.height) (the subject fits `scale` of the canvas), 1 without
// a scale; with the scaled size sw x sh (rounded, at least 1) the top-left corner is
// (px * (w - sw), py * (h - sh)) rounded, for `position` (px, py) — or, without a position, the
// scaled box keeps the original box's centre, moved inside the canvas where it would overhang.
struct Placement {
  double factor = 1;
  int left = 0, top = 0;
};
Placement PlaceOnCanvas(const Box& box, int w, int h, std::optional<double> scale,
                        std::optional<std::pair<double, double>> position);

// The subject's bounding box: every pixel whose alpha exceeds `threshold` (0..255), in a
// row-major w x h alpha plane. Empty when no pixel does (or the plane is null or has no area).
Box ForegroundBox(const uint8_t* alpha, int w, int h, uint8_t threshold = 10);

// The crop rectangle for `subject` grown by `margin` on every side, clipped to the image.
// An empty subject (or one wholly outside the image) crops to the whole image. A percent
// margin is relative to the subject box: p% of its width on the left and right, p% of its
// height on top and bottom; margins are rounded to the nearest pixel.
Box CropRect(const Box& subject, const CropMargins& margin, int image_w, int image_h);
inline Box CropRect(const Box& subject, const CropMargin& margin, int image_w, int image_h) {
  return CropRect(subject, CropMargins(margin), image_w, image_h);
}

}  // namespace bgerase::removal
