// Peak memory of one photo through the whole imaging path, for docs/design/imaging.md:
//   imaging_memory_probe make W H OUT.jpg|.heic|.avif   writes a test photo (a skimage photo
//                                                       enlarged, with noise so it compresses
//                                                       like a real one)
//   imaging_memory_probe run IN [png|jpeg|webp|avif]    decode -> ModelInput -> MaskToAlpha ->
//                                                       Compose -> Encode, printing peak RSS
// Run each measurement in a fresh process: peak RSS only grows.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "imaging/imaging.h"

using bgerase::imaging::DecodedImage;
using vips::VImage;

namespace {

double PeakMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int Make(int w, int h, const std::string& out) {
  VImage photo = VImage::new_from_file("/usr/lib/python3/dist-packages/skimage/data/coffee.png")
                     .extract_band(0, VImage::option()->set("n", 3));
  photo = photo.resize(static_cast<double>(w) / photo.width(),
                       VImage::option()->set("vscale", static_cast<double>(h) / photo.height()));
  VImage noise =
      VImage::gaussnoise(photo.width(), photo.height(), VImage::option()->set("sigma", 6.0));
  photo = (photo + noise)
              .cast(VIPS_FORMAT_UCHAR)
              .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  if (out.ends_with(".heic") || out.ends_with(".avif")) {
    VipsBlob* blob = photo.heifsave_buffer(
        VImage::option()
            ->set("compression", out.ends_with(".avif") ? VIPS_FOREIGN_HEIF_COMPRESSION_AV1
                                                        : VIPS_FOREIGN_HEIF_COMPRESSION_HEVC)
            ->set("effort", 0)
            ->set("Q", 80));
    size_t n = 0;
    const void* d = vips_blob_get(blob, &n);
    std::ofstream(out, std::ios::binary).write(static_cast<const char*>(d), n);
    vips_area_unref(VIPS_AREA(blob));
  } else {
    photo.write_to_file(out.c_str(), VImage::option()->set("Q", 90));
  }
  std::printf("wrote %s %dx%d\n", out.c_str(), photo.width(), photo.height());
  return 0;
}

int Run(const std::string& in, const std::string& format) {
  std::ifstream f(in, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  const double base = PeakMiB();
  auto t0 = std::chrono::steady_clock::now();
  bgerase::imaging::DecodeLimits limits;
  limits.max_pixels_heif = limits.max_pixels;  // measuring the HEIF cap itself
  auto decoded = bgerase::imaging::Decode(bytes, limits);
  if (!decoded.ok()) {
    std::printf("decode failed: %s\n", decoded.status().ToString().c_str());
    return 1;
  }
  const DecodedImage& d = *decoded;
  const double t_decode = Since(t0);
  const double peak_decode = PeakMiB();
  t0 = std::chrono::steady_clock::now();
  const auto input = bgerase::imaging::ModelInput(d);
  const double t_input = Since(t0);
  // A soft elliptical "subject" in place of the model's output.
  std::vector<float> mask(1024 * 1024);
  for (int y = 0; y < 1024; ++y) {
    for (int x = 0; x < 1024; ++x) {
      const double r = std::hypot((x - 512) / 400.0, (y - 512) / 450.0);
      mask[y * 1024 + x] = static_cast<float>(std::clamp(1.0 - (r - 0.95) * 10, 0.0, 1.0));
    }
  }
  t0 = std::chrono::steady_clock::now();
  const VImage alpha = bgerase::imaging::MaskToAlpha(mask.data(), 1024, 1024, d.width, d.height);
  const double t_mask = Since(t0);
  t0 = std::chrono::steady_clock::now();
  const VImage cutout = bgerase::imaging::Compose(d, alpha, {});
  bgerase::imaging::EncodeSpec spec;
  spec.format = format == "jpeg"   ? bgerase::imaging::Format::kJpeg
                : format == "webp" ? bgerase::imaging::Format::kWebp
                : format == "avif" ? bgerase::imaging::Format::kAvif
                                   : bgerase::imaging::Format::kPng;
  std::string mime;
  auto out = bgerase::imaging::Encode(cutout, d.metadata, spec, &mime);
  const double t_encode = Since(t0);
  if (!out.ok()) {
    std::printf("encode failed: %s\n", out.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "%s %dx%d (%.1f MP, %s, %.1f MB in) -> %s %.1f MB\n"
      "  peak RSS: %.0f MiB total, %.0f MiB above start (%.0f MiB after decode); "
      "%.1f bytes/pixel\n"
      "  time: decode %.2fs, model input %.2fs, mask %.2fs, compose+encode %.2fs\n",
      in.c_str(), d.width, d.height, d.width * double(d.height) / 1e6, d.format.c_str(),
      bytes.size() / 1e6, mime.c_str(), out->size() / 1e6, PeakMiB(), PeakMiB() - base,
      peak_decode - base, (PeakMiB() - base) * 1048576.0 / (double(d.width) * d.height), t_decode,
      t_input, t_mask, t_encode);
  return input.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (!bgerase::imaging::InitVips().ok()) return 1;
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 4 && args[0] == "make")
    return Make(std::stoi(args[1]), std::stoi(args[2]), args[3]);
  if (args.size() >= 2 && args[0] == "run") return Run(args[1], args.size() > 2 ? args[2] : "png");
  std::fprintf(stderr, "usage: imaging_memory_probe make W H OUT | run IN [png|jpeg|webp|avif]\n");
  return 2;
}
