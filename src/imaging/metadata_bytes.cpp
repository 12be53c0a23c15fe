// Byte-level edits of EXIF/XMP blobs and reads of ICC headers, so the metadata we carry over
// stays truthful after the pixels were rotated or converted.
#include "imaging/metadata_bytes.h"

#include "common/image_formats.h"

#include <cstdint>
#include <cstring>

namespace bgerase::imaging::internal {
namespace {

uint32_t ReadBe32(std::string_view s, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + at;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

bool ResetExifOrientation(std::string* exif) {
  std::string& s = *exif;
  size_t base = 0;
  if (s.size() >= 6 && std::memcmp(s.data(), "Exif\0\0", 6) == 0) base = 6;
  if (s.size() < base + 8) return false;
  const bool little = s[base] == 'I' && s[base + 1] == 'I';
  const bool big = s[base] == 'M' && s[base + 1] == 'M';
  if (!little && !big) return false;
  auto u8 = [&](size_t at) { return static_cast<uint32_t>(static_cast<unsigned char>(s[at])); };
  auto u16 = [&](size_t at) {
    return little ? (u8(at) | (u8(at + 1) << 8)) : ((u8(at) << 8) | u8(at + 1));
  };
  auto u32 = [&](size_t at) {
    return little ? (u16(at) | (u16(at + 2) << 16)) : ((u16(at) << 16) | u16(at + 2));
  };
  if (u16(base + 2) != 42) return false;
  const size_t ifd = base + u32(base + 4);
  if (ifd + 2 > s.size()) return false;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t entry = ifd + 2 + 12 * i;
    if (entry + 12 > s.size()) return false;
    // Orientation is a single SHORT, stored in the first two bytes of the value field.
    if (u16(entry) == 0x0112 && u16(entry + 2) == 3 && u32(entry + 4) == 1) {
      s[entry + 8] = little ? 1 : 0;
      s[entry + 9] = little ? 0 : 1;
      return true;
    }
  }
  return false;
}

bool ResetXmpOrientation(std::string* xmp) {
  bool found = false;
  static constexpr std::string_view kKey = "tiff:Orientation";
  for (size_t at = xmp->find(kKey); at != std::string::npos; at = xmp->find(kKey, at + 1)) {
    // Both spellings: tiff:Orientation="6" (attribute) and <tiff:Orientation>6< (element).
    size_t v = at + kKey.size();
    while (v < xmp->size() && ((*xmp)[v] == '=' || (*xmp)[v] == '"' || (*xmp)[v] == '\'' ||
                               (*xmp)[v] == '>' || (*xmp)[v] == ' ')) {
      ++v;
    }
    if (v < xmp->size() && (*xmp)[v] >= '1' && (*xmp)[v] <= '8' &&
        (v + 1 == xmp->size() || (*xmp)[v + 1] < '0' || (*xmp)[v + 1] > '9')) {
      (*xmp)[v] = '1';
      found = true;
    }
  }
  return found;
}

IccSpace IccProfileSpace(std::string_view icc) {
  if (icc.size() < 128) return IccSpace::kOther;
  const std::string_view space = icc.substr(16, 4);
  if (space == "RGB ") return IccSpace::kRgb;
  if (space == "GRAY") return IccSpace::kGray;
  if (space == "CMYK") return IccSpace::kCmyk;
  return IccSpace::kOther;
}

bool IccProfileIsSrgb(std::string_view icc) {
  if (IccProfileSpace(icc) != IccSpace::kRgb || icc.size() < 132) return false;
  const uint32_t tags = ReadBe32(icc, 128);
  for (uint32_t i = 0; i < tags && 132 + 12 * (i + 1) <= icc.size(); ++i) {
    const size_t entry = 132 + 12 * i;
    if (icc.substr(entry, 4) != "desc") continue;
    const size_t offset = ReadBe32(icc, entry + 4), size = ReadBe32(icc, entry + 8);
    if (offset > icc.size() || size > icc.size() - offset) return false;
    const std::string_view desc = icc.substr(offset, size);
    // v2 profiles store ASCII ('desc' type), v4 profiles UTF-16BE ('mluc' type).
    static constexpr char kUtf16[] = {0, 's', 0, 'R', 0, 'G', 0, 'B'};
    return desc.find("sRGB") != std::string_view::npos ||
           desc.find(std::string_view(kUtf16, sizeof(kUtf16))) != std::string_view::npos;
  }
  return false;
}

bool StripWebpMetadata(std::string* webp) {
  const std::string& in = *webp;
  if (in.size() < 20 || in.compare(0, 4, "RIFF") != 0 || in.compare(8, 4, "WEBP") != 0) {
    return false;
  }
  auto le32 = [&](size_t at) {
    uint32_t v = 0;
    for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(in[at + k]);
    return v;
  };
  std::string out = in.substr(0, 12);
  for (size_t at = 12; at < in.size();) {
    if (at + 8 > in.size()) return false;
    const uint32_t size = le32(at + 4);
    const size_t next = at + 8 + size + (size & 1);
    if (next > in.size()) return false;
    const std::string_view tag(in.data() + at, 4);
    if (tag != "EXIF" && tag != "XMP " && tag != "ICCP") out.append(in, at, next - at);
    at = next;
  }
  if (out.size() >= 21 && out.compare(12, 4, "VP8X") == 0) out[20] &= ~0x2c;  // ICC, EXIF, XMP
  const uint32_t riff = static_cast<uint32_t>(out.size() - 8);
  for (int k = 0; k < 4; ++k) out[4 + k] = static_cast<char>(riff >> (8 * k));
  *webp = std::move(out);
  return true;
}

std::string_view SniffFormat(std::string_view b) {
  const auto f = SniffImageFormat(b);
  return f ? InfoOf(*f).name : std::string_view();
}

}  // namespace bgerase::imaging::internal
