// Foreground colour estimation, chosen by numbers: on a composite set with exact truth
// (bench/make_composites.py: DIR/img, DIR/gt = true alpha, DIR/fg = true foreground colour),
// each estimator runs on each photo with the TRUE alpha, so only the colour is judged. Printed
// per estimator: the error of the premultiplied cut-out over the soft pixels, mean |a F' - a F|
// in 8-bit levels (what shows of the old background on a new one), its ratio to copying the
// photo's colour (what bgerase did before), and the time (best of RUNS, default 3) per size.
//   foreground_bench DIR [RUNS]
// A measurement, not a test.
#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>
#include <vips/vips8>

#include "matting/blur_fusion.h"
#include "matting/foreground.h"

using namespace bgerase;

namespace {

std::vector<uint8_t> Pixels(const std::string& path, int bands, int* w, int* h) {
  vips::VImage im = vips::VImage::new_from_file(path.c_str());
  if (im.bands() > bands) im = im.extract_band(0, vips::VImage::option()->set("n", bands));
  if (im.bands() != bands) {
    std::fprintf(stderr, "%s: %d bands, wanted %d\n", path.c_str(), im.bands(), bands);
    std::exit(2);
  }
  *w = im.width();
  *h = im.height();
  size_t n = 0;
  auto* data = static_cast<uint8_t*>(im.cast(VIPS_FORMAT_UCHAR).write_to_memory(&n));
  std::vector<uint8_t> v(data, data + n);
  g_free(data);
  return v;
}

using Estimator =
    std::function<void(const std::vector<uint8_t>& rgb, const std::vector<uint8_t>& alpha, int w,
                       int h, std::vector<uint8_t>& out)>;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: foreground_bench DIR [RUNS]\n");
    return 2;
  }
  if (VIPS_INIT(argv[0])) return 2;
  const std::string dir = argv[1];
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  std::vector<std::string> names;
  if (DIR* d = opendir((dir + "/img").c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 4 && n.substr(n.size() - 4) == ".png") names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::pair<std::string, Estimator>> estimators = {
      {"photo colour", [](auto& rgb, auto&, int, int, auto& out) { out = rgb; }},
      {"blur-fusion",
       [](auto& rgb, auto& alpha, int w, int h, auto& out) {
         out.resize(rgb.size());
         matting::BlurFusionForeground(rgb.data(), alpha.data(), w, h, out.data());
       }},
      {"germer",
       [](auto& rgb, auto& alpha, int w, int h, auto& out) {
         // One tile as large as the photo, no halo: the whole-photo solve.
         out.resize(rgb.size());
         matting::EstimateForegroundTiled(rgb.data(), alpha.data(), w, h, out.data(),
                                          std::max(w, h), 0);
       }},
      {"germer tiled",
       [](auto& rgb, auto& alpha, int w, int h, auto& out) {
         out.resize(rgb.size());
         matting::EstimateForegroundTiled(rgb.data(), alpha.data(), w, h, out.data());
       }},
  };
  for (auto [wide, narrow] : {std::pair{45, 6}, std::pair{90, 3}, std::pair{22, 2}}) {
    estimators.push_back({"bf " + std::to_string(wide) + "/" + std::to_string(narrow),
                          [wide, narrow](auto& rgb, auto& alpha, int w, int h, auto& out) {
                            out.resize(rgb.size());
                            matting::BlurFusionOptions o;
                            o.wide_radius = wide;
                            o.narrow_radius = narrow;
                            matting::BlurFusionForeground(rgb.data(), alpha.data(), w, h,
                                                          out.data(), o);
                          }});
  }
  // Per estimator: the error sums, and the best time per size (megapixels rounded).
  std::map<std::string, double> error;
  std::map<std::string, std::map<int, std::vector<double>>> times;
  double soft_total = 0;
  for (const std::string& name : names) {
    int w, h, gw, gh, fw, fh;
    const auto rgb = Pixels(dir + "/img/" + name, 3, &w, &h);
    const auto alpha = Pixels(dir + "/gt/" + name, 1, &gw, &gh);
    const auto truth = Pixels(dir + "/fg/" + name, 3, &fw, &fh);
    const int mp = static_cast<int>(std::lround(w * static_cast<double>(h) / 1e6));
    long soft = 0;
    for (uint8_t a : alpha) soft += a != 0 && a != 255;
    soft_total += soft;
    std::printf("%-36s %5dx%-5d %7ld soft px", name.c_str(), w, h, soft);
    for (const auto& [label, estimate] : estimators) {
      std::vector<uint8_t> out;
      double best = 1e30;
      for (int r = 0; r < runs; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        estimate(rgb, alpha, w, h, out);
        best = std::min(
            best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                      .count());
      }
      double e = 0;
      for (size_t i = 0; i < alpha.size(); ++i) {
        if (alpha[i] == 0 || alpha[i] == 255) continue;
        const double a = alpha[i] / 255.0;
        for (int k = 0; k < 3; ++k) e += a * std::fabs(out[i * 3 + k] - truth[i * 3 + k]) / 3;
      }
      error[label] += e;
      times[label][mp].push_back(best);
      std::printf("  %s %.2f (%.0f ms)", label.c_str(), soft ? e / soft : 0.0, best);
    }
    std::printf("\n");
  }
  std::printf(
      "\nover %zu photos, %.0f soft pixels; error = mean |a F' - a F| on soft pixels, "
      "8-bit levels\n",
      names.size(), soft_total);
  std::printf("%-14s %8s %9s", "estimator", "error", "vs photo");
  for (const auto& [mp, v] : times.begin()->second) std::printf("  %2d MP ms (median)", mp);
  std::printf("\n");
  const double base = error["photo colour"];
  for (const auto& [label, estimate] : estimators) {
    std::printf("%-14s %8.3f %9.3f", label.c_str(), error[label] / soft_total,
                base > 0 ? error[label] / base : 0.0);
    for (auto& [mp, v] : times[label]) {
      std::sort(v.begin(), v.end());
      std::printf("  %18.0f", v[v.size() / 2]);
    }
    std::printf("\n");
  }
  return 0;
}
