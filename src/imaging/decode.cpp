// Decode: recognise the format from the bytes, check limits from the header, then decode once
// (sequentially) into an upright sRGB buffer in memory, keeping the input's metadata apart.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "imaging/imaging.h"
#include "imaging/metadata_bytes.h"

namespace bgerase::imaging {
namespace {

using vips::VImage;

struct Loader {
  const char* type;    // libvips class, as vips_foreign_find_load_buffer names it
  const char* format;  // our name for it
};
// The formats we take. Everything else libvips could open (PDF, SVG, FITS, JPEG 2000, JPEG XL,
// all of ImageMagick...) is refused: less attack surface on bytes from strangers.
constexpr Loader kLoaders[] = {
    {"VipsForeignLoadJpegBuffer", "jpeg"},  {"VipsForeignLoadPngBuffer", "png"},
    {"VipsForeignLoadWebpBuffer", "webp"},  {"VipsForeignLoadHeifBuffer", "heif"},
    {"VipsForeignLoadTiffBuffer", "tiff"},  {"VipsForeignLoadNsgifBuffer", "gif"},
    {"VipsForeignLoadMagickBuffer", "bmp"},  // only for bytes that start with "BM"
};

constexpr const char* kTaken = "JPEG, PNG, WebP, HEIC, AVIF, TIFF, GIF or BMP";

std::string TakeVipsError() {
  std::string msg = vips_error_buffer();
  vips_error_clear();
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

std::string Megapixels(int64_t pixels) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", static_cast<double>(pixels) / 1e6);
  return buf;
}

Status TooLarge(int64_t w, int64_t h, int64_t cap, const std::string& format) {
  return Status("image_too_large", "The image is " + std::to_string(w) + "x" + std::to_string(h) +
                                       " pixels (" + Megapixels(w * h) + " MP); " + format +
                                       " images may have at most " + Megapixels(cap) + " MP.");
}

// ImageMagick reads a whole BMP while libvips asks it for the header, so the pixel cap has to be
// checked on the BMP header itself first.
Status CheckBmpHeader(std::string_view b, int64_t max_pixels) {
  auto u8 = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(b[i])); };
  auto le = [&](size_t i, int n) {
    uint32_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | u8(i + k);
    return v;
  };
  if (b.size() < 26)
    return Status("corrupt_image", "The BMP file is cut short before its header ends.");
  int64_t w, h;
  if (le(14, 4) == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
    w = static_cast<int16_t>(le(18, 2));
    h = static_cast<int16_t>(le(20, 2));
  } else {
    w = static_cast<int32_t>(le(18, 4));
    h = static_cast<int32_t>(le(22, 4));  // negative: stored top-down
  }
  if (h < 0) h = -h;
  if (w <= 0 || h <= 0) return Status("corrupt_image", "The BMP header declares an empty image.");
  if (w * h > max_pixels) return TooLarge(w, h, max_pixels, "BMP");
  return Status::Ok();
}

// Removes every metadata field, so that what travels into an output is exactly
// DecodedImage::metadata and nothing re-derived from stale exif-* fields.
void StripFields(const VImage& image) {
  gchar** fields = vips_image_get_fields(image.get_image());
  for (gchar** f = fields; *f; ++f) vips_image_remove(image.get_image(), *f);
  g_strfreev(fields);
}

std::string Blob(const VImage& image, const char* field) {
  if (!image.get_typeof(field)) return {};
  size_t length = 0;
  const void* data = image.get_blob(field, &length);
  return std::string(static_cast<const char*>(data), length);
}

}  // namespace

Result<DecodedImage> Decode(std::string_view bytes, const DecodeLimits& limits) {
  BGERASE_RETURN_IF_ERROR(InitVips());
  if (bytes.size() > limits.max_bytes) {
    return Status("payload_too_large", "The upload is " + Megapixels(bytes.size()) +
                                           " MB; images may be at most " +
                                           Megapixels(limits.max_bytes) + " MB.");
  }
  if (bytes.empty()) {
    return Status("unsupported_image", "The upload is empty; send " + std::string(kTaken) + ".");
  }

  const char* type = vips_foreign_find_load_buffer(bytes.data(), bytes.size());
  vips_error_clear();
  const Loader* loader = nullptr;
  if (type) {
    for (const Loader& l : kLoaders) {
      if (std::strcmp(l.type, type) == 0) loader = &l;
    }
  }
  const std::string_view sniffed = internal::SniffFormat(bytes);
  if (loader && std::strcmp(loader->format, "bmp") == 0 && sniffed != "bmp") loader = nullptr;
  if (!loader) {
    // libvips' own sniffing may give up on a damaged file (or hand it to ImageMagick); the
    // magic bytes still tell a damaged photo from something that is not one at all.
    if (!sniffed.empty()) {
      return Status("corrupt_image", "The file starts like a " + std::string(sniffed) +
                                         " image but is damaged or cut short.");
    }
    return Status("unsupported_image",
                  "This file is not an image bgerase can read; send " + std::string(kTaken) + ".");
  }
  std::string format = loader->format;
  if (format == "bmp") BGERASE_RETURN_IF_ERROR(CheckBmpHeader(bytes, limits.max_pixels));

  DecodedImage out;
  VImage in;
  try {
    // A private copy: the lazy loader reads from it while Decode runs, and the caller's buffer
    // may be reused as soon as we return.
    VipsBlob* blob = vips_blob_copy(bytes.data(), bytes.size());
    vips::VOption* options = VImage::option()
                                 ->set("buffer", blob)
                                 ->set("out", &in)
                                 ->set("access", VIPS_ACCESS_SEQUENTIAL)
                                 // Truncated or damaged data is an error, not grey pixels.
                                 ->set("fail_on", VIPS_FAIL_ON_ERROR);
    vips_area_unref(VIPS_AREA(blob));
    VImage::call(vips_nickname_find(g_type_from_name(type)), options);
  } catch (const vips::VError& e) {
    vips_error_clear();
    return Status("corrupt_image", "The " + format +
                                       " file is damaged or cut short and its "
                                       "header cannot be read (" +
                                       std::string(e.what()) + ").");
  }

  // The header is read, no pixel is: check the limits now.
  if (format == "heif" && in.get_typeof("heif-compression") &&
      std::string(in.get_string("heif-compression")) == "av1") {
    format = "avif";
  }
  out.format = format;
  const bool heif = format == "heif" || format == "avif";
  const int64_t cap =
      heif ? (limits.max_pixels_heif > 0 ? limits.max_pixels_heif
                                         : std::min(limits.max_pixels, kDefaultMaxPixelsHeif))
           : limits.max_pixels;
  if (static_cast<int64_t>(in.width()) * in.height() > cap) {
    return TooLarge(in.width(), in.height(), cap, heif ? "HEIC/AVIF" : "such");
  }

  out.metadata.exif = Blob(in, VIPS_META_EXIF_NAME);
  out.metadata.xmp = Blob(in, VIPS_META_XMP_NAME);
  out.metadata.iptc = Blob(in, VIPS_META_IPTC_NAME);
  out.metadata.icc = Blob(in, VIPS_META_ICC_NAME);
  const int orientation =
      in.get_typeof(VIPS_META_ORIENTATION) ? in.get_int(VIPS_META_ORIENTATION) : 1;
  if (orientation != 1) {
    internal::ResetExifOrientation(&out.metadata.exif);
    internal::ResetXmpOrientation(&out.metadata.xmp);
  }

  try {
    VImage x = in;
    const bool had_alpha = in.has_alpha();
    bool converted = false;
    // Through the embedded profile to sRGB. An sRGB profile needs no work; a broken or
    // mismatched profile falls back to libvips' default interpretation below.
    if (!out.metadata.icc.empty() && !internal::IccProfileIsSrgb(out.metadata.icc)) {
      try {
        x = x.icc_transform("srgb", VImage::option()->set("embedded", true)->set("depth", 8));
        converted = true;
      } catch (const vips::VError&) {
        vips_error_clear();
        x = in;
      }
    }
    if (!converted &&
        (x.interpretation() != VIPS_INTERPRETATION_sRGB || x.format() != VIPS_FORMAT_UCHAR)) {
      if (x.format() == VIPS_FORMAT_USHORT && x.interpretation() == VIPS_INTERPRETATION_sRGB) {
        x = x.copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_RGB16));
      }
      x = x.colourspace(VIPS_INTERPRETATION_sRGB);
    }
    if (x.format() != VIPS_FORMAT_UCHAR) x = x.cast(VIPS_FORMAT_UCHAR);
    // Colour bands, then the input's alpha when it had one; any other extra band is dropped.
    const int keep = had_alpha && x.bands() >= 4 ? 4 : 3;
    if (x.bands() > keep) x = x.extract_band(0, VImage::option()->set("n", keep));
    if (x.bands() < 3) x = VImage::bandjoin({x[0], x[0], x[0]});

    // The one full decode. Errors from damaged data surface here, while libvips pulls pixels.
    x = x.copy_memory();
    if (orientation != 1) {
      x.set(VIPS_META_ORIENTATION, orientation);
      x = x.autorot().copy_memory();  // rotation needs random access, hence after the decode
    }
    StripFields(x);
    out.rgb = x.bands() == 3 ? x : x.extract_band(0, VImage::option()->set("n", 3));
    out.rgb = out.rgb.copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
    if (x.bands() == 4) {
      out.alpha =
          x.extract_band(3).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_B_W));
    }
    out.width = x.width();
    out.height = x.height();
  } catch (const vips::VError& e) {
    const std::string detail = TakeVipsError();
    return Status("corrupt_image", "The " + format + " file is damaged or cut short (" +
                                       (detail.empty() ? std::string(e.what()) : detail) + ").");
  }
  return out;
}

}  // namespace bgerase::imaging
