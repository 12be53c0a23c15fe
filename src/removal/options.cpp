// RemovalOptions parsing and the option arithmetic (size caps, foreground box, crop rectangle):
// the one place CLI flags and both HTTP dialects' fields become validated options.
#include "removal/options.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>

#include "common/text.h"

namespace bgerase::removal {
namespace {

struct NamedColor {
  std::string_view name;
  uint32_t rgb;
};

// CSS Color 4 named colours (148, `gray`/`grey` spellings both), sorted for binary search.
constexpr NamedColor kNamedColors[] = {
    {"aliceblue", 0xF0F8FF},
    {"antiquewhite", 0xFAEBD7},
    {"aqua", 0x00FFFF},
    {"aquamarine", 0x7FFFD4},
    {"azure", 0xF0FFFF},
    {"beige", 0xF5F5DC},
    {"bisque", 0xFFE4C4},
    {"black", 0x000000},
    {"blanchedalmond", 0xFFEBCD},
    {"blue", 0x0000FF},
    {"blueviolet", 0x8A2BE2},
    {"brown", 0xA52A2A},
    {"burlywood", 0xDEB887},
    {"cadetblue", 0x5F9EA0},
    {"chartreuse", 0x7FFF00},
    {"chocolate", 0xD2691E},
    {"coral", 0xFF7F50},
    {"cornflowerblue", 0x6495ED},
    {"cornsilk", 0xFFF8DC},
    {"crimson", 0xDC143C},
    {"cyan", 0x00FFFF},
    {"darkblue", 0x00008B},
    {"darkcyan", 0x008B8B},
    {"darkgoldenrod", 0xB8860B},
    {"darkgray", 0xA9A9A9},
    {"darkgreen", 0x006400},
    {"darkgrey", 0xA9A9A9},
    {"darkkhaki", 0xBDB76B},
    {"darkmagenta", 0x8B008B},
    {"darkolivegreen", 0x556B2F},
    {"darkorange", 0xFF8C00},
    {"darkorchid", 0x9932CC},
    {"darkred", 0x8B0000},
    {"darksalmon", 0xE9967A},
    {"darkseagreen", 0x8FBC8F},
    {"darkslateblue", 0x483D8B},
    {"darkslategray", 0x2F4F4F},
    {"darkslategrey", 0x2F4F4F},
    {"darkturquoise", 0x00CED1},
    {"darkviolet", 0x9400D3},
    {"deeppink", 0xFF1493},
    {"deepskyblue", 0x00BFFF},
    {"dimgray", 0x696969},
    {"dimgrey", 0x696969},
    {"dodgerblue", 0x1E90FF},
    {"firebrick", 0xB22222},
    {"floralwhite", 0xFFFAF0},
    {"forestgreen", 0x228B22},
    {"fuchsia", 0xFF00FF},
    {"gainsboro", 0xDCDCDC},
    {"ghostwhite", 0xF8F8FF},
    {"gold", 0xFFD700},
    {"goldenrod", 0xDAA520},
    {"gray", 0x808080},
    {"green", 0x008000},
    {"greenyellow", 0xADFF2F},
    {"grey", 0x808080},
    {"honeydew", 0xF0FFF0},
    {"hotpink", 0xFF69B4},
    {"indianred", 0xCD5C5C},
    {"indigo", 0x4B0082},
    {"ivory", 0xFFFFF0},
    {"khaki", 0xF0E68C},
    {"lavender", 0xE6E6FA},
    {"lavenderblush", 0xFFF0F5},
    {"lawngreen", 0x7CFC00},
    {"lemonchiffon", 0xFFFACD},
    {"lightblue", 0xADD8E6},
    {"lightcoral", 0xF08080},
    {"lightcyan", 0xE0FFFF},
    {"lightgoldenrodyellow", 0xFAFAD2},
    {"lightgray", 0xD3D3D3},
    {"lightgreen", 0x90EE90},
    {"lightgrey", 0xD3D3D3},
    {"lightpink", 0xFFB6C1},
    {"lightsalmon", 0xFFA07A},
    {"lightseagreen", 0x20B2AA},
    {"lightskyblue", 0x87CEFA},
    {"lightslategray", 0x778899},
    {"lightslategrey", 0x778899},
    {"lightsteelblue", 0xB0C4DE},
    {"lightyellow", 0xFFFFE0},
    {"lime", 0x00FF00},
    {"limegreen", 0x32CD32},
    {"linen", 0xFAF0E6},
    {"magenta", 0xFF00FF},
    {"maroon", 0x800000},
    {"mediumaquamarine", 0x66CDAA},
    {"mediumblue", 0x0000CD},
    {"mediumorchid", 0xBA55D3},
    {"mediumpurple", 0x9370DB},
    {"mediumseagreen", 0x3CB371},
    {"mediumslateblue", 0x7B68EE},
    {"mediumspringgreen", 0x00FA9A},
    {"mediumturquoise", 0x48D1CC},
    {"mediumvioletred", 0xC71585},
    {"midnightblue", 0x191970},
    {"mintcream", 0xF5FFFA},
    {"mistyrose", 0xFFE4E1},
    {"moccasin", 0xFFE4B5},
    {"navajowhite", 0xFFDEAD},
    {"navy", 0x000080},
    {"oldlace", 0xFDF5E6},
    {"olive", 0x808000},
    {"olivedrab", 0x6B8E23},
    {"orange", 0xFFA500},
    {"orangered", 0xFF4500},
    {"orchid", 0xDA70D6},
    {"palegoldenrod", 0xEEE8AA},
    {"palegreen", 0x98FB98},
    {"paleturquoise", 0xAFEEEE},
    {"palevioletred", 0xDB7093},
    {"papayawhip", 0xFFEFD5},
    {"peachpuff", 0xFFDAB9},
    {"peru", 0xCD853F},
    {"pink", 0xFFC0CB},
    {"plum", 0xDDA0DD},
    {"powderblue", 0xB0E0E6},
    {"purple", 0x800080},
    {"rebeccapurple", 0x663399},
    {"red", 0xFF0000},
    {"rosybrown", 0xBC8F8F},
    {"royalblue", 0x4169E1},
    {"saddlebrown", 0x8B4513},
    {"salmon", 0xFA8072},
    {"sandybrown", 0xF4A460},
    {"seagreen", 0x2E8B57},
    {"seashell", 0xFFF5EE},
    {"sienna", 0xA0522D},
    {"silver", 0xC0C0C0},
    {"skyblue", 0x87CEEB},
    {"slateblue", 0x6A5ACD},
    {"slategray", 0x708090},
    {"slategrey", 0x708090},
    {"snow", 0xFFFAFA},
    {"springgreen", 0x00FF7F},
    {"steelblue", 0x4682B4},
    {"tan", 0xD2B48C},
    {"teal", 0x008080},
    {"thistle", 0xD8BFD8},
    {"tomato", 0xFF6347},
    {"turquoise", 0x40E0D0},
    {"violet", 0xEE82EE},
    {"wheat", 0xF5DEB3},
    {"white", 0xFFFFFF},
    {"whitesmoke", 0xF5F5F5},
    {"yellow", 0xFFFF00},
    {"yellowgreen", 0x9ACD32},
};

std::string Quoted(std::string_view s) {
  return "\"" + Echo(s) + "\"";
}

// Parses a non-negative decimal ("12", "12.5") with nothing else around it.
std::optional<double> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 32) return std::nullopt;
  size_t digits = 0, dots = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] >= '0' && s[i] <= '9') {
      ++digits;
    } else if (s[i] == '.' && i > 0 && i + 1 < s.size()) {
      ++dots;
    } else {
      return std::nullopt;
    }
  }
  if (digits == 0 || dots > 1) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

struct SizeName {
  std::string_view name;
  int64_t max_pixels;
};

// Both dialects' size names. remove.bg's small/regular are its 0.25 MP tier; its 4k and 50MP
// and our auto are "as large as we produce", i.e. full.
constexpr SizeName kSizes[] = {
    {"preview", kPreviewPixels}, {"small", kPreviewPixels}, {"regular", kPreviewPixels},
    {"medium", kMediumPixels},   {"hd", kHdPixels},         {"full", kFullPixels},
    {"4k", kFullPixels},         {"50mp", kFullPixels},     {"auto", kFullPixels},
};

// remove.bg's documented foreground types; our model is general-purpose, so any is honest.
constexpr std::string_view kTypes[] = {"auto",     "person",       "product",  "animal",
                                       "car",      "car_interior", "car_part", "transportation",
                                       "graphics", "other"};

// The canonical field names, after NormalizeOptionKey; aliases map onto these.
std::optional<std::string_view> CanonicalField(const std::string& key) {
  static constexpr std::string_view kFields[] = {
      "format",       "channels", "size",     "crop",         "crop_margin", "bg_color",
      "despill",      "metadata", "quality",  "on_behalf_of", "store",       "type",
      "roi",          "scale",    "position", "add_shadow",   "shadow_type", "shadow_opacity",
      "quality_mode", "refine"};
  if (key == "bg_colour") return std::string_view("bg_color");
  for (std::string_view f : kFields) {
    if (key == f) return f;
  }
  return std::nullopt;
}

class FieldParser {
 public:
  explicit FieldParser(RemovalOptions& o) : o_(o) {}

  void Parse(std::string_view field, const std::string& key, std::string_view value) {
    key_ = &key;
    value_ = value;
    const std::string v = Lower(value);
    if (field == "format") {
      ParseFormat(v);
    } else if (field == "channels") {
      if (v == "rgba") {
        o_.channels = Channels::kRgba;
      } else if (v == "alpha") {
        o_.channels = Channels::kAlpha;
      } else {
        Fail("enum", "must be rgba or alpha");
      }
    } else if (field == "size") {
      ParseSize(v);
    } else if (field == "crop") {
      ParseFlag(o_.crop);
    } else if (field == "despill") {
      ParseFlag(o_.despill);
    } else if (field == "store") {
      ParseFlag(o_.store);
    } else if (field == "refine") {
      ParseFlag(o_.refine);
    } else if (field == "crop_margin") {
      ParseMargin();
    } else if (field == "bg_color") {
      ParseBackground();
    } else if (field == "add_shadow") {
      ParseFlag(o_.add_shadow);
    } else if (field == "shadow_type") {
      if (v == "drop") {
        o_.shadow_type = RemovalOptions::ShadowType::kDrop;
      } else if (v == "car") {
        o_.shadow_type = RemovalOptions::ShadowType::kCar;
      } else if (v == "3d") {
        o_.shadow_type = RemovalOptions::ShadowType::kThreeD;
      } else {
        Fail("enum", "must be drop, car or 3D");
      }
    } else if (field == "quality_mode") {
      if (v == "fast") {
        o_.quality_mode = RemovalOptions::QualityMode::kFast;
      } else if (v == "balanced") {
        o_.quality_mode = RemovalOptions::QualityMode::kBalanced;
      } else if (v == "best") {
        o_.quality_mode = RemovalOptions::QualityMode::kBest;
      } else {
        Fail("enum", "must be fast, balanced or best");
      }
    } else if (field == "shadow_opacity") {
      ParseShadowOpacity();
    } else if (field == "scale") {
      ParseScale(v);
    } else if (field == "position") {
      ParsePosition(v);
    } else if (field == "roi") {
      if (auto roi = ParseRoi(std::string(value_))) {
        o_.roi = *roi;
      } else {
        Fail("roi_parsing",
             "must be four edges x1 y1 x2 y2, each in pixels or percent of the image (e.g. "
             "\"0% 0% 100% 100%\" or \"10 20 400 300\")");
      }
    } else if (field == "metadata") {
      if (v == "keep") {
        o_.keep_metadata = true;
      } else if (v == "strip") {
        o_.keep_metadata = false;
      } else {
        Fail("enum", "must be keep or strip");
      }
    } else if (field == "quality") {
      ParseQuality();
    } else if (field == "on_behalf_of") {
      ParseOnBehalfOf();
    } else if (field == "type") {
      if (std::find(std::begin(kTypes), std::end(kTypes), v) != std::end(kTypes)) {
        o_.type = v;
      } else {
        Fail("enum",
             "must be one of auto, person, product, animal, car, car_interior, car_part, "
             "transportation, graphics, other");
      }
    }
  }

  // Called once every field is read: a scaled subject is centred unless placed explicitly.
  void ResolvePosition() {
    if (o_.scale && !position_set_) o_.position = std::pair{0.5, 0.5};
  }

  // Called once every field is read: `auto` depends on bg_color.
  void ResolveFormat() {
    o_.format_auto = format_auto_;
    if (!format_auto_) return;
    o_.format = o_.bg_color && o_.bg_color->a == 255 ? OutputFormat::kJpeg : OutputFormat::kPng;
  }

  std::vector<FieldError>& errors() { return errors_; }

  void Fail(std::string type, const std::string& rule) {
    errors_.push_back({std::move(type), Echo(*key_),
                       Echo(*key_) + " " + rule + "; got " + Quoted(value_), Echo(value_)});
  }

 private:
  void ParseFormat(const std::string& v) {
    format_auto_ = false;
    const ImageFormatInfo* f = FormatBySuffix(v);
    if (f && f->writable) {
      o_.format = f->format;
    } else if (v == "auto") {
      format_auto_ = true;
    } else if (v == "zip") {
      Fail("enum",
           "zip is not supported here; use png (with transparency), jpg, webp, avif or auto");
    } else {
      Fail("enum", "must be one of png, jpg (also jpeg, jpe, jfif), webp, avif or auto");
    }
  }

  void ParseSize(const std::string& v) {
    for (const SizeName& s : kSizes) {
      if (v == s.name) {
        o_.size = v;
        o_.max_pixels = s.max_pixels;
        return;
      }
    }
    Fail("enum",
         "must be one of preview (0.25 MP), medium (1.5 MP), hd (4 MP), full (up to 50 MP) or "
         "auto (= full); remove.bg's small, regular (0.25 MP), 4k and 50MP (= full) also work");
  }

  void ParseFlag(bool& out) {
    if (auto b = ParseBool(std::string(value_))) {
      out = *b;
    } else {
      Fail("bool_parsing", "must be a boolean: true/false, 1/0, yes/no or on/off");
    }
  }

  void ParseMargin() {
    static const std::string kRule =
        "must be one, two or four margins (all sides; top/bottom and left/right; top, right, "
        "bottom, left) in pixels or percent of the subject (e.g. 20, 20px, 10%, \"10% 5%\"), each "
        "at most " +
        std::to_string(static_cast<int>(kMaxCropMarginPixels)) + "px or " +
        std::to_string(static_cast<int>(kMaxCropMarginPercent)) + "%";
    auto m = ParseCropMargins(std::string(value_));
    auto over = [](const CropMargin& side) {
      return side.value > (side.percent ? kMaxCropMarginPercent : kMaxCropMarginPixels);
    };
    if (!m) {
      Fail("margin_parsing", kRule);
    } else if (over(m->top) || over(m->right) || over(m->bottom) || over(m->left)) {
      Fail("range", kRule);
    } else {
      o_.crop_margin = *m;
    }
  }

  // 0..100, a whole percentage ("50" or "50%").
  void ParseShadowOpacity() {
    std::string_view number = Trim(value_);
    if (number.ends_with('%')) number.remove_suffix(1);
    auto p = ParseDecimal(Trim(number));
    if (!p || *p > 100 || *p != std::floor(*p))
      return Fail("range", "must be a whole percentage from 0 to 100");
    o_.shadow_opacity = static_cast<int>(*p);
  }

  // "original" or 10%..100% ("50" means 50% too).
  void ParseScale(const std::string& v) {
    static const std::string kRule = "must be original or a percentage from " +
                                     std::to_string(static_cast<int>(kMinScalePercent)) + "% to " +
                                     std::to_string(static_cast<int>(kMaxScalePercent)) + "%";
    if (v == "original") {
      o_.scale.reset();
      return;
    }
    std::string_view number = Trim(v);
    if (number.ends_with('%')) number.remove_suffix(1);
    auto p = ParseDecimal(Trim(number));
    if (!p) return Fail("scale_parsing", kRule);
    if (*p < kMinScalePercent || *p > kMaxScalePercent) return Fail("range", kRule);
    o_.scale = *p / 100;
  }

  // "original", "center", "x%" (both) or "x% y%", each 0%..100%.
  void ParsePosition(const std::string& v) {
    static const std::string kRule =
        "must be original, center, or one or two percentages from 0% to 100% (x, then y)";
    if (v == "original") {
      o_.position.reset();
      position_set_ = true;
      return;
    }
    if (v == "center" || v == "centre") {
      o_.position = std::pair{0.5, 0.5};
      position_set_ = true;
      return;
    }
    std::vector<double> parts;
    std::string_view rest = Trim(v);
    while (!rest.empty() && parts.size() <= 2) {
      const auto end = std::min(rest.find_first_of(" \t,"), rest.size());
      std::string_view item = rest.substr(0, end);
      if (!item.ends_with('%')) return Fail("position_parsing", kRule);
      item.remove_suffix(1);
      auto p = ParseDecimal(Trim(item));
      if (!p || *p > 100) return Fail("position_parsing", kRule);
      parts.push_back(*p / 100);
      rest = Trim(rest.substr(end));
      if (!rest.empty() && rest.front() == ',') rest = Trim(rest.substr(1));
    }
    if (parts.empty() || parts.size() > 2) return Fail("position_parsing", kRule);
    o_.position = std::pair{parts[0], parts.size() == 2 ? parts[1] : parts[0]};
    position_set_ = true;
  }

  void ParseBackground() {
    auto c = ParseColor(std::string(value_));
    if (!c) {
      Fail("color",
           "must be a CSS colour name (e.g. white, rebeccapurple, transparent) or a hex colour "
           "#rgb, #rgba, #rrggbb or #rrggbbaa ('#' optional)");
      return;
    }
    // Compositing onto a fully transparent colour changes nothing, so it is "no background".
    o_.bg_color = c->a == 0 ? std::nullopt : c;
  }

  void ParseQuality() {
    static const std::string kRule = "must be a whole number from 1 to 100";
    std::string_view s = value_;
    if (s.empty() ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      Fail("int_parsing", kRule);
      return;
    }
    int64_t q = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), q);
    if (ec != std::errc() || end != s.data() + s.size() || q < 1 || q > 100) {
      Fail("range", kRule);
      return;
    }
    o_.quality = static_cast<int>(q);
  }

  void ParseOnBehalfOf() {
    // Recorded in the store and echoed in exports and headers: valid UTF-8 without control
    // characters (no header or log injection), and short.
    size_t count = 0;
    size_t i = 0;
    while (i < value_.size()) {
      const int32_t cp = NextCodePoint(value_, i);
      if (cp < 0) {
        Fail("string_invalid", "must be valid UTF-8 text");
        return;
      }
      if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
        Fail("string_invalid", "must not contain control characters such as line breaks");
        return;
      }
      ++count;
    }
    if (count > kMaxOnBehalfOfChars) {
      Fail("string_too_long", "must be at most " + std::to_string(kMaxOnBehalfOfChars) +
                                  " characters, not " + std::to_string(count));
      return;
    }
    o_.on_behalf_of = std::string(value_);
  }

  RemovalOptions& o_;
  std::vector<FieldError> errors_;
  const std::string* key_ = nullptr;
  std::string_view value_;
  bool format_auto_ = false;
  bool position_set_ = false;  // `position` was given (even as original)
};

}  // namespace

std::string NormalizeOptionKey(std::string_view key) {
  std::string out = Lower(key);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

Result<RemovalOptions> ParseRemovalOptions(const OptionFields& fields,
                                           std::vector<FieldError>* details,
                                           std::vector<std::string>* unknown) {
  RemovalOptions options;
  FieldParser parser(options);
  // canonical field -> (key as spelled, trimmed value) of its first non-empty occurrence.
  std::map<std::string_view, std::pair<std::string, std::string>, std::less<>> seen;
  for (const auto& [key, raw_value] : fields) {
    const auto field = CanonicalField(NormalizeOptionKey(key));
    if (!field) {
      if (unknown) unknown->push_back(key);
      continue;
    }
    const std::string_view value = Trim(raw_value);
    if (value.empty()) continue;  // absent: remove.bg clients send "" for unused fields
    if (auto it = seen.find(*field); it != seen.end()) {
      if (it->second.second != value) {
        const std::string both = Quoted(it->second.second) + " and " + Quoted(value);
        parser.errors().push_back(
            {"duplicate", Echo(key),
             Echo(key) + " was given twice with different values (" + both + "); give it once",
             Echo(value)});
      }
      continue;
    }
    seen.emplace(*field, std::make_pair(key, std::string(value)));
    parser.Parse(*field, key, value);
  }
  parser.ResolveFormat();
  parser.ResolvePosition();

  auto& errors = parser.errors();
  if (errors.empty()) return options;
  std::string message = errors.front().message;
  if (errors.size() > 1) {
    message += " (and " + std::to_string(errors.size() - 1) + " more invalid field" +
               (errors.size() > 2 ? "s)" : ")");
  }
  const std::string code = errors.front().type == "color" ? "invalid_bg_color" : "validation_error";
  if (details) details->insert(details->end(), errors.begin(), errors.end());
  return Status(code, message);
}

std::optional<bool> ParseBool(const std::string& s) {
  const std::string v = Lower(Trim(s));
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return std::nullopt;
}

std::optional<Rgba> ParseColor(const std::string& s) {
  const std::string v = Lower(Trim(s));
  if (v == "transparent") return Rgba{0, 0, 0, 0};
  const auto named =
      std::lower_bound(std::begin(kNamedColors), std::end(kNamedColors), v,
                       [](const NamedColor& c, const std::string& name) { return c.name < name; });
  if (named != std::end(kNamedColors) && named->name == v) {
    return Rgba{static_cast<uint8_t>(named->rgb >> 16), static_cast<uint8_t>(named->rgb >> 8),
                static_cast<uint8_t>(named->rgb), 255};
  }
  std::string_view hex = v;
  if (!hex.empty() && hex.front() == '#') hex.remove_prefix(1);
  if (hex.size() != 3 && hex.size() != 4 && hex.size() != 6 && hex.size() != 8) {
    return std::nullopt;
  }
  std::array<uint8_t, 4> ch = {0, 0, 0, 255};
  const bool short_form = hex.size() <= 4;
  const size_t n = short_form ? hex.size() : hex.size() / 2;
  for (size_t i = 0; i < n; ++i) {
    if (short_form) {
      const int d = HexDigit(hex[i]);
      if (d < 0) return std::nullopt;
      ch[i] = static_cast<uint8_t>(d * 17);  // #abc is #aabbcc
    } else {
      const int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      ch[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
  }
  return Rgba{ch[0], ch[1], ch[2], ch[3]};
}

std::string ColorToHex(const Rgba& c) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "#";
  auto put = [&](uint8_t v) {
    out += kDigits[v >> 4];
    out += kDigits[v & 15];
  };
  put(c.r);
  put(c.g);
  put(c.b);
  if (c.a != 255) put(c.a);
  return out;
}

std::optional<CropMargin> ParseCropMargin(const std::string& s) {
  std::string v = Lower(Trim(s));
  CropMargin m;
  std::string_view number = v;
  if (number.ends_with('%')) {
    m.percent = true;
    number.remove_suffix(1);
  } else if (number.ends_with("px")) {
    number.remove_suffix(2);
  }
  auto value = ParseDecimal(Trim(number));
  if (!value) return std::nullopt;
  m.value = *value;
  return m;
}

std::optional<CropMargins> ParseCropMargins(const std::string& s) {
  std::vector<CropMargin> values;
  std::string_view rest = Trim(s);
  while (!rest.empty()) {
    const auto end = std::min(rest.find_first_of(" \t"), rest.size());
    auto m = ParseCropMargin(std::string(rest.substr(0, end)));
    if (!m || values.size() == 4) return std::nullopt;
    values.push_back(*m);
    rest = Trim(rest.substr(end));
  }
  switch (values.size()) {
    case 1:
      return CropMargins(values[0]);
    case 2:
      return CropMargins(values[0], values[1], values[0], values[1]);
    case 4:
      return CropMargins(values[0], values[1], values[2], values[3]);
    default:
      return std::nullopt;
  }
}

std::optional<Roi> ParseRoi(const std::string& s) {
  std::string v = Lower(Trim(s));
  std::replace(v.begin(), v.end(), ',', ' ');
  RoiEdge edges[4];
  std::string_view rest = v;
  for (RoiEdge& e : edges) {
    rest = Trim(rest);
    const auto end = std::min(rest.find_first_of(" \t"), rest.size());
    auto m = ParseCropMargin(std::string(rest.substr(0, end)));
    if (!m || (m->percent && m->value > 100)) return std::nullopt;
    e = {m->value, m->percent};
    rest.remove_prefix(end);
  }
  if (!Trim(rest).empty()) return std::nullopt;
  return Roi{edges[0], edges[1], edges[2], edges[3]};
}

Result<Box> RoiBox(const Roi& roi, int w, int h) {
  auto at = [](const RoiEdge& e, int size) {
    return e.percent ? std::llround(e.value * size / 100) : std::llround(e.value);
  };
  const long long x1 = at(roi.x1, w), y1 = at(roi.y1, h), x2 = at(roi.x2, w), y2 = at(roi.y2, h);
  const std::string size = std::to_string(w) + "x" + std::to_string(h);
  if (x2 <= x1 || y2 <= y1)
    return Status(
        "bad_request",
        "roi is reversed or empty: x2 must exceed x1 and y2 exceed y1 (on the " + size + " image)");
  if (x2 > w || y2 > h) return Status("bad_request", "roi reaches outside the " + size + " image");
  return Box{static_cast<int>(x1), static_cast<int>(y1), static_cast<int>(x2 - x1),
             static_cast<int>(y2 - y1)};
}

Placement PlaceOnCanvas(const Box& box, int w, int h, std::optional<double> scale,
                        std::optional<std::pair<double, double>> position) {
  Placement p;
  if (box.empty() || w <= 0 || h <= 0) return p;
  if (scale)
    p.factor =
        *scale * std::min(static_cast<double>(w) / box.width, static_cast<double>(h) / box.height);
  const int sw = std::max(1, static_cast<int>(std::lround(box.width * p.factor)));
  const int sh = std::max(1, static_cast<int>(std::lround(box.height * p.factor)));
  if (position) {
    p.left = static_cast<int>(std::lround(position->first * (w - sw)));
    p.top = static_cast<int>(std::lround(position->second * (h - sh)));
  } else {
    const double cx = box.left + box.width / 2.0, cy = box.top + box.height / 2.0;
    p.left = static_cast<int>(std::lround(cx - sw / 2.0));
    p.top = static_cast<int>(std::lround(cy - sh / 2.0));
    p.left = std::clamp(p.left, std::min(0, w - sw), std::max(0, w - sw));
    p.top = std::clamp(p.top, std::min(0, h - sh), std::max(0, h - sh));
  }
  return p;
}

std::pair<int, int> CapSize(int w, int h, int64_t max_pixels) {
  const int64_t W = std::max(w, 1), H = std::max(h, 1);
  const int64_t M = std::max<int64_t>(max_pixels, 1);
  if (W * H <= M) return {static_cast<int>(W), static_cast<int>(H)};
  // floor(W * sqrt(M / (W*H))) = floor(sqrt(M*W/H)): the largest x with x*x*H <= M*W. Computed
  // in floating point and then corrected with exact integer checks, so rounding can neither
  // exceed the cap nor lose a pixel. Products reach ~2^94, hence the 128-bit integers.
  __extension__ typedef __int128 Wide;
  auto largest = [M](int64_t a, int64_t b) {  // largest x with x*x*b <= M*a, and x <= a
    const Wide limit = static_cast<Wide>(M) * a;
    auto fits = [&](int64_t x) { return static_cast<Wide>(x) * x * b <= limit; };
    auto x = static_cast<int64_t>(std::floor(std::sqrt(static_cast<long double>(M) * a / b)));
    x = std::clamp<int64_t>(x, 0, a);
    while (x > 0 && !fits(x)) --x;
    while (x < a && fits(x + 1)) ++x;
    return x;
  };
  int64_t x = largest(W, H), y = largest(H, W);
  // Both floors keep x*y <= M (x^2*H <= M*W and y^2*W <= M*H multiply to (xy)^2 <= M^2); only
  // raising a 0 side to 1 can break it, and then the other side gives way.
  if (x < 1) {
    x = 1;
    y = std::min(y, M);
  }
  if (y < 1) {
    y = 1;
    x = std::min(x, M);
  }
  return {static_cast<int>(x), static_cast<int>(y)};
}

Box ForegroundBox(const uint8_t* alpha, int w, int h, uint8_t threshold) {
  if (alpha == nullptr || w <= 0 || h <= 0) return {};
  int left = w, right = -1, top = h, bottom = -1;
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = alpha + static_cast<size_t>(y) * static_cast<size_t>(w);
    int first = -1, last = -1;
    for (int x = 0; x < w; ++x) {
      if (row[x] > threshold) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) continue;
    left = std::min(left, first);
    right = std::max(right, last);
    if (top == h) top = y;
    bottom = y;
  }
  if (right < 0) return {};
  return {left, top, right - left + 1, bottom - top + 1};
}

Box CropRect(const Box& subject, const CropMargins& margin, int image_w, int image_h) {
  const Box whole{0, 0, std::max(image_w, 0), std::max(image_h, 0)};
  // Clip the subject first: a box reaching outside the image must not widen the crop.
  const int64_t sl = std::max<int64_t>(subject.left, 0);
  const int64_t st = std::max<int64_t>(subject.top, 0);
  const int64_t sr = std::min<int64_t>(int64_t{subject.left} + subject.width, whole.width);
  const int64_t sb = std::min<int64_t>(int64_t{subject.top} + subject.height, whole.height);
  if (subject.empty() || sr <= sl || sb <= st) return whole;
  // Margins are clamped before converting so an absurd value cannot overflow; no margin can
  // usefully exceed the image anyway.
  auto px = [&](double v) {
    if (!(v > 0)) return int64_t{0};
    return static_cast<int64_t>(std::lround(std::min(v, 4.0e9)));
  };
  // A percent of the subject's width on the left and right, of its height on top and bottom.
  auto side = [&](const CropMargin& m, int64_t extent) {
    return m.percent ? px(m.value / 100.0 * static_cast<double>(extent)) : px(m.value);
  };
  const int64_t left = std::max<int64_t>(sl - side(margin.left, sr - sl), 0);
  const int64_t top = std::max<int64_t>(st - side(margin.top, sb - st), 0);
  const int64_t right = std::min<int64_t>(sr + side(margin.right, sr - sl), whole.width);
  const int64_t bottom = std::min<int64_t>(sb + side(margin.bottom, sb - st), whole.height);
  return {static_cast<int>(left), static_cast<int>(top), static_cast<int>(right - left),
          static_cast<int>(bottom - top)};
}

}  // namespace bgerase::removal
