// Property tests (rapidcheck) for the options model: the size cap, foreground box and crop
// rectangle arithmetic over random images, colour round trips, and key-spelling insensitivity.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "removal/options.h"

namespace bgerase::removal {
namespace {

// CapSize's promises over sizes up to 100k x 100k and caps up to 60 MP.
RC_GTEST_PROP(CapSizeProperty, NeverUpscalesNeverExceedsKeepsAspect, ()) {
  // Thin images and tiny caps too, so the case where one side is pinned to 1 comes up.
  auto side = rc::gen::weightedOneOf<int>(
      {{3, rc::gen::inRange(1, 100'001)}, {1, rc::gen::inRange(1, 20)}});
  const int w = *side;
  const int h = *side;
  const int64_t max = *rc::gen::weightedOneOf<int64_t>(
      {{3, rc::gen::inRange<int64_t>(1, 60'000'001)}, {1, rc::gen::inRange<int64_t>(1, 2000)}});
  const auto [x, y] = CapSize(w, h, max);
  RC_ASSERT(x >= 1);
  RC_ASSERT(y >= 1);
  RC_ASSERT(x <= w);
  RC_ASSERT(y <= h);
  RC_ASSERT(int64_t{x} * y <= max);
  if (int64_t{w} * h <= max) {
    RC_ASSERT(x == w && y == h);  // fits already: untouched
    return;
  }
  // The exact scale s; sides whose scaled length is clearly >= 1 are plain floors of it.
  const long double s =
      std::sqrt(static_cast<long double>(max) / (static_cast<long double>(w) * h));
  if (w * s >= 1.001L && h * s >= 1.001L) {
    // Aspect within rounding: x = ws - a, y = hs - b with a, b in [0, 1) gives
    // |x*h - y*w| = |b*w - a*h| < max(w, h).
    RC_ASSERT(std::llabs(int64_t{x} * h - int64_t{y} * w) < std::max<int64_t>(w, h));
    // And as large as it can be: one more pixel on both sides passes the cap.
    RC_ASSERT((int64_t{x} + 1) * (int64_t{y} + 1) > max);
  } else if (w * s < 0.999L) {
    // The short side would round to 0: it is pinned to 1 and the other takes what the cap leaves.
    RC_ASSERT(x == 1);
    RC_ASSERT(y == std::min<int64_t>(h, max));
  } else if (h * s < 0.999L) {
    RC_ASSERT(y == 1);
    RC_ASSERT(x == std::min<int64_t>(w, max));
  }
}

// The same promises at the extremes of int, where products overflow 64 bits.
RC_GTEST_PROP(CapSizeProperty, HugeSidesStayExact, ()) {
  const int w = *rc::gen::inRange(1, 2'147'483'647);
  const int h = *rc::gen::inRange(1, 2'147'483'647);
  const int64_t max = *rc::gen::inRange<int64_t>(1, 1'000'000'000'000);
  const auto [x, y] = CapSize(w, h, max);
  RC_ASSERT(x >= 1 && y >= 1 && x <= w && y <= h);
  RC_ASSERT(int64_t{x} * y <= max);
}

struct Plane {
  int w = 0, h = 0;
  std::vector<uint8_t> alpha;
};

rc::Gen<Plane> GenPlane() {
  return rc::gen::mapcat(
      rc::gen::pair(rc::gen::inRange(1, 40), rc::gen::inRange(1, 40)), [](std::pair<int, int> wh) {
        // Mostly background so boxes are small and sparse.
        auto pixel = rc::gen::weightedOneOf<uint8_t>(
            {{6, rc::gen::just<uint8_t>(0)}, {1, rc::gen::arbitrary<uint8_t>()}});
        return rc::gen::map(rc::gen::container<std::vector<uint8_t>>(
                                static_cast<size_t>(wh.first * wh.second), pixel),
                            [wh](std::vector<uint8_t> a) {
                              return Plane{wh.first, wh.second, std::move(a)};
                            });
      });
}

RC_GTEST_PROP(ForegroundBoxProperty, ContainsEveryForegroundPixelAndIsMinimal, ()) {
  const Plane p = *GenPlane();
  const auto threshold = *rc::gen::arbitrary<uint8_t>();
  const Box b = ForegroundBox(p.alpha.data(), p.w, p.h, threshold);
  auto fg = [&](int x, int y) { return p.alpha[static_cast<size_t>(y) * p.w + x] > threshold; };
  bool any = false;
  for (int y = 0; y < p.h; ++y) {
    for (int x = 0; x < p.w; ++x) {
      if (!fg(x, y)) continue;
      any = true;
      RC_ASSERT(x >= b.left && x < b.left + b.width);
      RC_ASSERT(y >= b.top && y < b.top + b.height);
    }
  }
  RC_ASSERT(b.empty() == !any);
  if (!any) return;
  RC_ASSERT(b.left >= 0 && b.top >= 0 && b.left + b.width <= p.w && b.top + b.height <= p.h);
  // Minimal: each edge row and column of the box holds a foreground pixel.
  auto row_has = [&](int y) {
    for (int x = b.left; x < b.left + b.width; ++x) {
      if (fg(x, y)) return true;
    }
    return false;
  };
  auto col_has = [&](int x) {
    for (int y = b.top; y < b.top + b.height; ++y) {
      if (fg(x, y)) return true;
    }
    return false;
  };
  RC_ASSERT(row_has(b.top));
  RC_ASSERT(row_has(b.top + b.height - 1));
  RC_ASSERT(col_has(b.left));
  RC_ASSERT(col_has(b.left + b.width - 1));
}

RC_GTEST_PROP(CropRectProperty, InsideTheImageAroundTheSubject, ()) {
  const int iw = *rc::gen::inRange(1, 5000);
  const int ih = *rc::gen::inRange(1, 5000);
  const int left = *rc::gen::inRange(0, iw);
  const int top = *rc::gen::inRange(0, ih);
  const int width = *rc::gen::inRange(1, iw - left + 1);
  const int height = *rc::gen::inRange(1, ih - top + 1);
  const Box subject{left, top, width, height};
  const bool percent = *rc::gen::arbitrary<bool>();
  const double value = *rc::gen::inRange(0, 50'001) / (percent ? 1000.0 : 100.0);
  const Box c = CropRect(subject, {value, percent}, iw, ih);
  RC_ASSERT(!c.empty());
  RC_ASSERT(c.left >= 0 && c.top >= 0);
  RC_ASSERT(c.left + c.width <= iw && c.top + c.height <= ih);
  RC_ASSERT(c.left <= left && c.top <= top);
  RC_ASSERT(c.left + c.width >= left + width && c.top + c.height >= top + height);
  // Each side grows by the margin (either rounding of it) unless the image's edge stops it.
  const double mx = percent ? value / 100 * width : value;
  const double my = percent ? value / 100 * height : value;
  auto grew_ok = [](int grown, double margin, int room) {
    const int lo = static_cast<int>(std::floor(margin)), hi = static_cast<int>(std::ceil(margin));
    return grown == room ? grown <= hi : (grown >= lo && grown <= hi);
  };
  RC_ASSERT(grew_ok(left - c.left, mx, left));
  RC_ASSERT(grew_ok(c.left + c.width - (left + width), mx, iw - (left + width)));
  RC_ASSERT(grew_ok(top - c.top, my, top));
  RC_ASSERT(grew_ok(c.top + c.height - (top + height), my, ih - (top + height)));
}

RC_GTEST_PROP(CropRectProperty, EmptySubjectIsTheWholeImage, ()) {
  const int iw = *rc::gen::inRange(1, 5000);
  const int ih = *rc::gen::inRange(1, 5000);
  const Box subject{*rc::gen::inRange(-10, 5000), *rc::gen::inRange(-10, 5000),
                    *rc::gen::inRange(-5, 1), *rc::gen::inRange(-5, 5000)};
  RC_ASSERT(CropRect(subject, {*rc::gen::inRange(0, 500) * 1.0, false}, iw, ih) ==
            (Box{0, 0, iw, ih}));
}

rc::Gen<Rgba> GenRgba() {
  return rc::gen::apply(
      [](uint8_t r, uint8_t g, uint8_t b, uint8_t a) {
        return Rgba{r, g, b, a};
      },
      rc::gen::arbitrary<uint8_t>(), rc::gen::arbitrary<uint8_t>(), rc::gen::arbitrary<uint8_t>(),
      rc::gen::arbitrary<uint8_t>());
}

// Randomly upper-cases letters: every spelling a case-insensitive reader must accept.
std::string RandomCase(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    if (std::isalpha(static_cast<unsigned char>(c)) && *rc::gen::arbitrary<bool>()) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

RC_GTEST_PROP(ColorProperty, HexRoundTrips, ()) {
  const Rgba c = *GenRgba();
  RC_ASSERT(ParseColor(ColorToHex(c)) == std::optional<Rgba>(c));
  // Our own formatting, independent of ColorToHex: #rrggbbaa or #rrggbb, '#' optional, any case,
  // surrounded by spaces.
  char buf[16];
  if (c.a == 255 && *rc::gen::arbitrary<bool>()) {
    std::snprintf(buf, sizeof buf, "%02x%02x%02x", c.r, c.g, c.b);
  } else {
    std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x", c.r, c.g, c.b, c.a);
  }
  std::string s = RandomCase(buf);
  if (*rc::gen::arbitrary<bool>()) s = "#" + s;
  if (*rc::gen::arbitrary<bool>()) s = "  " + s + " ";
  RC_ASSERT(ParseColor(s) == std::optional<Rgba>(c));
}

RC_GTEST_PROP(ColorProperty, ShortHexDoublesEachDigit, ()) {
  const int r = *rc::gen::inRange(0, 16), g = *rc::gen::inRange(0, 16),
            b = *rc::gen::inRange(0, 16), a = *rc::gen::inRange(0, 16);
  const bool with_alpha = *rc::gen::arbitrary<bool>();
  char buf[8];
  if (with_alpha) {
    std::snprintf(buf, sizeof buf, "#%x%x%x%x", r, g, b, a);
  } else {
    std::snprintf(buf, sizeof buf, "#%x%x%x", r, g, b);
  }
  const Rgba want{static_cast<uint8_t>(r * 17), static_cast<uint8_t>(g * 17),
                  static_cast<uint8_t>(b * 17), static_cast<uint8_t>(with_alpha ? a * 17 : 255)};
  RC_ASSERT(ParseColor(RandomCase(buf)) == std::optional<Rgba>(want));
}

RC_GTEST_PROP(CropMarginProperty, IntegersInEveryForm, ()) {
  const int n = *rc::gen::inRange(0, 1'000'000);
  RC_ASSERT(ParseCropMargin(std::to_string(n)) == std::optional<CropMargin>({double(n), false}));
  RC_ASSERT(ParseCropMargin(RandomCase(std::to_string(n) + "px")) ==
            std::optional<CropMargin>({double(n), false}));
  RC_ASSERT(ParseCropMargin(std::to_string(n) + "%") ==
            std::optional<CropMargin>({double(n), true}));
  RC_ASSERT(!ParseCropMargin("-" + std::to_string(n)));
}

bool SameOptions(const RemovalOptions& a, const RemovalOptions& b) {
  return a.format == b.format && a.channels == b.channels && a.size == b.size &&
         a.max_pixels == b.max_pixels && a.crop == b.crop && a.crop_margin == b.crop_margin &&
         a.bg_color == b.bg_color && a.despill == b.despill && a.keep_metadata == b.keep_metadata &&
         a.quality == b.quality && a.on_behalf_of == b.on_behalf_of && a.store == b.store &&
         a.type == b.type;
}

// Random valid field sets, respelled with random case and '-'/'_' in keys (and random case in
// values that are case-insensitive), parse to the same options.
RC_GTEST_PROP(KeySpellingProperty, CaseAndDashPermutationsParseTheSame, ()) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> pool = {
      {"format", {"png", "jpg", "jpeg", "webp", "avif", "auto"}},
      {"channels", {"rgba", "alpha"}},
      {"size", {"preview", "medium", "hd", "full", "4k", "small"}},
      {"crop", {"true", "false", "yes", "off"}},
      {"crop_margin", {"0", "20px", "10%", "500"}},
      {"bg_color", {"white", "#abc", "ff000080", "rebeccapurple"}},
      {"despill", {"1", "no"}},
      {"metadata", {"keep", "strip"}},
      {"quality", {"1", "50", "100"}},
      {"store", {"on", "false"}},
      {"type", {"person", "car_part"}},
      {"on_behalf_of", {"Ada Lovelace"}},
  };
  OptionFields canonical, respelled;
  for (const auto& [key, values] : pool) {
    if (!*rc::gen::arbitrary<bool>()) continue;
    const std::string value = *rc::gen::elementOf(values);
    canonical.emplace_back(key, value);
    std::string k = RandomCase(key);
    for (char& c : k) {
      if (c == '_' && *rc::gen::arbitrary<bool>()) c = '-';
    }
    respelled.emplace_back(k, key == "on_behalf_of" ? value : RandomCase(value));
  }
  if (*rc::gen::arbitrary<bool>()) std::reverse(respelled.begin(), respelled.end());
  const auto a = ParseRemovalOptions(canonical);
  std::vector<std::string> unknown;
  const auto b = ParseRemovalOptions(respelled, nullptr, &unknown);
  RC_ASSERT(a.ok());
  RC_ASSERT(b.ok());
  RC_ASSERT(unknown.empty());
  RC_ASSERT(SameOptions(*a, *b));
}

RC_GTEST_PROP(BoolProperty, AnyCaseOfEverySpelling, ()) {
  const bool truthy = *rc::gen::arbitrary<bool>();
  const std::string word =
      *rc::gen::elementOf(truthy ? std::vector<std::string>{"true", "yes", "on", "1"}
                                 : std::vector<std::string>{"false", "no", "off", "0"});
  RC_ASSERT(ParseBool(RandomCase(word)) == std::optional<bool>(truthy));
  RC_ASSERT(!ParseBool(RandomCase(word) + "x"));
}

bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// Arbitrary bytes for keys and values (as a fuzzer would send): never a crash, and every
// error is listed with JSON-safe text.
RC_GTEST_PROP(ParseProperty, ArbitraryInputIsAnsweredSafely, ()) {
  const std::vector<std::string> keys = {"format",      "channels",     "size",    "crop",
                                         "crop_margin", "bg_color",     "despill", "metadata",
                                         "quality",     "on_behalf_of", "store",   "type"};
  const auto n = *rc::gen::inRange(0, 6);
  OptionFields fields;
  for (int i = 0; i < n; ++i) {
    const std::string key =
        *rc::gen::oneOf(rc::gen::elementOf(keys), rc::gen::arbitrary<std::string>());
    fields.emplace_back(key, *rc::gen::arbitrary<std::string>());
  }
  std::vector<FieldError> details;
  std::vector<std::string> unknown;
  const auto r = ParseRemovalOptions(fields, &details, &unknown);
  RC_ASSERT(r.ok() == details.empty());
  if (!r.ok()) {
    RC_ASSERT(r.status().code() == "validation_error" || r.status().code() == "invalid_bg_color");
    RC_ASSERT(ValidUtf8(r.status().message()));
  }
  for (const FieldError& e : details) {
    RC_ASSERT(ValidUtf8(e.input) && ValidUtf8(e.message) && ValidUtf8(e.field));
    RC_ASSERT(e.input.size() <= 260u);
    RC_ASSERT(!e.message.empty());
  }
}

}  // namespace
}  // namespace bgerase::removal
