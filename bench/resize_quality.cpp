// The quality set for the imaging choices around the model. Each image is a composite with an
// exact ground-truth alpha: an elliptical cut of a real photograph (python3-skimage) laid on a
// real texture or a flat colour, at sizes from 0.5 to 12 MP so the 1024² squash is a mild or a
// strong downscale, and the mask's way back a mild or a strong enlargement. A measurement, not a
// test. Modes:
//   resize_quality [resize]   model-input kernel (lanczos3 vs area), real model in fp32: mean
//                             |alpha - truth| and IoU at 0.5 per image and overall.
//   resize_quality upsample [RADII [EPSILONS]]
//                             mask upsampling (bilinear vs guided filter over a grid of radius and
//                             epsilon, e.g. "2,4" "1e-4,1e-3"), real model at the pipeline's
//                             precision: mean |alpha - truth|, IoU at 0.5, and the error within
//                             4 px of the true edge, per size class.
//   resize_quality time       time of each upsampling at 12 MP and 50 MP (median of 5).
//   resize_quality crops DIR  edge crops of one 12 MP cutout on white, bilinear and guided.
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

#include "engine/session.h"
#include "imaging/imaging.h"
#include "removal/model_registry.h"

using namespace bgerase;
using vips::VImage;

namespace {

const std::string kData = "/usr/lib/python3/dist-packages/skimage/data/";
constexpr double kBand = 4.0;  // px either side of the true edge

VImage Rgb(const std::string& name, int w, int h) {
  VImage im = VImage::new_from_file((kData + name).c_str());
  if (im.has_alpha()) im = im.flatten();
  if (im.bands() == 1) im = im.bandjoin(im).bandjoin(im);
  im = im.cast(VIPS_FORMAT_UCHAR);
  return im.resize(static_cast<double>(w) / im.width(),
                   VImage::option()->set("vscale", static_cast<double>(h) / im.height()));
}

struct Ellipse {
  double cx, cy, rx, ry;  // pixels
  // 255 inside, 0 outside.
  VImage Mask(int w, int h) const {
    VImage xy = VImage::xyz(w, h);
    VImage dx = (xy[0] - cx) / rx, dy = (xy[1] - cy) / ry;
    return ((dx * dx + dy * dy) < 1.0).cast(VIPS_FORMAT_UCHAR);
  }
  // Approximate distance in pixels of (x, y) from the edge: |f| / |grad f| for
  // f = dx² + dy² - 1, exact enough within a few pixels of the edge.
  double Distance(double x, double y) const {
    const double dx = (x - cx) / rx, dy = (y - cy) / ry;
    const double gx = 2 * dx / rx, gy = 2 * dy / ry;
    return std::abs(dx * dx + dy * dy - 1) / std::max(1e-12, std::sqrt(gx * gx + gy * gy));
  }
};

struct QualityImage {
  std::string subject, background;
  int w = 0, h = 0;
  imaging::DecodedImage decoded;
  VImage truth;
  Ellipse ellipse;
};

// Builds the 36 images one at a time (a 12 MP one is large) and hands each to `visit`.
bool ForEachQualityImage(const std::function<bool(const QualityImage&)>& visit) {
  struct Subject {
    const char* photo;
    double cx, cy, rx, ry;  // ellipse, as fractions of the image
  };
  const Subject subjects[] = {{"astronaut.png", 0.45, 0.42, 0.22, 0.33},
                              {"coffee.png", 0.5, 0.45, 0.3, 0.38},
                              {"chelsea.png", 0.55, 0.5, 0.35, 0.4}};
  const char* backgrounds[] = {"grass.png", "brick.png", "gravel.png", "#flat"};
  const std::pair<int, int> sizes[] = {{800, 600}, {2000, 1500}, {4000, 3000}};
  for (const auto& s : subjects) {
    for (const char* bg : backgrounds) {
      for (const auto& [w, h] : sizes) {
        QualityImage q;
        q.subject = s.photo;
        q.background = bg;
        q.w = w;
        q.h = h;
        q.ellipse = {s.cx * w, s.cy * h, s.rx * w, s.ry * h};
        VImage back = std::string(bg) == "#flat"
                          ? (VImage::black(w, h, VImage::option()->set("bands", 3)) +
                             std::vector<double>{70, 110, 160})
                                .cast(VIPS_FORMAT_UCHAR)
                          : Rgb(bg, w, h);
        q.truth = q.ellipse.Mask(w, h).copy_memory();
        VImage comp = q.truth.ifthenelse(Rgb(s.photo, w, h), back).cast(VIPS_FORMAT_UCHAR);
        void* buf = nullptr;
        size_t len = 0;
        comp.write_to_buffer(".png[compression=1]", &buf, &len);
        auto decoded = imaging::Decode(std::string_view(static_cast<char*>(buf), len));
        g_free(buf);
        if (!decoded.ok()) return false;
        q.decoded = std::move(decoded).value();
        if (!visit(q)) return false;
      }
    }
  }
  return true;
}

std::unique_ptr<engine::Session> LoadModel(engine::Precision precision) {
  const auto& spec = removal::DefaultModel();
  engine::SessionOptions opts;
  opts.outputs = {spec.output};
  opts.precision = precision;
  auto session = engine::Session::Load(removal::ModelPath(removal::ModelDir(""), spec), opts);
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().ToString().c_str());
    return nullptr;
  }
  return std::move(session).value();
}

double Iou(const VImage& alpha, const VImage& truth) {
  VImage a = alpha > 127, t = truth > 127;
  const double inter = (a & t).avg(), uni = (a | t).avg();
  return uni > 0 ? inter / uni : 1;
}

int CompareKernels() {
  auto session = LoadModel(engine::Precision::kFloat32);  // isolate the resize from bf16 rounding
  if (!session) return 1;
  double sum_mae[2] = {0, 0}, sum_iou[2] = {0, 0};
  int n = 0;
  std::printf("%-14s %-10s %-10s  %-22s %-22s\n", "subject", "background", "size",
              "lanczos3 MAE / IoU", "area MAE / IoU");
  const bool ok = ForEachQualityImage([&](const QualityImage& q) {
    std::printf("%-14s %-10s %4dx%-5d", q.subject.c_str(), q.background.c_str(), q.w, q.h);
    int k = 0;
    for (auto kernel : {imaging::ResizeKernel::kLanczos3, imaging::ResizeKernel::kArea}) {
      auto out = session->Run({imaging::ModelInput(q.decoded, 1024, kernel)});
      if (!out.ok()) return false;
      VImage alpha = imaging::MaskToAlpha((*out)[0].data<float>(), 1024, 1024, q.w, q.h);
      const double mae =
          (alpha.cast(VIPS_FORMAT_FLOAT) - q.truth.cast(VIPS_FORMAT_FLOAT)).abs().avg() / 255;
      const double iou = Iou(alpha, q.truth);
      std::printf("  %.4f / %.4f      ", mae, iou);
      sum_mae[k] += mae;
      sum_iou[k] += iou;
      ++k;
    }
    std::printf("\n");
    ++n;
    return true;
  });
  if (!ok) return 1;
  std::printf("mean over %d images: lanczos3 MAE %.4f IoU %.4f | area MAE %.4f IoU %.4f\n", n,
              sum_mae[0] / n, sum_iou[0] / n, sum_mae[1] / n, sum_iou[1] / n);
  return 0;
}

struct Method {
  std::string name;
  imaging::MaskUpsampling how;
  imaging::GuidedFilter filter;
};

// "1,2,4" -> {1, 2, 4}; empty text gives `fallback`.
std::vector<double> Numbers(const char* text, std::vector<double> fallback) {
  if (!text || !*text) return fallback;
  std::vector<double> out;
  for (const char* p = text; *p;) {
    char* end = nullptr;
    out.push_back(std::strtod(p, &end));
    p = *end == ',' ? end + 1 : end;
    if (end == p && *p) break;
  }
  return out;
}

std::vector<Method> Methods(const char* radii, const char* epsilons) {
  std::vector<Method> m = {{"bilinear", imaging::MaskUpsampling::kBilinear, {}}};
  for (double r : Numbers(radii, {1, 2, 3, 4, 8})) {
    for (double eps : Numbers(epsilons, {1e-5, 1e-4, 1e-3, 1e-2})) {
      char name[64];
      std::snprintf(name, sizeof name, "guided r=%g eps=%g", r, eps);
      m.push_back(
          {name, imaging::MaskUpsampling::kGuided, {static_cast<int>(r), static_cast<float>(eps)}});
    }
  }
  return m;
}

struct Scores {
  double mae = 0, band = 0, iou = 0;
  int n = 0;
};

int CompareUpsampling(const char* radii, const char* epsilons) {
  auto session = LoadModel(engine::SessionOptions{}.precision);
  if (!session) return 1;
  const std::vector<Method> methods = Methods(radii, epsilons);
  std::map<std::string, std::vector<Scores>> per_size;  // "WxH" -> one per method
  const bool ok = ForEachQualityImage([&](const QualityImage& q) {
    auto out = session->Run({imaging::ModelInput(q.decoded, 1024)});
    if (!out.ok()) return false;
    const auto* truth = static_cast<const uint8_t*>(q.truth.data());
    std::vector<uint8_t> band(static_cast<size_t>(q.w) * q.h);
    for (int y = 0; y < q.h; ++y) {
      for (int x = 0; x < q.w; ++x) {
        band[static_cast<size_t>(y) * q.w + x] = q.ellipse.Distance(x, y) <= kBand;
      }
    }
    auto& scores = per_size[std::to_string(q.w) + "x" + std::to_string(q.h)];
    scores.resize(methods.size());
    std::printf("%-14s %-10s %4dx%-5d", q.subject.c_str(), q.background.c_str(), q.w, q.h);
    for (size_t m = 0; m < methods.size(); ++m) {
      const VImage alpha = imaging::MaskToAlpha((*out)[0].data<float>(), 1024, 1024, q.decoded.rgb,
                                                methods[m].how, methods[m].filter);
      const auto* a = static_cast<const uint8_t*>(alpha.data());
      double err = 0, band_err = 0, band_n = 0;
      for (size_t i = 0; i < band.size(); ++i) {
        const double e = std::abs(a[i] - truth[i]) / 255.0;
        err += e;
        if (band[i]) band_err += e, band_n += 1;
      }
      Scores& s = scores[m];
      s.mae += err / band.size();
      s.band += band_err / std::max(1.0, band_n);
      s.iou += Iou(alpha, q.truth);
      s.n += 1;
      if (m < 2) std::printf("  %s: band %.4f", methods[m].name.c_str(), band_err / band_n);
    }
    std::printf("\n");
    std::fflush(stdout);
    return true;
  });
  if (!ok) return 1;
  std::printf("\n%-24s %-10s %8s %8s %8s\n", "method", "size", "MAE", "band", "IoU");
  std::vector<Scores> all(methods.size());
  for (size_t m = 0; m < methods.size(); ++m) {
    for (const auto& [size, scores] : per_size) {
      const Scores& s = scores[m];
      std::printf("%-24s %-10s %8.4f %8.4f %8.4f\n", methods[m].name.c_str(), size.c_str(),
                  s.mae / s.n, s.band / s.n, s.iou / s.n);
      all[m].mae += s.mae, all[m].band += s.band, all[m].iou += s.iou, all[m].n += s.n;
    }
    std::printf("%-24s %-10s %8.4f %8.4f %8.4f\n", methods[m].name.c_str(), "all",
                all[m].mae / all[m].n, all[m].band / all[m].n, all[m].iou / all[m].n);
  }
  return 0;
}

int TimeUpsampling() {
  // A soft-edged ellipse stands in for the model's mask; the time does not depend on its values.
  std::vector<float> mask(1024 * 1024);
  for (int y = 0; y < 1024; ++y) {
    for (int x = 0; x < 1024; ++x) {
      const double d = std::hypot((x - 512) / 300.0, (y - 480) / 380.0);
      mask[y * 1024 + x] = static_cast<float>(std::clamp((1.0 - d) * 40 + 0.5, 0.0, 1.0));
    }
  }
  std::printf("%-12s %-24s %10s\n", "size", "method", "median ms");
  for (auto [w, h] : {std::pair{4000, 3000}, std::pair{8660, 5774}}) {
    const VImage photo = Rgb("coffee.png", w, h).copy_memory();
    for (const Method& m : {Method{"bilinear", imaging::MaskUpsampling::kBilinear, {}},
                            Method{"guided (default)", imaging::MaskUpsampling::kGuided, {}}}) {
      std::vector<double> ms;
      for (int i = 0; i < 5; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        const VImage a = imaging::MaskToAlpha(mask.data(), 1024, 1024, photo, m.how, m.filter);
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
      }
      std::sort(ms.begin(), ms.end());
      std::printf("%5dx%-6d %-24s %10.1f\n", w, h, m.name.c_str(), ms[2]);
    }
  }
  return 0;
}

// Writes, for one 12 MP quality image, a 400x300 crop at the ellipse's left edge of the cutout on
// white, for each method, enlarged 2x without smoothing: what a customer sees when zooming in.
int WriteCrops(const std::string& dir) {
  auto session = LoadModel(engine::SessionOptions{}.precision);
  if (!session) return 1;
  return ForEachQualityImage([&](const QualityImage& q) {
    if (q.subject != "chelsea.png" || q.background != "grass.png" || q.w != 4000) {
      return true;
    }
    auto out = session->Run({imaging::ModelInput(q.decoded, 1024)});
    if (!out.ok()) return false;
    const int left = static_cast<int>(q.ellipse.cx - q.ellipse.rx) - 200;
    const int top = static_cast<int>(q.ellipse.cy) - 150;
    for (const Method& m : {Method{"bilinear", imaging::MaskUpsampling::kBilinear, {}},
                            Method{"guided", imaging::MaskUpsampling::kGuided, {}}}) {
      const VImage alpha =
          imaging::MaskToAlpha((*out)[0].data<float>(), 1024, 1024, q.decoded.rgb, m.how, m.filter);
      imaging::ComposeSpec spec;
      spec.background = std::array<uint8_t, 4>{255, 255, 255, 255};
      spec.crop_left = left, spec.crop_top = top, spec.crop_width = 400;
      spec.crop_height = 300;
      const VImage cut =
          imaging::Compose(q.decoded, alpha, spec).zoom(2, 2).cast(VIPS_FORMAT_UCHAR);
      cut.write_to_file((dir + "/edge_" + m.name + ".png").c_str());
    }
    return true;
  })
             ? 0
             : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (!imaging::InitVips().ok()) return 1;
  const std::string mode = argc > 1 ? argv[1] : "resize";
  if (mode == "resize") return CompareKernels();
  if (mode == "upsample")
    return CompareUpsampling(argc > 2 ? argv[2] : "", argc > 3 ? argv[3] : "");
  if (mode == "time") return TimeUpsampling();
  if (mode == "crops" && argc > 2) return WriteCrops(argv[2]);
  std::fprintf(stderr, "usage: resize_quality [resize|upsample [RADII [EPS]]|time|crops DIR]\n");
  return 2;
}
