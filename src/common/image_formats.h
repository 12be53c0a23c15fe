// The one table of image formats: what each is called, its MIME type, the file suffixes it goes
// by, the magic bytes that tell it, and whether we write it. Decoding (which formats libvips may
// open), MIME sniffing of uploads, export file names and the CLI's input and output suffixes all
// read it; a new format is one row here. No libvips in it: imaging/ maps rows to loaders.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace bgerase {

// The largest image we take, in bytes (the decoder's payload_too_large). The HTTP body cap, the
// URL fetch cap and the web page's check derive from it.
inline constexpr std::size_t kMaxImageBytes = 30'000'000;

enum class ImageFormat { kJpeg, kPng, kGif, kWebp, kTiff, kBmp, kHeif, kAvif };

struct ImageFormatInfo {
  ImageFormat format;
  std::string_view name;                     // our name: "jpeg", "heif"
  std::string_view mime;                     // "image/jpeg"
  std::string_view extension;                // for files we write or export: "jpg"
  std::array<std::string_view, 4> suffixes;  // file suffixes it goes by, lower case, no dot
  bool writable;                             // an output format of ours
};

inline constexpr std::array<ImageFormatInfo, 8> kImageFormats{{
    {ImageFormat::kJpeg, "jpeg", "image/jpeg", "jpg", {"jpg", "jpeg", "jpe", "jfif"}, true},
    {ImageFormat::kPng, "png", "image/png", "png", {"png"}, true},
    {ImageFormat::kGif, "gif", "image/gif", "gif", {"gif"}, false},
    {ImageFormat::kWebp, "webp", "image/webp", "webp", {"webp"}, true},
    {ImageFormat::kTiff, "tiff", "image/tiff", "tiff", {"tif", "tiff"}, false},
    {ImageFormat::kBmp, "bmp", "image/bmp", "bmp", {"bmp"}, false},
    {ImageFormat::kHeif, "heif", "image/heic", "heic", {"heic", "heif"}, false},
    {ImageFormat::kAvif, "avif", "image/avif", "avif", {"avif"}, true},
}};

inline const ImageFormatInfo& InfoOf(ImageFormat f) {
  for (const auto& i : kImageFormats) {
    if (i.format == f) return i;
  }
  return kImageFormats[0];  // unreachable: every enumerator has a row
}

inline const ImageFormatInfo* FormatByMime(std::string_view mime) {
  for (const auto& i : kImageFormats) {
    if (i.mime == mime) return &i;
  }
  return nullptr;
}

// `suffix`: lower case, without the dot ("jpeg"). Empty never matches.
inline const ImageFormatInfo* FormatBySuffix(std::string_view suffix) {
  if (suffix.empty()) return nullptr;
  for (const auto& i : kImageFormats) {
    for (std::string_view s : i.suffixes) {
      if (s == suffix) return &i;
    }
  }
  return nullptr;
}

// The format a file's first bytes name, if any. Magic strings are written with their lengths:
// a literal such as "MM\0*" would stop at its NUL.
inline std::optional<ImageFormat> SniffImageFormat(std::string_view b) {
  auto starts = [&](std::string_view magic, std::size_t at = 0) {
    return b.size() >= at + magic.size() && b.substr(at, magic.size()) == magic;
  };
  using namespace std::string_view_literals;
  if (starts("\xff\xd8\xff"sv)) return ImageFormat::kJpeg;
  if (starts("\x89PNG\r\n\x1a\n"sv)) return ImageFormat::kPng;
  if (starts("GIF87a"sv) || starts("GIF89a"sv)) return ImageFormat::kGif;
  if (starts("RIFF"sv) && starts("WEBP"sv, 8)) return ImageFormat::kWebp;
  if (starts("II*\0"sv) || starts("MM\0*"sv)) return ImageFormat::kTiff;
  if (starts("BM"sv)) return ImageFormat::kBmp;
  if (starts("ftyp"sv, 4)) {
    for (std::string_view brand : {"avif"sv, "avis"sv}) {
      if (starts(brand, 8)) return ImageFormat::kAvif;
    }
    for (std::string_view brand :
         {"heic"sv, "heix"sv, "hevc"sv, "hevx"sv, "heim"sv, "heis"sv, "mif1"sv, "msf1"sv}) {
      if (starts(brand, 8)) return ImageFormat::kHeif;
    }
  }
  return std::nullopt;
}

// The MIME type stored with an upload: its sniffed format's, else application/octet-stream.
inline std::string_view SniffMime(std::string_view bytes) {
  const auto f = SniffImageFormat(bytes);
  return f ? InfoOf(*f).mime : std::string_view("application/octet-stream");
}

// The file extension an export gives a stored object of `mime` ("bin" for none we know).
inline std::string_view ExtensionForMime(std::string_view mime) {
  const ImageFormatInfo* i = FormatByMime(mime);
  return i ? i->extension : std::string_view("bin");
}

}  // namespace bgerase
