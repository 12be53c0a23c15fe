// The one image-format table: sniffing, MIME types, suffixes and export extensions agree, and the
// two bugs its absence caused stay fixed.
#include "common/image_formats.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

namespace bgerase {
namespace {

using namespace std::string_view_literals;
using namespace std::string_literals;

// A real header for each format, as its files start.
std::string MagicOf(ImageFormat f) {
  static const std::pair<ImageFormat, std::string> kMagic[] = {
      {ImageFormat::kJpeg, "\xff\xd8\xff\xe0"},
      {ImageFormat::kPng, "\x89PNG\r\n\x1a\n"},
      {ImageFormat::kGif, "GIF89a"},
      {ImageFormat::kWebp, "RIFF\x10\0\0\0WEBPVP8 "s},
      {ImageFormat::kTiff, "MM\0*\0\0\0\x08"s},
      {ImageFormat::kBmp, "BM\x36\0\0\0"s},
      {ImageFormat::kHeif,
       "\0\0\0\x18"
       "ftypheic"s},
      {ImageFormat::kAvif,
       "\0\0\0\x1c"
       "ftypavif"s},
  };
  for (const auto& [format, magic] : kMagic) {
    if (format == f) return magic;
  }
  ADD_FAILURE() << "no magic for format " << static_cast<int>(f);
  return "";
}

TEST(ImageFormats, EveryRowSniffsMapsAndNamesItselfConsistently) {
  std::set<std::string_view> names, mimes, suffixes;
  for (const auto& f : kImageFormats) {
    SCOPED_TRACE(std::string(f.name));
    EXPECT_TRUE(names.insert(f.name).second);
    EXPECT_TRUE(mimes.insert(f.mime).second);
    EXPECT_EQ(&InfoOf(f.format), &f);
    EXPECT_EQ(FormatByMime(f.mime), &f);
    EXPECT_EQ(FormatBySuffix(f.extension), &f);  // the extension is one of its suffixes
    for (std::string_view s : f.suffixes) {
      if (s.empty()) continue;
      EXPECT_TRUE(suffixes.insert(s).second) << s;  // no suffix names two formats
      EXPECT_EQ(FormatBySuffix(s), &f);
    }
    EXPECT_EQ(SniffImageFormat(MagicOf(f.format)), f.format);
    EXPECT_EQ(SniffMime(MagicOf(f.format)), f.mime);
    EXPECT_EQ(ExtensionForMime(f.mime), f.extension);
  }
  EXPECT_EQ(FormatBySuffix(""), nullptr);
  EXPECT_EQ(FormatBySuffix("pdf"), nullptr);
  EXPECT_EQ(ExtensionForMime("application/octet-stream"), "bin");
}

// Regression: `starts("MM\0*")` made a string_view that stopped at the NUL, so anything that
// began with "MM" was stored as image/tiff.
TEST(ImageFormats, OnlyARealTiffHeaderIsTiff) {
  EXPECT_EQ(SniffMime("MMMM not an image"), "application/octet-stream");
  EXPECT_EQ(SniffMime("MM"), "application/octet-stream");
  EXPECT_EQ(SniffMime("MM\0*"sv), "image/tiff");
  EXPECT_EQ(SniffMime("II*\0"sv), "image/tiff");
  EXPECT_EQ(SniffMime("II*x"), "application/octet-stream");
  EXPECT_EQ(SniffMime(""), "application/octet-stream");
  // An ISO box that is not an image brand (an MP4) is not HEIC.
  EXPECT_EQ(SniffMime("\0\0\0\x18"
                      "ftypisom"sv),
            "application/octet-stream");
}

// Regression: HEIC inputs were exported as ".bin" (the export's own table had no HEIC row).
TEST(ImageFormats, HeicHasItsOwnExportExtension) {
  EXPECT_EQ(ExtensionForMime("image/heic"), "heic");
  EXPECT_EQ(ExtensionForMime("image/jpeg"), "jpg");
}

TEST(ImageFormats, OnlyTheOutputFormatsAreWritable) {
  std::set<std::string_view> writable;
  for (const auto& f : kImageFormats) {
    if (f.writable) writable.insert(f.name);
  }
  EXPECT_EQ(writable, (std::set<std::string_view>{"jpeg", "png", "webp", "avif"}));
}

}  // namespace
}  // namespace bgerase
