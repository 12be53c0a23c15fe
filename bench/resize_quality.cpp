// The quality set for the model-input resize (issue 3: lanczos3 or area?). Each image is a
// composite with an exact ground-truth alpha: an elliptical cut of a real photograph
// (python3-skimage) laid on a real texture or a flat colour, at sizes from 0.5 to 12 MP so the
// 1024² squash is a mild or a strong downscale. For each resize kernel we run the real model
// and compare the full-resolution mask with the ground truth: mean |alpha - truth| and IoU at
// 0.5. Prints one line per kernel and the per-image table; a measurement, not a test.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vips/vips8>

#include "engine/session.h"
#include "imaging/imaging.h"
#include "removal/model_registry.h"

using namespace bgerase;
using vips::VImage;

namespace {

const std::string kData = "/usr/lib/python3/dist-packages/skimage/data/";

VImage Rgb(const std::string& name, int w, int h) {
  VImage im = VImage::new_from_file((kData + name).c_str());
  if (im.has_alpha()) im = im.flatten();
  if (im.bands() == 1) im = im.bandjoin(im).bandjoin(im);
  im = im.cast(VIPS_FORMAT_UCHAR);
  return im.resize(static_cast<double>(w) / im.width(),
                   VImage::option()->set("vscale", static_cast<double>(h) / im.height()));
}

// 255 inside an ellipse centred at (cx, cy) with radii (rx, ry), 0 outside.
VImage Ellipse(int w, int h, double cx, double cy, double rx, double ry) {
  VImage xy = VImage::xyz(w, h);
  VImage dx = (xy[0] - cx) / rx, dy = (xy[1] - cy) / ry;
  return ((dx * dx + dy * dy) < 1.0).cast(VIPS_FORMAT_UCHAR);
}

}  // namespace

int main() {
  if (!imaging::InitVips().ok()) return 1;
  const auto& spec = removal::DefaultModel();
  const std::string dir = removal::ModelDir("");
  engine::SessionOptions opts;
  opts.outputs = {spec.output};
  opts.precision = engine::Precision::kFloat32;  // isolate the resize from bf16 rounding
  auto session = engine::Session::Load(removal::ModelPath(dir, spec), opts);
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().ToString().c_str());
    return 1;
  }
  struct Subject {
    const char* photo;
    double cx, cy, rx, ry;  // ellipse, as fractions of the image
  };
  const Subject subjects[] = {{"astronaut.png", 0.45, 0.42, 0.22, 0.33},
                              {"coffee.png", 0.5, 0.45, 0.3, 0.38},
                              {"chelsea.png", 0.55, 0.5, 0.35, 0.4}};
  const char* backgrounds[] = {"grass.png", "brick.png", "gravel.png", "#flat"};
  const std::pair<int, int> sizes[] = {{800, 600}, {2000, 1500}, {4000, 3000}};
  double sum_mae[2] = {0, 0}, sum_iou[2] = {0, 0};
  int n = 0;
  std::printf("%-14s %-10s %-10s  %-22s %-22s\n", "subject", "background", "size",
              "lanczos3 MAE / IoU", "area MAE / IoU");
  for (const auto& s : subjects) {
    for (const char* bg : backgrounds) {
      for (const auto& [w, h] : sizes) {
        VImage back = std::string(bg) == "#flat"
                          ? (VImage::black(w, h, VImage::option()->set("bands", 3)) +
                             std::vector<double>{70, 110, 160})
                                .cast(VIPS_FORMAT_UCHAR)
                          : Rgb(bg, w, h);
        VImage truth = Ellipse(w, h, s.cx * w, s.cy * h, s.rx * w, s.ry * h);
        VImage comp = truth.ifthenelse(Rgb(s.photo, w, h), back).cast(VIPS_FORMAT_UCHAR);
        void* buf = nullptr;
        size_t len = 0;
        comp.write_to_buffer(".png[compression=1]", &buf, &len);
        auto decoded = imaging::Decode(std::string_view(static_cast<char*>(buf), len));
        g_free(buf);
        if (!decoded.ok()) return 1;
        std::printf("%-14s %-10s %4dx%-5d", s.photo, bg, w, h);
        int k = 0;
        for (auto kernel : {imaging::ResizeKernel::kLanczos3, imaging::ResizeKernel::kArea}) {
          auto out = (*session)->Run({imaging::ModelInput(*decoded, 1024, kernel)});
          if (!out.ok()) return 1;
          VImage alpha = imaging::MaskToAlpha((*out)[0].data<float>(), 1024, 1024, w, h);
          const double mae =
              (alpha.cast(VIPS_FORMAT_FLOAT) - truth.cast(VIPS_FORMAT_FLOAT)).abs().avg() / 255;
          VImage a = alpha > 127, t = truth > 127;
          const double inter = (a & t).avg(), uni = (a | t).avg();
          const double iou = uni > 0 ? inter / uni : 1;
          std::printf("  %.4f / %.4f      ", mae, iou);
          sum_mae[k] += mae;
          sum_iou[k] += iou;
          ++k;
        }
        std::printf("\n");
        ++n;
      }
    }
  }
  std::printf("mean over %d images: lanczos3 MAE %.4f IoU %.4f | area MAE %.4f IoU %.4f\n", n,
              sum_mae[0] / n, sum_iou[0] / n, sum_mae[1] / n, sum_iou[1] / n);
  return 0;
}
