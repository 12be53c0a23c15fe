// Table tests for the options model: every field, alias, boolean spelling, key spelling,
// colour form and margin form, and the shape of the errors the API lists in `details`.
#include "removal/options.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace bgerase::removal {
namespace {

struct Parsed {
  Result<RemovalOptions> result;
  std::vector<FieldError> details;
  std::vector<std::string> unknown;
};

Parsed Parse(const OptionFields& fields) {
  std::vector<FieldError> details;
  std::vector<std::string> unknown;
  auto r = ParseRemovalOptions(fields, &details, &unknown);
  return {std::move(r), std::move(details), std::move(unknown)};
}

RemovalOptions MustParse(const OptionFields& fields) {
  auto p = Parse(fields);
  EXPECT_TRUE(p.result.ok()) << p.result.status().ToString();
  EXPECT_TRUE(p.details.empty());
  return p.result.ok() ? *p.result : RemovalOptions{};
}

// Asserts `fields` is refused with one error for `field` of `type`, and returns it.
FieldError MustFail(const OptionFields& fields, const std::string& code, const std::string& type) {
  auto p = Parse(fields);
  EXPECT_FALSE(p.result.ok());
  EXPECT_EQ(p.result.status().code(), code);
  EXPECT_EQ(p.details.size(), 1u);
  if (p.details.empty()) return {};
  EXPECT_EQ(p.details[0].type, type) << p.details[0].message;
  EXPECT_EQ(p.result.status().message(), p.details[0].message);
  return p.details[0];
}

TEST(RemovalOptions, DefaultsWhenNothingIsGiven) {
  const RemovalOptions o = MustParse({});
  EXPECT_EQ(o.format, OutputFormat::kPng);
  EXPECT_EQ(o.channels, Channels::kRgba);
  EXPECT_EQ(o.size, "full");
  EXPECT_EQ(o.max_pixels, kFullPixels);
  EXPECT_FALSE(o.crop);
  EXPECT_EQ(o.crop_margin, (CropMargin{0, false}));
  EXPECT_FALSE(o.bg_color.has_value());
  EXPECT_FALSE(o.despill);
  EXPECT_TRUE(o.keep_metadata);
  EXPECT_EQ(o.quality, 90);
  EXPECT_EQ(o.on_behalf_of, "");
  EXPECT_FALSE(o.store);
  EXPECT_EQ(o.type, "auto");
  EXPECT_EQ(o.quality_mode, RemovalOptions::QualityMode::kBalanced);
}

TEST(RemovalOptions, FormatNamesAndAliases) {
  const std::vector<std::pair<std::string, OutputFormat>> cases = {
      {"png", OutputFormat::kPng},   {"PNG", OutputFormat::kPng},   {" png ", OutputFormat::kPng},
      {"jpg", OutputFormat::kJpeg},  {"JPG", OutputFormat::kJpeg},  {"jpeg", OutputFormat::kJpeg},
      {"Jpeg", OutputFormat::kJpeg}, {"jpe", OutputFormat::kJpeg},  {"jfif", OutputFormat::kJpeg},
      {"JFIF", OutputFormat::kJpeg}, {"webp", OutputFormat::kWebp}, {"WebP", OutputFormat::kWebp},
      {"avif", OutputFormat::kAvif}, {"AVIF", OutputFormat::kAvif}, {"auto", OutputFormat::kPng},
  };
  for (const auto& [value, format] : cases) {
    EXPECT_EQ(MustParse({{"format", value}}).format, format) << value;
  }
}

TEST(RemovalOptions, FormatRejectsOthersNamingTheAcceptedValues) {
  for (const std::string value : {"gif", "png8", "jp g", "tiff", "heic", "jpgg", "image/png"}) {
    const FieldError e = MustFail({{"format", value}}, "validation_error", "enum");
    EXPECT_EQ(e.field, "format");
    EXPECT_EQ(e.input, value);
    EXPECT_NE(e.message.find("format"), std::string::npos) << e.message;
    for (const char* accepted : {"png", "jpg", "jpeg", "jfif", "webp", "avif"}) {
      EXPECT_NE(e.message.find(accepted), std::string::npos) << e.message;
    }
  }
}

TEST(RemovalOptions, FormatZipIsRefusedWithItsOwnExplanation) {
  const FieldError e = MustFail({{"format", "ZIP"}}, "validation_error", "enum");
  EXPECT_NE(e.message.find("zip"), std::string::npos) << e.message;
  EXPECT_EQ(e.input, "ZIP");
}

TEST(RemovalOptions, FormatAutoIsJpgOnlyOnAnOpaqueBackground) {
  EXPECT_EQ(MustParse({{"format", "auto"}}).format, OutputFormat::kPng);
  EXPECT_EQ(MustParse({{"format", "auto"}, {"bg_color", "white"}}).format, OutputFormat::kJpeg);
  // The order of the fields does not matter.
  EXPECT_EQ(MustParse({{"bg_color", "#123456"}, {"format", "AUTO"}}).format, OutputFormat::kJpeg);
  EXPECT_EQ(MustParse({{"format", "auto"}, {"bg_color", "#ffffff80"}}).format, OutputFormat::kPng);
  EXPECT_EQ(MustParse({{"format", "auto"}, {"bg_color", "#fffe"}}).format, OutputFormat::kPng);
  EXPECT_EQ(MustParse({{"format", "auto"}, {"bg_color", "transparent"}}).format,
            OutputFormat::kPng);
  // An explicit format is never changed by the background.
  EXPECT_EQ(MustParse({{"format", "png"}, {"bg_color", "white"}}).format, OutputFormat::kPng);
  EXPECT_EQ(MustParse({{"format", "webp"}, {"bg_color", "white"}}).format, OutputFormat::kWebp);
}

TEST(RemovalOptions, Channels) {
  EXPECT_EQ(MustParse({{"channels", "rgba"}}).channels, Channels::kRgba);
  EXPECT_EQ(MustParse({{"channels", "RGBA"}}).channels, Channels::kRgba);
  EXPECT_EQ(MustParse({{"channels", "alpha"}}).channels, Channels::kAlpha);
  EXPECT_EQ(MustParse({{"Channels", "Alpha"}}).channels, Channels::kAlpha);
  for (const std::string value : {"rgb", "mask", "a", "alpha1"}) {
    const FieldError e = MustFail({{"channels", value}}, "validation_error", "enum");
    EXPECT_NE(e.message.find("rgba"), std::string::npos);
    EXPECT_NE(e.message.find("alpha"), std::string::npos);
  }
}

TEST(RemovalOptions, QualityModes) {
  using M = RemovalOptions::QualityMode;
  EXPECT_EQ(MustParse({{"quality_mode", "fast"}}).quality_mode, M::kFast);
  EXPECT_EQ(MustParse({{"quality-mode", "Balanced"}}).quality_mode, M::kBalanced);
  EXPECT_EQ(MustParse({{"QUALITY_MODE", " best "}}).quality_mode, M::kBest);
  EXPECT_EQ(MustParse({{"quality_mode", ""}}).quality_mode, M::kBalanced);  // empty: absent
  // quality_mode is not the encoder's quality: each keeps its own value.
  const RemovalOptions both = MustParse({{"quality", "40"}, {"quality_mode", "fast"}});
  EXPECT_EQ(both.quality, 40);
  EXPECT_EQ(both.quality_mode, M::kFast);
  for (const std::string value : {"high", "1", "faster", "low"}) {
    const FieldError e = MustFail({{"quality_mode", value}}, "validation_error", "enum");
    EXPECT_EQ(e.field, "quality_mode");
    EXPECT_NE(e.message.find("fast, balanced or best"), std::string::npos) << e.message;
  }
}

TEST(RemovalOptions, SizeNamesOfBothDialects) {
  const std::vector<std::tuple<std::string, std::string, int64_t>> cases = {
      {"preview", "preview", 250'000}, {"PREVIEW", "preview", 250'000},
      {"small", "small", 250'000},     {"regular", "regular", 250'000},
      {"medium", "medium", 1'500'000}, {"Medium", "medium", 1'500'000},
      {"hd", "hd", 4'000'000},         {"HD", "hd", 4'000'000},
      {"full", "full", 50'000'000},    {"4k", "4k", 50'000'000},
      {"4K", "4k", 50'000'000},        {"50MP", "50mp", 50'000'000},
      {"50mp", "50mp", 50'000'000},    {"auto", "auto", 50'000'000},
      {" hd ", "hd", 4'000'000},
  };
  for (const auto& [value, name, pixels] : cases) {
    const RemovalOptions o = MustParse({{"size", value}});
    EXPECT_EQ(o.size, name) << value;
    EXPECT_EQ(o.max_pixels, pixels) << value;
  }
}

TEST(RemovalOptions, SizeRejectsUnknownNames) {
  for (const std::string value : {"large", "2k", "0.25mp", "50 mp", "1000x1000", "fullhd"}) {
    const FieldError e = MustFail({{"size", value}}, "validation_error", "enum");
    for (const char* accepted : {"preview", "medium", "hd", "full", "auto"}) {
      EXPECT_NE(e.message.find(accepted), std::string::npos) << e.message;
    }
  }
}

TEST(ParseBool, EverySpellingInAnyCase) {
  for (const std::string s :
       {"true", "TRUE", "True", "1", "yes", "YES", "Yes", "on", "ON", "On", " true ", "\tyes\n"}) {
    EXPECT_EQ(ParseBool(s), std::optional<bool>(true)) << s;
  }
  for (const std::string s :
       {"false", "FALSE", "False", "0", "no", "NO", "No", "off", "OFF", "Off", " 0 "}) {
    EXPECT_EQ(ParseBool(s), std::optional<bool>(false)) << s;
  }
  for (const std::string s : {"", " ", "maybe", "2", "-1", "t", "f", "y", "n", "tru", "yes please",
                              "01", "0x1", "enabled", "null", "true1"}) {
    EXPECT_EQ(ParseBool(s), std::nullopt) << s;
  }
}

TEST(RemovalOptions, BooleanFieldsTakeEverySpelling) {
  for (const std::string field : {"crop", "despill", "store"}) {
    auto get = [&](const RemovalOptions& o) {
      return field == "crop" ? o.crop : field == "despill" ? o.despill : o.store;
    };
    for (const std::string v : {"true", "1", "yes", "on", "TRUE", "Yes", "On"}) {
      EXPECT_TRUE(get(MustParse({{field, v}}))) << field << "=" << v;
    }
    for (const std::string v : {"false", "0", "no", "off", "FALSE", "No", "OFF"}) {
      EXPECT_FALSE(get(MustParse({{field, v}}))) << field << "=" << v;
    }
    const FieldError e = MustFail({{field, "maybe"}}, "validation_error", "bool_parsing");
    EXPECT_EQ(e.field, field);
    EXPECT_EQ(e.input, "maybe");
    EXPECT_NE(e.message.find(field), std::string::npos);
    EXPECT_NE(e.message.find("true"), std::string::npos);
  }
}

TEST(RemovalOptions, EmptyValuesAreAbsent) {
  const RemovalOptions o = MustParse({{"format", ""},
                                      {"channels", ""},
                                      {"size", " "},
                                      {"crop", ""},
                                      {"crop_margin", ""},
                                      {"bg_color", "\t"},
                                      {"despill", ""},
                                      {"metadata", ""},
                                      {"quality", ""},
                                      {"on_behalf_of", "   "},
                                      {"store", ""},
                                      {"type", ""}});
  EXPECT_EQ(o.format, OutputFormat::kPng);
  EXPECT_EQ(o.size, "full");
  EXPECT_FALSE(o.crop);
  EXPECT_FALSE(o.bg_color.has_value());
  EXPECT_EQ(o.quality, 90);
  EXPECT_EQ(o.on_behalf_of, "");
  EXPECT_EQ(o.type, "auto");
}

TEST(NormalizeOptionKey, LowerCaseAndUnderscores) {
  EXPECT_EQ(NormalizeOptionKey("Crop-Margin"), "crop_margin");
  EXPECT_EQ(NormalizeOptionKey("BG-COLOR"), "bg_color");
  EXPECT_EQ(NormalizeOptionKey("on_behalf-OF"), "on_behalf_of");
  EXPECT_EQ(NormalizeOptionKey("--crop"), "__crop");
  EXPECT_EQ(NormalizeOptionKey(""), "");
}

TEST(RemovalOptions, KeysAreCaseAndDashInsensitive) {
  for (const std::string key :
       {"crop_margin", "crop-margin", "CROP_MARGIN", "Crop-Margin", "cRoP-mArGiN"}) {
    EXPECT_EQ(MustParse({{key, "12px"}}).crop_margin, (CropMargin{12, false})) << key;
  }
  for (const std::string key :
       {"bg_color", "bg-color", "BG-COLOR", "Bg_Color", "bg_colour", "BG-COLOUR"}) {
    EXPECT_EQ(MustParse({{key, "red"}}).bg_color, (Rgba{255, 0, 0, 255})) << key;
  }
  for (const std::string key : {"on_behalf_of", "on-behalf-of", "ON_BEHALF_OF", "On-Behalf_Of"}) {
    EXPECT_EQ(MustParse({{key, "Ada"}}).on_behalf_of, "Ada") << key;
  }
  EXPECT_EQ(MustParse({{"FORMAT", "jpg"}}).format, OutputFormat::kJpeg);
  EXPECT_EQ(MustParse({{"Metadata", "strip"}}).keep_metadata, false);
  EXPECT_EQ(MustParse({{"QUALITY", "55"}}).quality, 55);
}

TEST(RemovalOptions, UnknownKeysGoBackToTheCallerAsSpelled) {
  auto p = Parse({{"image_url", "https://x"},
                  {"Bg_Image_Url", "https://y"},
                  {"--crop", "true"},
                  {"cropmargin", "10"},
                  {"bg color", "red"},
                  {"crop", "true"}});
  ASSERT_TRUE(p.result.ok());
  EXPECT_EQ(p.unknown, (std::vector<std::string>{"image_url", "Bg_Image_Url", "--crop",
                                                 "cropmargin", "bg color"}));
  EXPECT_TRUE(p.result->crop);
  EXPECT_EQ(p.result->crop_margin, (CropMargin{}));
  EXPECT_FALSE(p.result->bg_color.has_value());
  // Without a list to return them in, they are still not options.
  auto r = ParseRemovalOptions({{"bg color", "red"}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->bg_color.has_value());
}

TEST(RemovalOptions, ConflictingDuplicatesAreRefused) {
  auto p = Parse({{"crop", "true"}, {"CROP", "false"}});
  ASSERT_FALSE(p.result.ok());
  EXPECT_EQ(p.result.status().code(), "validation_error");
  ASSERT_EQ(p.details.size(), 1u);
  EXPECT_EQ(p.details[0].type, "duplicate");
  EXPECT_EQ(p.details[0].field, "CROP");
  EXPECT_NE(p.details[0].message.find("true"), std::string::npos);
  EXPECT_NE(p.details[0].message.find("false"), std::string::npos);

  auto colour = Parse({{"bg_color", "red"}, {"bg_colour", "blue"}});
  EXPECT_FALSE(colour.result.ok());
  // Repeating the same value, or an empty repeat, is harmless.
  EXPECT_TRUE(MustParse({{"crop", "true"}, {"crop", "true"}}).crop);
  EXPECT_TRUE(MustParse({{"crop", "true"}, {"Crop", ""}}).crop);
  EXPECT_TRUE(MustParse({{"crop", ""}, {"crop", "yes"}}).crop);
  EXPECT_EQ(MustParse({{"bg_color", "red"}, {"bg-colour", " red "}}).bg_color,
            (Rgba{255, 0, 0, 255}));
}

// The 148 CSS Color 4 named colours with their values, from an independent source (Pillow's
// ImageColor table), so a typo or a mis-sorted entry in ours fails here.
const std::vector<std::pair<std::string, uint32_t>> kCssColors = {
    {"aliceblue", 0xf0f8ff},
    {"antiquewhite", 0xfaebd7},
    {"aqua", 0x00ffff},
    {"aquamarine", 0x7fffd4},
    {"azure", 0xf0ffff},
    {"beige", 0xf5f5dc},
    {"bisque", 0xffe4c4},
    {"black", 0x000000},
    {"blanchedalmond", 0xffebcd},
    {"blue", 0x0000ff},
    {"blueviolet", 0x8a2be2},
    {"brown", 0xa52a2a},
    {"burlywood", 0xdeb887},
    {"cadetblue", 0x5f9ea0},
    {"chartreuse", 0x7fff00},
    {"chocolate", 0xd2691e},
    {"coral", 0xff7f50},
    {"cornflowerblue", 0x6495ed},
    {"cornsilk", 0xfff8dc},
    {"crimson", 0xdc143c},
    {"cyan", 0x00ffff},
    {"darkblue", 0x00008b},
    {"darkcyan", 0x008b8b},
    {"darkgoldenrod", 0xb8860b},
    {"darkgray", 0xa9a9a9},
    {"darkgreen", 0x006400},
    {"darkgrey", 0xa9a9a9},
    {"darkkhaki", 0xbdb76b},
    {"darkmagenta", 0x8b008b},
    {"darkolivegreen", 0x556b2f},
    {"darkorange", 0xff8c00},
    {"darkorchid", 0x9932cc},
    {"darkred", 0x8b0000},
    {"darksalmon", 0xe9967a},
    {"darkseagreen", 0x8fbc8f},
    {"darkslateblue", 0x483d8b},
    {"darkslategray", 0x2f4f4f},
    {"darkslategrey", 0x2f4f4f},
    {"darkturquoise", 0x00ced1},
    {"darkviolet", 0x9400d3},
    {"deeppink", 0xff1493},
    {"deepskyblue", 0x00bfff},
    {"dimgray", 0x696969},
    {"dimgrey", 0x696969},
    {"dodgerblue", 0x1e90ff},
    {"firebrick", 0xb22222},
    {"floralwhite", 0xfffaf0},
    {"forestgreen", 0x228b22},
    {"fuchsia", 0xff00ff},
    {"gainsboro", 0xdcdcdc},
    {"ghostwhite", 0xf8f8ff},
    {"gold", 0xffd700},
    {"goldenrod", 0xdaa520},
    {"gray", 0x808080},
    {"green", 0x008000},
    {"greenyellow", 0xadff2f},
    {"grey", 0x808080},
    {"honeydew", 0xf0fff0},
    {"hotpink", 0xff69b4},
    {"indianred", 0xcd5c5c},
    {"indigo", 0x4b0082},
    {"ivory", 0xfffff0},
    {"khaki", 0xf0e68c},
    {"lavender", 0xe6e6fa},
    {"lavenderblush", 0xfff0f5},
    {"lawngreen", 0x7cfc00},
    {"lemonchiffon", 0xfffacd},
    {"lightblue", 0xadd8e6},
    {"lightcoral", 0xf08080},
    {"lightcyan", 0xe0ffff},
    {"lightgoldenrodyellow", 0xfafad2},
    {"lightgray", 0xd3d3d3},
    {"lightgreen", 0x90ee90},
    {"lightgrey", 0xd3d3d3},
    {"lightpink", 0xffb6c1},
    {"lightsalmon", 0xffa07a},
    {"lightseagreen", 0x20b2aa},
    {"lightskyblue", 0x87cefa},
    {"lightslategray", 0x778899},
    {"lightslategrey", 0x778899},
    {"lightsteelblue", 0xb0c4de},
    {"lightyellow", 0xffffe0},
    {"lime", 0x00ff00},
    {"limegreen", 0x32cd32},
    {"linen", 0xfaf0e6},
    {"magenta", 0xff00ff},
    {"maroon", 0x800000},
    {"mediumaquamarine", 0x66cdaa},
    {"mediumblue", 0x0000cd},
    {"mediumorchid", 0xba55d3},
    {"mediumpurple", 0x9370db},
    {"mediumseagreen", 0x3cb371},
    {"mediumslateblue", 0x7b68ee},
    {"mediumspringgreen", 0x00fa9a},
    {"mediumturquoise", 0x48d1cc},
    {"mediumvioletred", 0xc71585},
    {"midnightblue", 0x191970},
    {"mintcream", 0xf5fffa},
    {"mistyrose", 0xffe4e1},
    {"moccasin", 0xffe4b5},
    {"navajowhite", 0xffdead},
    {"navy", 0x000080},
    {"oldlace", 0xfdf5e6},
    {"olive", 0x808000},
    {"olivedrab", 0x6b8e23},
    {"orange", 0xffa500},
    {"orangered", 0xff4500},
    {"orchid", 0xda70d6},
    {"palegoldenrod", 0xeee8aa},
    {"palegreen", 0x98fb98},
    {"paleturquoise", 0xafeeee},
    {"palevioletred", 0xdb7093},
    {"papayawhip", 0xffefd5},
    {"peachpuff", 0xffdab9},
    {"peru", 0xcd853f},
    {"pink", 0xffc0cb},
    {"plum", 0xdda0dd},
    {"powderblue", 0xb0e0e6},
    {"purple", 0x800080},
    {"rebeccapurple", 0x663399},
    {"red", 0xff0000},
    {"rosybrown", 0xbc8f8f},
    {"royalblue", 0x4169e1},
    {"saddlebrown", 0x8b4513},
    {"salmon", 0xfa8072},
    {"sandybrown", 0xf4a460},
    {"seagreen", 0x2e8b57},
    {"seashell", 0xfff5ee},
    {"sienna", 0xa0522d},
    {"silver", 0xc0c0c0},
    {"skyblue", 0x87ceeb},
    {"slateblue", 0x6a5acd},
    {"slategray", 0x708090},
    {"slategrey", 0x708090},
    {"snow", 0xfffafa},
    {"springgreen", 0x00ff7f},
    {"steelblue", 0x4682b4},
    {"tan", 0xd2b48c},
    {"teal", 0x008080},
    {"thistle", 0xd8bfd8},
    {"tomato", 0xff6347},
    {"turquoise", 0x40e0d0},
    {"violet", 0xee82ee},
    {"wheat", 0xf5deb3},
    {"white", 0xffffff},
    {"whitesmoke", 0xf5f5f5},
    {"yellow", 0xffff00},
    {"yellowgreen", 0x9acd32},
};

TEST(ParseColor, AllNamedColoursInAnyCase) {
  ASSERT_EQ(kCssColors.size(), 148u);
  for (const auto& [name, rgb] : kCssColors) {
    const Rgba want{static_cast<uint8_t>(rgb >> 16), static_cast<uint8_t>(rgb >> 8),
                    static_cast<uint8_t>(rgb), 255};
    EXPECT_EQ(ParseColor(name), want) << name;
    std::string upper = name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(ParseColor(upper), want) << upper;
  }
  EXPECT_EQ(ParseColor("transparent"), (Rgba{0, 0, 0, 0}));
  EXPECT_EQ(ParseColor("Transparent"), (Rgba{0, 0, 0, 0}));
  EXPECT_EQ(ParseColor("RebeccaPurple"), (Rgba{0x66, 0x33, 0x99, 255}));
  EXPECT_EQ(ParseColor("grey"), ParseColor("gray"));
}

TEST(ParseColor, HexForms) {
  const std::vector<std::pair<std::string, Rgba>> cases = {
      {"#f00", {255, 0, 0, 255}},
      {"f00", {255, 0, 0, 255}},
      {"#F00", {255, 0, 0, 255}},
      {"#abc", {0xaa, 0xbb, 0xcc, 255}},
      {"#f00a", {255, 0, 0, 0xaa}},
      {"F00A", {255, 0, 0, 0xaa}},
      {"#ff8000", {255, 0x80, 0, 255}},
      {"FF8000", {255, 0x80, 0, 255}},
      {"#81d4fa", {0x81, 0xd4, 0xfa, 255}},
      {"81D4FA", {0x81, 0xd4, 0xfa, 255}},
      {"#12345678", {0x12, 0x34, 0x56, 0x78}},
      {"12345678", {0x12, 0x34, 0x56, 0x78}},
      {"#000", {0, 0, 0, 255}},
      {"  #abc  ", {0xaa, 0xbb, 0xcc, 255}},
      {"#00000000", {0, 0, 0, 0}},
  };
  for (const auto& [s, want] : cases) EXPECT_EQ(ParseColor(s), want) << s;
}

TEST(ParseColor, RejectsEverythingElse) {
  for (const std::string s :
       {"",        "#",          "#f",    "#ff",       "#fffff", "#fffffff",        "#fffffffff",
        "#ggg",    "#12345g",    "red1",  "#red",      "##fff",  "rgb(1,2,3)",      "lightblue2",
        "0xfff",   "light blue", "# fff", "#ff ff ff", "-fff",   "blanchedalmond!", "transparentt",
        "\xff\xfe"}) {
    EXPECT_EQ(ParseColor(s), std::nullopt) << s;
  }
}

TEST(ColorToHex, OpaqueWithoutAlphaOtherwiseWith) {
  EXPECT_EQ(ColorToHex({255, 0, 0, 255}), "#ff0000");
  EXPECT_EQ(ColorToHex({0x0a, 0xb0, 0x01, 255}), "#0ab001");
  EXPECT_EQ(ColorToHex({255, 0, 0, 0x80}), "#ff000080");
  EXPECT_EQ(ColorToHex({0, 0, 0, 0}), "#00000000");
}

TEST(RemovalOptions, BackgroundColour) {
  EXPECT_EQ(MustParse({{"bg_color", "White"}}).bg_color, (Rgba{255, 255, 255, 255}));
  EXPECT_EQ(MustParse({{"bg_color", "81d4fa"}}).bg_color, (Rgba{0x81, 0xd4, 0xfa, 255}));
  EXPECT_EQ(MustParse({{"bg_color", "#ff000080"}}).bg_color, (Rgba{255, 0, 0, 0x80}));
  // Fully transparent colours composite to nothing, so they mean "no background".
  EXPECT_EQ(MustParse({{"bg_color", "transparent"}}).bg_color, std::nullopt);
  EXPECT_EQ(MustParse({{"bg_color", "#ff000000"}}).bg_color, std::nullopt);
  EXPECT_EQ(MustParse({{"bg_color", "#fff0"}}).bg_color, std::nullopt);
}

TEST(RemovalOptions, BadColourHasItsOwnCode) {
  const FieldError e = MustFail({{"BG-COLOR", "#ggg"}}, "invalid_bg_color", "color");
  EXPECT_EQ(e.field, "BG-COLOR");
  EXPECT_EQ(e.input, "#ggg");
  EXPECT_NE(e.message.find("BG-COLOR"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("#rrggbb"), std::string::npos) << e.message;
  MustFail({{"bg_colour", "notacolour"}}, "invalid_bg_color", "color");
}

TEST(RemovalOptions, StatusCodeFollowsTheFirstBadField) {
  auto colour_first = Parse({{"bg_color", "nope"}, {"format", "gif"}});
  EXPECT_EQ(colour_first.result.status().code(), "invalid_bg_color");
  ASSERT_EQ(colour_first.details.size(), 2u);
  EXPECT_EQ(colour_first.details[0].field, "bg_color");
  EXPECT_EQ(colour_first.details[1].field, "format");
  EXPECT_NE(colour_first.result.status().message().find("and 1 more invalid field"),
            std::string::npos)
      << colour_first.result.status().message();

  auto format_first = Parse({{"format", "gif"}, {"bg_color", "nope"}, {"quality", "0"}});
  EXPECT_EQ(format_first.result.status().code(), "validation_error");
  ASSERT_EQ(format_first.details.size(), 3u);
  EXPECT_EQ(format_first.details[0].type, "enum");
  EXPECT_EQ(format_first.details[1].type, "color");
  EXPECT_EQ(format_first.details[2].type, "range");
  EXPECT_NE(format_first.result.status().message().find("and 2 more invalid fields"),
            std::string::npos);
}

TEST(RemovalOptions, DetailsAreAppendedAndOptional) {
  std::vector<FieldError> details = {{"earlier", "x", "from the caller", "y"}};
  auto r = ParseRemovalOptions({{"crop", "maybe"}}, &details);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(details.size(), 2u);
  EXPECT_EQ(details[0].type, "earlier");
  EXPECT_EQ(details[1].field, "crop");
  EXPECT_EQ(ParseRemovalOptions({{"crop", "maybe"}}).status().code(), "validation_error");
}

TEST(ParseCropMargin, Forms) {
  const std::vector<std::pair<std::string, CropMargin>> cases = {
      {"20", {20, false}},    {"20px", {20, false}},   {"20PX", {20, false}},
      {"20 px", {20, false}}, {" 20px ", {20, false}}, {"0", {0, false}},
      {"10%", {10, true}},    {"10 %", {10, true}},    {"12.5%", {12.5, true}},
      {"0%", {0, true}},      {"7.25", {7.25, false}}, {"500px", {500, false}},
      {"007", {7, false}},
  };
  for (const auto& [s, want] : cases) EXPECT_EQ(ParseCropMargin(s), want) << s;
  for (const std::string s :
       {"",   "-5", "-5%", "abc", "10%%", "%",    "px",    "1e2",   "20pt", "10% 20%", "10px 20px",
        ".5", "5.", "nan", "inf", "+5",   "0x10", "1.2.3", "10px%", "%10",  "1,5"}) {
    EXPECT_EQ(ParseCropMargin(s), std::nullopt) << s;
  }
}

TEST(RemovalOptions, CropMarginCaps) {
  EXPECT_EQ(MustParse({{"crop_margin", "500px"}}).crop_margin, (CropMargin{500, false}));
  EXPECT_EQ(MustParse({{"crop_margin", "50%"}}).crop_margin, (CropMargin{50, true}));
  EXPECT_EQ(MustParse({{"crop-margin", "10%"}}).crop_margin, (CropMargin{10, true}));
  for (const std::string s : {"501", "500.5px", "50.01%", "60%", "100000"}) {
    const FieldError e = MustFail({{"crop_margin", s}}, "validation_error", "range");
    EXPECT_NE(e.message.find("500px"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("50%"), std::string::npos) << e.message;
  }
  MustFail({{"crop_margin", "-1"}}, "validation_error", "margin_parsing");
  // remove.bg's two- and four-value forms, each value capped on its own.
  const CropMargin px10{10, false}, pc5{5, true}, px1{1, false}, px2{2, false}, px3{3, false},
      pc4{4, true};
  EXPECT_EQ(MustParse({{"crop_margin", "10px 5%"}}).crop_margin,
            (CropMargins(px10, pc5, px10, pc5)));
  EXPECT_EQ(MustParse({{"crop_margin", " 1  2px\t3 4% "}}).crop_margin,
            (CropMargins(px1, px2, px3, pc4)));
  MustFail({{"crop_margin", "10px 60%"}}, "validation_error", "range");
  MustFail({{"crop_margin", "1 2 3 501"}}, "validation_error", "range");
  for (const std::string s : {"1 2 3", "1 2 3 4 5", "1,2", "10px x", "1 -2"})
    MustFail({{"crop_margin", s}}, "validation_error", "margin_parsing");
}

TEST(ParseRoi, Forms) {
  const Roi whole{{0, true}, {0, true}, {100, true}, {100, true}};
  EXPECT_EQ(ParseRoi("0% 0% 100% 100%"), whole);
  EXPECT_EQ(ParseRoi("  0%  0%\t100% 100% "), whole);
  EXPECT_EQ(ParseRoi("0%,0%,100%,100%"), whole);
  EXPECT_EQ(ParseRoi("10 20px 30.5 40%"),
            (Roi{{10, false}, {20, false}, {30.5, false}, {40, true}}));
  EXPECT_EQ(ParseRoi("0 0 100PX 100%"), (Roi{{0, false}, {0, false}, {100, false}, {100, true}}));
  for (const std::string s : {"", "0 0 100", "0 0 100 100 5", "0% 0% 100% 101%", "-1 0 10 10",
                              "a b c d", "0 0 10 10%%", "1e2 0 10 10", "0 0 10px 10pt"})
    EXPECT_EQ(ParseRoi(s), std::nullopt) << s;
}

TEST(RemovalOptions, RoiIsParsedAndRefusedWithItsRule) {
  EXPECT_FALSE(MustParse({}).roi);
  EXPECT_EQ(MustParse({{"roi", "0% 0% 100% 100%"}}).roi,
            (Roi{{0, true}, {0, true}, {100, true}, {100, true}}));
  EXPECT_FALSE(MustParse({{"roi", "  "}}).roi);  // empty: absent, as remove.bg clients send it
  const FieldError e = MustFail({{"roi", "0 0 10"}}, "validation_error", "roi_parsing");
  EXPECT_NE(e.message.find("x1 y1 x2 y2"), std::string::npos) << e.message;
}

TEST(RemovalOptions, ScaleAndPosition) {
  EXPECT_FALSE(MustParse({}).scale);
  EXPECT_FALSE(MustParse({}).position);
  EXPECT_FALSE(MustParse({{"scale", "original"}}).scale);
  EXPECT_DOUBLE_EQ(*MustParse({{"scale", "50%"}}).scale, 0.5);
  EXPECT_DOUBLE_EQ(*MustParse({{"scale", " 10 % "}}).scale, 0.1);
  EXPECT_DOUBLE_EQ(*MustParse({{"scale", "100"}}).scale, 1.0);
  // Scaling centres the subject unless a position is given.
  EXPECT_EQ(MustParse({{"scale", "50%"}}).position, (std::pair{0.5, 0.5}));
  EXPECT_FALSE(MustParse({{"scale", "50%"}, {"position", "original"}}).position);
  EXPECT_EQ(MustParse({{"position", "center"}}).position, (std::pair{0.5, 0.5}));
  EXPECT_EQ(MustParse({{"position", "Centre"}}).position, (std::pair{0.5, 0.5}));
  EXPECT_EQ(MustParse({{"position", "25%"}}).position, (std::pair{0.25, 0.25}));
  EXPECT_EQ(MustParse({{"position", "0% 100%"}}).position, (std::pair{0.0, 1.0}));
  EXPECT_EQ(MustParse({{"position", "10%,90%"}}).position, (std::pair{0.1, 0.9}));
  EXPECT_FALSE(MustParse({{"position", "original"}}).position);
  for (const std::string s : {"9.9%", "100.1%", "0", "150%"})
    MustFail({{"scale", s}}, "validation_error", "range");
  for (const std::string s : {"big", "50%%", "-20%", "1e2%"})
    MustFail({{"scale", s}}, "validation_error", "scale_parsing");
  for (const std::string s : {"left", "50", "50% 50% 50%", "101%", "-1%", "50%px", "top left"})
    MustFail({{"position", s}}, "validation_error", "position_parsing");
}

TEST(RemovalOptions, Shadow) {
  const RemovalOptions none = MustParse({});
  EXPECT_FALSE(none.add_shadow);
  EXPECT_EQ(none.shadow_type, RemovalOptions::ShadowType::kDrop);
  EXPECT_EQ(none.shadow_opacity, 50);
  EXPECT_TRUE(MustParse({{"add_shadow", "true"}}).add_shadow);
  EXPECT_EQ(MustParse({{"shadow_type", "car"}}).shadow_type, RemovalOptions::ShadowType::kCar);
  EXPECT_EQ(MustParse({{"shadow_type", "3D"}}).shadow_type, RemovalOptions::ShadowType::kThreeD);
  EXPECT_EQ(MustParse({{"shadow_type", "DROP"}}).shadow_type, RemovalOptions::ShadowType::kDrop);
  EXPECT_EQ(MustParse({{"shadow_opacity", "0"}}).shadow_opacity, 0);
  EXPECT_EQ(MustParse({{"shadow_opacity", "100%"}}).shadow_opacity, 100);
  MustFail({{"add_shadow", "maybe"}}, "validation_error", "bool_parsing");
  MustFail({{"shadow_type", "soft"}}, "validation_error", "enum");
  for (const std::string s : {"101", "-1", "50.5", "x"})
    MustFail({{"shadow_opacity", s}}, "validation_error", "range");
}

TEST(PlaceOnCanvas, ScaleFitsTheCanvasAndPositionSharesTheFreeSpace) {
  const Box box{100, 50, 100, 100};  // on a 400 x 200 canvas
  auto p = PlaceOnCanvas(box, 400, 200, std::nullopt, std::nullopt);
  EXPECT_DOUBLE_EQ(p.factor, 1);
  EXPECT_EQ(p.left, 100);  // unchanged
  EXPECT_EQ(p.top, 50);
  p = PlaceOnCanvas(box, 400, 200, 1.0, std::pair{0.5, 0.5});  // fits the height: 200 x 200
  EXPECT_DOUBLE_EQ(p.factor, 2);
  EXPECT_EQ(p.left, 100);
  EXPECT_EQ(p.top, 0);
  p = PlaceOnCanvas(box, 400, 200, 0.5, std::pair{0.0, 1.0});  // 100 x 100, bottom left
  EXPECT_DOUBLE_EQ(p.factor, 1);
  EXPECT_EQ(p.left, 0);
  EXPECT_EQ(p.top, 100);
  p = PlaceOnCanvas(box, 400, 200, std::nullopt, std::pair{1.0, 0.0});  // moved, not scaled
  EXPECT_EQ(p.left, 300);
  EXPECT_EQ(p.top, 0);
  // Scaled without a position: around the old centre (150, 100), kept inside the canvas.
  p = PlaceOnCanvas(box, 400, 200, 0.25, std::nullopt);  // 50 x 50
  EXPECT_EQ(p.left, 125);
  EXPECT_EQ(p.top, 75);
  p = PlaceOnCanvas(Box{0, 0, 20, 20}, 400, 200, 1.0, std::nullopt);  // 200 x 200 at the edge
  EXPECT_EQ(p.left, 0);
  EXPECT_EQ(p.top, 0);
}

TEST(RoiBox, PixelsPercentAndRefusals) {
  EXPECT_EQ(*RoiBox(*ParseRoi("0% 0% 100% 100%"), 200, 100), (Box{0, 0, 200, 100}));
  EXPECT_EQ(*RoiBox(*ParseRoi("25% 20 75% 80px"), 200, 100), (Box{50, 20, 100, 60}));
  EXPECT_EQ(*RoiBox(*ParseRoi("0 0 200 100"), 200, 100), (Box{0, 0, 200, 100}));
  EXPECT_EQ(*RoiBox(*ParseRoi("33.3% 0 66.7% 1"), 10, 1), (Box{3, 0, 4, 1}));  // rounded
  for (const std::string s : {"0 0 201 100", "0 0 200 101", "10 0 10 100", "50 0 40 100",
                              "0 50% 100% 50%", "99.9% 0 100% 100%"}) {
    auto b = RoiBox(*ParseRoi(s), 200, 100);
    ASSERT_FALSE(b.ok()) << s;
    EXPECT_EQ(b.status().code(), "bad_request") << s;
  }
}

TEST(RemovalOptions, Quality) {
  EXPECT_EQ(MustParse({{"quality", "1"}}).quality, 1);
  EXPECT_EQ(MustParse({{"quality", "100"}}).quality, 100);
  EXPECT_EQ(MustParse({{"quality", " 75 "}}).quality, 75);
  EXPECT_EQ(MustParse({{"quality", "080"}}).quality, 80);
  for (const std::string s : {"0", "101", "1000", "99999999999999999999999"}) {
    const FieldError e = MustFail({{"quality", s}}, "validation_error", "range");
    EXPECT_NE(e.message.find("1 to 100"), std::string::npos) << e.message;
  }
  for (const std::string s : {"abc", "90.5", "1e2", "-1", "+5", "9 0", "ninety"}) {
    MustFail({{"quality", s}}, "validation_error", "int_parsing");
  }
}

TEST(RemovalOptions, Metadata) {
  EXPECT_TRUE(MustParse({{"metadata", "keep"}}).keep_metadata);
  EXPECT_TRUE(MustParse({{"metadata", "KEEP"}}).keep_metadata);
  EXPECT_FALSE(MustParse({{"metadata", "strip"}}).keep_metadata);
  EXPECT_FALSE(MustParse({{"metadata", "Strip"}}).keep_metadata);
  for (const std::string s : {"none", "false", "remove", "keep all"}) {
    const FieldError e = MustFail({{"metadata", s}}, "validation_error", "enum");
    EXPECT_NE(e.message.find("keep or strip"), std::string::npos) << e.message;
  }
}

TEST(RemovalOptions, OnBehalfOf) {
  EXPECT_EQ(MustParse({{"on_behalf_of", "  Jane Doe  "}}).on_behalf_of, "Jane Doe");
  EXPECT_EQ(MustParse({{"on_behalf_of", "Zoë Ångström 日本 ©"}}).on_behalf_of,
            "Zoë Ångström 日本 ©");
  // The cap counts characters, not bytes: 200 two-byte characters fit.
  std::string two_hundred_e;
  for (int i = 0; i < 200; ++i) two_hundred_e += "é";
  EXPECT_EQ(MustParse({{"on_behalf_of", two_hundred_e}}).on_behalf_of, two_hundred_e);
  const FieldError e =
      MustFail({{"on_behalf_of", std::string(201, 'a')}}, "validation_error", "string_too_long");
  EXPECT_NE(e.message.find("200"), std::string::npos) << e.message;
  MustFail({{"on_behalf_of", "a\r\nX-Evil: 1"}}, "validation_error", "string_invalid");
  MustFail({{"on_behalf_of", "tab\there"}}, "validation_error", "string_invalid");
  MustFail({{"on_behalf_of", "bad \xff byte"}}, "validation_error", "string_invalid");
  MustFail({{"on_behalf_of", "overlong \xc0\xaf"}}, "validation_error", "string_invalid");
  MustFail({{"on_behalf_of", "surrogate \xed\xa0\x80"}}, "validation_error", "string_invalid");
}

TEST(RemovalOptions, Type) {
  for (const std::string t : {"auto", "person", "product", "animal", "car", "car_interior",
                              "car_part", "transportation", "graphics", "other"}) {
    EXPECT_EQ(MustParse({{"type", t}}).type, t);
  }
  EXPECT_EQ(MustParse({{"Type", "PERSON"}}).type, "person");
  for (const std::string t : {"cat", "people", "car-interior", "graphic"}) {
    const FieldError e = MustFail({{"type", t}}, "validation_error", "enum");
    EXPECT_NE(e.message.find("person"), std::string::npos);
  }
}

TEST(RemovalOptions, ErrorEchoesAreValidUtf8AndBounded) {
  const std::string huge = std::string(10'000, 'x') + "\xff";
  const FieldError e = MustFail({{"format", huge}}, "validation_error", "enum");
  EXPECT_LE(e.input.size(), 260u);
  EXPECT_EQ(e.input.substr(0, 10), "xxxxxxxxxx");
  EXPECT_LE(e.message.size(), 800u);
  const FieldError bad = MustFail({{"format", "p\xffng"}}, "validation_error", "enum");
  EXPECT_EQ(bad.input, "p\xEF\xBF\xBDng");  // U+FFFD in place of the stray byte
}

TEST(RemovalOptions, EveryFieldAtOnce) {
  const RemovalOptions o = MustParse({{"format", "webp"},
                                      {"channels", "alpha"},
                                      {"size", "hd"},
                                      {"crop", "yes"},
                                      {"crop-margin", "5%"},
                                      {"bg-color", "#0000ff"},
                                      {"despill", "on"},
                                      {"metadata", "strip"},
                                      {"quality", "42"},
                                      {"on_behalf_of", "ACME Photo Ltd"},
                                      {"store", "1"},
                                      {"type", "product"}});
  EXPECT_EQ(o.format, OutputFormat::kWebp);
  EXPECT_EQ(o.channels, Channels::kAlpha);
  EXPECT_EQ(o.size, "hd");
  EXPECT_EQ(o.max_pixels, kHdPixels);
  EXPECT_TRUE(o.crop);
  EXPECT_EQ(o.crop_margin, (CropMargin{5, true}));
  EXPECT_EQ(o.bg_color, (Rgba{0, 0, 255, 255}));
  EXPECT_TRUE(o.despill);
  EXPECT_FALSE(o.keep_metadata);
  EXPECT_EQ(o.quality, 42);
  EXPECT_EQ(o.on_behalf_of, "ACME Photo Ltd");
  EXPECT_TRUE(o.store);
  EXPECT_EQ(o.type, "product");
}

TEST(CapSize, Table) {
  const std::vector<std::tuple<int, int, int64_t, std::pair<int, int>>> cases = {
      {100, 100, 1'000'000, {100, 100}},          // fits: untouched, never upscaled
      {1000, 1000, 1'000'000, {1000, 1000}},      // exactly at the cap
      {2000, 2000, 1'000'000, {1000, 1000}},      // exact square root
      {4000, 3000, kPreviewPixels, {577, 433}},   // floor(4000*0.1443), floor(3000*0.1443)
      {7, 3, 20, {6, 2}},                         // floors of 6.83 and 2.93
      {50000, 50000, kFullPixels, {7071, 7071}},  // 7071^2 = 49,999,041
      {100000, 1, 1000, {1000, 1}},               // the thin side stays 1, the long one gives way
      {1, 100000, 1000, {1, 1000}},
      {0, 0, 1000, {1, 1}},
      {1, 1, 0, {1, 1}},
      {2147483647, 2147483647, kFullPixels, {7071, 7071}},
  };
  for (const auto& [w, h, max, want] : cases) {
    EXPECT_EQ(CapSize(w, h, max), want) << w << "x" << h << " max " << max;
  }
}

// Sizes where floor(sqrt()) in long double is one pixel off, in both directions (found by a
// search; expected values from exact integer square roots): CapSize must still be exact.
TEST(CapSize, ExactWhereFloatingPointIsNot) {
  const std::vector<std::tuple<int, int, int64_t, std::pair<int, int>>> cases = {
      // long double rounds up past the cap
      {1433764734, 560563237, 756123988738, {1390666, 543713}},
      {930579177, 52201318, 228807841543, {2019627, 113292}},
      {736956605, 33752646, 129993575017, {1684720, 77160}},
      // long double rounds down and would lose a pixel
      {725578010, 362789005, 504895926728, {1004884, 502442}},
      {1677575607, 1677575607, 717007578169, {846763, 846763}},
      {1395229172, 348807293, 53798483025, {463890, 115972}},
  };
  for (const auto& [w, h, max, want] : cases) {
    const auto got = CapSize(w, h, max);
    EXPECT_EQ(got, want) << w << "x" << h << " max " << max;
    EXPECT_LE(int64_t{got.first} * got.second, max);
  }
}

TEST(ForegroundBox, Table) {
  std::vector<uint8_t> a(5 * 4, 0);
  EXPECT_TRUE(ForegroundBox(a.data(), 5, 4).empty());
  a[2 * 5 + 3] = 200;
  EXPECT_EQ(ForegroundBox(a.data(), 5, 4), (Box{3, 2, 1, 1}));
  a[0 * 5 + 1] = 11;  // just above the default threshold of 10
  EXPECT_EQ(ForegroundBox(a.data(), 5, 4), (Box{1, 0, 3, 3}));
  a[3 * 5 + 0] = 10;  // at the threshold: background
  EXPECT_EQ(ForegroundBox(a.data(), 5, 4), (Box{1, 0, 3, 3}));
  EXPECT_EQ(ForegroundBox(a.data(), 5, 4, 0), (Box{0, 0, 4, 4}));
  EXPECT_EQ(ForegroundBox(a.data(), 5, 4, 200), Box{});
  EXPECT_TRUE(ForegroundBox(nullptr, 5, 4).empty());
  EXPECT_TRUE(ForegroundBox(a.data(), 0, 4).empty());
}

TEST(CropRect, Table) {
  const Box subject{10, 20, 30, 40};
  EXPECT_EQ(CropRect(subject, {0, false}, 100, 100), subject);
  EXPECT_EQ(CropRect(subject, {5, false}, 100, 100), (Box{5, 15, 40, 50}));
  // 10% of the box: 3 px left/right (width 30), 4 px top/bottom (height 40).
  EXPECT_EQ(CropRect(subject, {10, true}, 100, 100), (Box{7, 16, 36, 48}));
  // 10% of 15 is 1.5, rounded to 2.
  EXPECT_EQ(CropRect({10, 10, 15, 15}, {10, true}, 100, 100), (Box{8, 8, 19, 19}));
  // Clipped at the image's edges.
  EXPECT_EQ(CropRect({0, 0, 10, 10}, {5, false}, 12, 100), (Box{0, 0, 12, 15}));
  EXPECT_EQ(CropRect(subject, {500, false}, 100, 100), (Box{0, 0, 100, 100}));
  // No subject: the whole image.
  EXPECT_EQ(CropRect(Box{}, {5, false}, 64, 48), (Box{0, 0, 64, 48}));
  EXPECT_EQ(CropRect({200, 200, 10, 10}, {5, false}, 64, 48), (Box{0, 0, 64, 48}));
  // A subject reaching outside the image is clipped first.
  EXPECT_EQ(CropRect({-5, -5, 20, 20}, {0, false}, 64, 48), (Box{0, 0, 15, 15}));
  // ... and a percent margin is taken of the clipped box (10 px wide here, not 20).
  EXPECT_EQ(CropRect({-10, 0, 20, 10}, {50, true}, 100, 100), (Box{0, 0, 15, 15}));
  // Four sides, each its own: 1 px on top, 10% of the width (3 px) right, 5 px below, 0 left.
  EXPECT_EQ(CropRect(subject,
                     CropMargins(CropMargin{1, false}, CropMargin{10, true}, CropMargin{5, false},
                                 CropMargin{0, false}),
                     100, 100),
            (Box{10, 19, 33, 46}));
}

}  // namespace
}  // namespace bgerase::removal
