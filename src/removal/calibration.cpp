// See calibration.h. The guard compares int8 with fp32 on the same 1024x1024 model inputs, so
// the figures measure the precision alone (not resizing or refinement).
#include "removal/calibration.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "imaging/imaging.h"

namespace bgerase::removal {
namespace {

using json = nlohmann::json;
constexpr int kModelSize = 1024;

Result<engine::Tensor> PhotoInput(const std::string& name) {
  std::ifstream f(std::string(PhotoDataDir()) + "/" + name, std::ios::binary);
  if (!f) return Status("not_found", std::string("cannot read ") + PhotoDataDir() + "/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  auto im = imaging::Decode(ss.str());
  if (!im.ok()) return im.status();
  return imaging::ModelInput(*im, kModelSize);
}

Result<std::unique_ptr<engine::Session>> Open(const std::string& model_path, engine::Precision p,
                                              int threads,
                                              std::shared_ptr<const engine::Calibration> table) {
  engine::SessionOptions opts;
  opts.precision = p;
  opts.threads = threads;
  opts.outputs = {DefaultModel().output};
  opts.calibration = std::move(table);
  return engine::Session::Load(model_path, opts);
}

Result<engine::Tensor> Mask(engine::Session& s, const engine::Tensor& input) {
  auto out = s.Run({input});
  if (!out.ok()) return out.status();
  return std::move((*out)[0]);
}

// Composite in model space: fg (a photo's input tensor) over bg, with alpha `a`, both
// normalised as (x/255 - 0.5), so c = a*fg + (1-a)*bg holds there too.
engine::Tensor Composite(const engine::Tensor& fg, const engine::Tensor& bg,
                         const engine::Tensor& a) {
  engine::Tensor c(engine::DType::kFloat32, fg.shape());
  const int64_t plane = a.size();
  for (int64_t ch = 0; ch < 3; ++ch) {
    for (int64_t i = 0; i < plane; ++i) {
      const float al = a.data<float>()[i];
      c.data<float>()[ch * plane + i] =
          al * fg.data<float>()[ch * plane + i] + (1 - al) * bg.data<float>()[ch * plane + i];
    }
  }
  return c;
}

}  // namespace

std::string CalibrationPath(const std::string& dir, const ModelSpec& spec) {
  return dir + "/" + spec.file + ".calibration.json";
}

const char* PhotoDataDir() {
  return "/usr/lib/python3/dist-packages/skimage/data";
}

const std::vector<std::string>& CalibrationPhotos() {
  static const std::vector<std::string> k = {"rocket.jpg",           "motorcycle_left.png",
                                             "motorcycle_right.png", "hubble_deep_field.jpg",
                                             "retina.jpg",           "ihc.png",
                                             "camera.png",           "coins.png"};
  return k;
}

const std::vector<std::string>& GuardPhotos() {
  static const std::vector<std::string> k = {"astronaut.png", "chelsea.png", "coffee.png"};
  return k;
}

Result<engine::Calibration> CalibrateModel(const std::string& model_path, int threads,
                                           double percentile, std::FILE* log) {
  auto fp32 = Open(model_path, engine::Precision::kFloat32, threads, nullptr);
  if (!fp32.ok()) return fp32.status();
  std::vector<std::vector<engine::Tensor>> samples;
  for (const auto& name : CalibrationPhotos()) {
    auto in = PhotoInput(name);
    if (!in.ok()) return in.status();
    samples.push_back({std::move(in).value()});
  }
  if (log) std::fprintf(log, "calibrating on %zu photos from %s\n", samples.size(), PhotoDataDir());
  auto table = (*fp32)->Calibrate(samples, percentile);
  if (!table.ok()) return table.status();
  return table;
}

Result<GuardReport> RunQualityGuard(const std::string& model_path,
                                    std::shared_ptr<const engine::Calibration> table, int threads,
                                    std::FILE* log) {
  auto fp32 = Open(model_path, engine::Precision::kFloat32, threads, nullptr);
  if (!fp32.ok()) return fp32.status();
  auto int8 = Open(model_path, engine::Precision::kInt8, threads, table);
  if (!int8.ok()) return int8.status();
  GuardReport rep;
  rep.cpu_class = engine::Int8ClassName();

  // Scores one input and returns fp32's mask of it (a photo's mask is its composite's truth).
  auto score = [&](const std::string& name, const engine::Tensor& input,
                   const engine::Tensor* truth) -> Result<engine::Tensor> {
    auto a = Mask(**fp32, input);
    if (!a.ok()) return a.status();
    auto b = Mask(**int8, input);
    if (!b.ok()) return b.status();
    GuardReport::Image im;
    im.name = name;
    im.has_truth = truth != nullptr;
    double diff = 0, ea = 0, eb = 0;
    int64_t ia = 0, ua = 0, ib = 0, ub = 0;
    const int64_t n = a->size();
    for (int64_t i = 0; i < n; ++i) {
      const float fa = a->data<float>()[i], fb = b->data<float>()[i];
      diff += std::abs(fa - fb);
      if (truth) {
        const float t = truth->data<float>()[i];
        ea += std::abs(fa - t);
        eb += std::abs(fb - t);
        ia += (fa > .5f) && (t > .5f);
        ua += (fa > .5f) || (t > .5f);
        ib += (fb > .5f) && (t > .5f);
        ub += (fb > .5f) || (t > .5f);
      }
    }
    im.mean_diff = diff / static_cast<double>(n);
    if (truth) {
      im.mae_fp32 = ea / static_cast<double>(n);
      im.mae_int8 = eb / static_cast<double>(n);
      im.iou_fp32 = ua ? static_cast<double>(ia) / static_cast<double>(ua) : 1.0;
      im.iou_int8 = ub ? static_cast<double>(ib) / static_cast<double>(ub) : 1.0;
    }
    if (log)
      std::fprintf(log, "guard %-24s mean|int8-fp32| %.4f%s\n", name.c_str(), im.mean_diff,
                   truth ? (" MAE " + std::to_string(im.mae_fp32).substr(0, 6) + " -> " +
                            std::to_string(im.mae_int8).substr(0, 6) + ", IoU " +
                            std::to_string(im.iou_fp32).substr(0, 6) + " -> " +
                            std::to_string(im.iou_int8).substr(0, 6))
                               .c_str()
                         : "");
    rep.images.push_back(im);
    return std::move(a).value();
  };

  const std::vector<std::string> textures = {"brick.png", "grass.png", "gravel.png"};
  std::vector<engine::Tensor> backgrounds;
  for (const auto& t : textures) {
    auto bg = PhotoInput(t);
    if (!bg.ok()) return bg.status();
    backgrounds.push_back(std::move(bg).value());
  }
  for (size_t i = 0; i < GuardPhotos().size(); ++i) {
    const std::string& name = GuardPhotos()[i];
    auto photo = PhotoInput(name);
    if (!photo.ok()) return photo.status();
    // The composite's true alpha is exact by construction: the subject is cut by fp32's mask of
    // the photo and laid over a texture.
    auto alpha = score(name, *photo, nullptr);
    if (!alpha.ok()) return alpha.status();
    const std::string& tex = textures[i % textures.size()];
    const engine::Tensor comp = Composite(*photo, backgrounds[i % backgrounds.size()], *alpha);
    auto scored = score(name + "+" + tex, comp, &*alpha);
    if (!scored.ok()) return scored.status();
  }

  int truths = 0;
  for (const auto& im : rep.images) {
    rep.worst_mean_diff = std::max(rep.worst_mean_diff, im.mean_diff);
    if (!im.has_truth) continue;
    ++truths;
    rep.mae_fp32 += im.mae_fp32;
    rep.mae_int8 += im.mae_int8;
    rep.iou_fp32 += im.iou_fp32;
    rep.iou_int8 += im.iou_int8;
  }
  if (truths) {
    rep.mae_fp32 /= truths;
    rep.mae_int8 /= truths;
    rep.iou_fp32 /= truths;
    rep.iou_int8 /= truths;
  }
  char figures[256];
  std::snprintf(figures, sizeof figures,
                "worst mean|int8-fp32| %.4f (limit %.2f); composites MAE %.5f -> %.5f (limit "
                "+%.0f%%), IoU %.4f -> %.4f (limit -%.3f)",
                rep.worst_mean_diff, kGuardMaxMeanDiff, rep.mae_fp32, rep.mae_int8,
                (kGuardMaxMaeRatio - 1) * 100, rep.iou_fp32, rep.iou_int8, kGuardMaxIouDrop);
  rep.passed = rep.worst_mean_diff <= kGuardMaxMeanDiff &&
               rep.mae_int8 <= rep.mae_fp32 * kGuardMaxMaeRatio &&
               rep.iou_int8 >= rep.iou_fp32 - kGuardMaxIouDrop;
  rep.why = std::string(rep.passed ? "passed: " : "failed: ") + figures;
  return rep;
}

Result<ModelCalibration> LoadCalibration(const std::string& dir, const ModelSpec& spec) {
  const std::string path = CalibrationPath(dir, spec);
  std::ifstream f(path);
  if (!f)
    return Status("not_calibrated", "the model has no int8 calibration (" + path +
                                        "); run `bgerase models calibrate`");
  ModelCalibration c;
  try {
    const json j = json::parse(f);
    c.model_sha256 = j.at("model_sha256").get<std::string>();
    for (const auto& [value, r] : j.at("ranges").items())
      c.table.ranges[value] = {r.at(0).get<float>(), r.at(1).get<float>()};
    for (const auto& n : j.at("float_nodes")) c.table.float_nodes.insert(n.get<std::string>());
    for (const auto& [cls, g] : j.at("guards").items()) {
      GuardReport r;
      r.cpu_class = cls;
      r.passed = g.at("passed").get<bool>();
      r.why = g.at("why").get<std::string>();
      r.worst_mean_diff = g.at("worst_mean_diff").get<double>();
      r.mae_fp32 = g.at("mae_fp32").get<double>();
      r.mae_int8 = g.at("mae_int8").get<double>();
      r.iou_fp32 = g.at("iou_fp32").get<double>();
      r.iou_int8 = g.at("iou_int8").get<double>();
      c.guards[cls] = r;
    }
  } catch (const json::exception& e) {
    return Status("not_calibrated",
                  path + " is unreadable (" + e.what() + "); run `bgerase models calibrate`");
  }
  if (c.model_sha256 != spec.sha256)
    return Status("not_calibrated",
                  path + " was made for another model file; run `bgerase models calibrate`");
  return c;
}

Result<PrecisionChoice> ChoosePrecision(const std::string& dir, const ModelSpec& spec,
                                        engine::Precision requested) {
  PrecisionChoice choice;
  auto calib = LoadCalibration(dir, spec);
  const std::string cls = engine::Int8ClassName();
  const GuardReport* guard = nullptr;
  if (calib.ok()) {
    choice.calibration = std::make_shared<const engine::Calibration>(calib->table);
    auto it = calib->guards.find(cls);
    if (it != calib->guards.end()) guard = &it->second;
  }
  choice.precision = engine::ResolvePrecision(requested, guard && guard->passed);
  if (choice.precision == engine::Precision::kInt8 && !calib.ok()) return calib.status();
  const std::string int8_state =
      !calib.ok() ? "int8 not calibrated (bgerase models calibrate)"
      : !guard    ? "int8 not yet guarded on " + cls + " (bgerase models calibrate)"
                  : "int8 guard on " + cls + " " + guard->why;
  if (requested != engine::Precision::kAuto) {
    choice.why = "asked for; " + int8_state;
  } else if (choice.precision == engine::Precision::kInt8) {
    choice.why = "fastest that passed the quality guard: " + int8_state;
  } else {
    choice.why = std::string(engine::DetectCpu().native_bf16 ? "native bf16" : "no native bf16") +
                 "; " + int8_state;
  }
  return choice;
}

Status SaveCalibration(const std::string& dir, const ModelSpec& spec, const ModelCalibration& c) {
  json j;
  j["model_sha256"] = c.model_sha256;
  j["ranges"] = json::object();
  for (const auto& [value, r] : c.table.ranges) j["ranges"][value] = {r.min, r.max};
  j["float_nodes"] = json::array();
  for (const auto& n : c.table.float_nodes) j["float_nodes"].push_back(n);
  j["guards"] = json::object();
  for (const auto& [cls, g] : c.guards) {
    j["guards"][cls] = {
        {"passed", g.passed},     {"why", g.why},           {"worst_mean_diff", g.worst_mean_diff},
        {"mae_fp32", g.mae_fp32}, {"mae_int8", g.mae_int8}, {"iou_fp32", g.iou_fp32},
        {"iou_int8", g.iou_int8}};
  }
  const std::string path = CalibrationPath(dir, spec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << j.dump(1) << "\n";
    if (!f) return Status("io_error", "cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status("io_error", "cannot write " + path + ": " + ec.message());
  return Status();
}

}  // namespace bgerase::removal
