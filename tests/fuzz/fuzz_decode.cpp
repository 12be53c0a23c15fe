// The image decoder with its limits, on bytes any client can send. Seeds are tiny images of every
// input format, encoded here by libvips (no generated binaries in the repository). Invariants:
// never crashes; an accepted image respects the pixel limit and comes out as 3-band sRGB with an
// optional 1-band alpha of the same size.
#include <string>
#include <vips/vips8>

#include "fuzz_driver.h"
#include "imaging/imaging.h"

namespace {

constexpr int64_t kMaxPixels = 4'000'000;  // small, so a mutated header cannot ask for much

// libvips logs a warning for nearly every mutated file; thousands of them hide the result.
bool InitQuietly() {
  g_log_set_handler(
      "VIPS", G_LOG_LEVEL_WARNING, [](const gchar*, GLogLevelFlags, const gchar*, gpointer) {},
      nullptr);
  return bgerase::imaging::InitVips().ok();
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  if (!InitQuietly()) return {};
  std::vector<std::string> seeds;
  vips::VImage im =
      vips::VImage::xyz(24, 16).extract_band(0).bandjoin({64.0, 200.0}).cast(VIPS_FORMAT_UCHAR);
  for (const char* suffix : {".png", ".jpg", ".webp", ".gif", ".tif", ".avif"}) {
    try {
      void* buf = nullptr;
      size_t len = 0;
      im.write_to_buffer(suffix, &buf, &len);
      seeds.emplace_back(static_cast<const char*>(buf), len);
      g_free(buf);
    } catch (const vips::VError&) {
      // a format this libvips build cannot write: fewer seeds, not a failure
    }
  }
  return seeds;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool init = InitQuietly();
  FUZZ_CHECK(init);
  bgerase::imaging::DecodeLimits limits;
  limits.max_pixels = kMaxPixels;
  limits.max_pixels_heif = kMaxPixels;
  auto im =
      bgerase::imaging::Decode(std::string_view(reinterpret_cast<const char*>(data), size), limits);
  if (im.ok()) {
    FUZZ_CHECK(static_cast<int64_t>(im->width) * im->height <= kMaxPixels);
    FUZZ_CHECK(im->rgb.bands() == 3);
    FUZZ_CHECK(im->rgb.width() == im->width && im->rgb.height() == im->height);
    if (im->alpha) FUZZ_CHECK(im->alpha->bands() == 1 && im->alpha->width() == im->width);
  }
  return 0;
}
