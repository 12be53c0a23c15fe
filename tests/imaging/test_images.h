// Test images for imaging/: real photographs from python3-skimage, re-encoded with libvips into
// each format and variant the tests need.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include <vips/vips8>

#include "imaging/imaging.h"

namespace bgerase::imaging::testing {

using vips::VImage;

inline const std::string kSkimage = "/usr/lib/python3/dist-packages/skimage/data/";

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// chelsea.png: 451x300 RGB, not square, so a rotation shows in the size.
inline VImage Photo(const std::string& name = "chelsea.png") {
  EXPECT_TRUE(InitVips().ok());
  VImage im = VImage::new_from_file((kSkimage + name).c_str());
  im = im.copy_memory();
  // A clean slate: the skimage PNGs carry a few fields of their own.
  gchar** fields = vips_image_get_fields(im.get_image());
  for (gchar** f = fields; *f; ++f) vips_image_remove(im.get_image(), *f);
  g_strfreev(fields);
  return im.copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

inline std::string TakeBlob(VipsBlob* blob) {
  size_t n = 0;
  const void* d = vips_blob_get(blob, &n);
  std::string s(static_cast<const char*>(d), n);
  vips_area_unref(VIPS_AREA(blob));
  return s;
}

// Saves with libvips' saver for `suffix` (e.g. ".jpg[Q=95]"); metadata is kept.
inline std::string Save(const VImage& im, const std::string& suffix) {
  void* buf = nullptr;
  size_t n = 0;
  im.write_to_buffer(suffix.c_str(), &buf, &n);
  std::string s(static_cast<const char*>(buf), n);
  g_free(buf);
  return s;
}

inline std::string SaveHeif(const VImage& im, VipsForeignHeifCompression compression) {
  return TakeBlob(im.heifsave_buffer(
      VImage::option()->set("compression", compression)->set("Q", 80)->set("effort", 0)));
}

inline std::string SaveBmp(const VImage& im) {
  return TakeBlob(im.magicksave_buffer(VImage::option()->set("format", "bmp")));
}

// Decodes fully. Metadata blobs are copied while the loader is alive: libvips 8.14's heifload
// hands out an ICC blob that lives only as long as the loader's own image.
inline VImage Load(const std::string& bytes) {
  const VImage lazy = VImage::new_from_buffer(bytes, "");
  const VImage mem = lazy.copy_memory();
  gchar** fields = vips_image_get_fields(lazy.get_image());
  for (gchar** f = fields; *f; ++f) {
    if (lazy.get_typeof(*f) == VIPS_TYPE_BLOB) {
      size_t n = 0;
      const void* d = lazy.get_blob(*f, &n);
      vips_image_set_blob_copy(mem.get_image(), *f, d, n);
    }
  }
  g_strfreev(fields);
  return mem;
}

inline std::string Blob(const VImage& im, const char* field) {
  if (!im.get_typeof(field)) return {};
  size_t n = 0;
  const void* d = im.get_blob(field, &n);
  return std::string(static_cast<const char*>(d), n);
}

inline std::string Profile(const char* name) {
  return TakeBlob(VImage::profile_load(name));
}

// An EXIF blob as libvips builds it from exif-* fields (via a tiny JPEG).
inline std::string ExifBlob(const std::string& copyright, int orientation) {
  VImage tiny = VImage::black(8, 8, VImage::option()->set("bands", 3))
                    .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  tiny.set("exif-ifd0-Copyright", copyright.c_str());
  tiny.set("exif-ifd0-Artist", "Jane Doe");
  tiny.set(VIPS_META_ORIENTATION, orientation);
  return Blob(Load(Save(tiny, ".jpg")), VIPS_META_EXIF_NAME);
}

inline VImage WithBlob(VImage im, const char* field, const std::string& bytes) {
  im = im.copy();
  vips_image_set_blob_copy(im.get_image(), field, bytes.data(), bytes.size());
  return im;
}

// Every pixel of `im` as doubles, band-interleaved, for exact checks.
inline std::vector<double> Pixel(const VImage& im, int x, int y) {
  return const_cast<VImage&>(im).getpoint(x, y);
}

// Mean absolute difference of two same-size images with the same bands.
inline double MeanDiff(const VImage& a, const VImage& b) {
  return (a.cast(VIPS_FORMAT_FLOAT) - b.cast(VIPS_FORMAT_FLOAT)).abs().avg();
}

inline DecodedImage MustDecode(const std::string& bytes, const DecodeLimits& limits = {}) {
  Result<DecodedImage> r = Decode(bytes, limits);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) throw std::runtime_error(r.status().ToString());
  return std::move(r).value();
}

}  // namespace bgerase::imaging::testing
