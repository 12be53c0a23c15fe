// `bgerase engine run`: runs the model on raw float32 tensors. A developer and benchmark tool:
// it times compile and runs, and writes the main output for parity checks against peers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <vips/vips8>

#include "cli/commands.h"
#include "engine/session.h"
#include "removal/model_registry.h"

namespace bgerase::cli {
namespace {

struct EngineRunArgs {
  std::string model;
  std::string model_dir;
  std::vector<std::string> inputs;
  std::string out_dir;
  std::string shape = "1,3,1024,1024";
  std::string precision = "auto";
  int threads = 0;
  int repeat = 1;
  int warmup = 0;
};

int Run(const EngineRunArgs& a) {
  auto prec = engine::ParsePrecision(a.precision);
  if (!prec.ok()) {
    std::fprintf(stderr, "error: %s\n", prec.status().ToString().c_str());
    return 2;
  }
  std::string model = a.model;
  if (model.empty()) {
    const auto& spec = removal::DefaultModel();
    const std::string dir = removal::ModelDir(a.model_dir);
    Status st = removal::VerifyModel(dir, spec);
    if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
      return 1;
    }
    model = removal::ModelPath(dir, spec);
  }
  engine::Shape shape;
  std::stringstream ss(a.shape);
  for (std::string d; std::getline(ss, d, ',');) shape.push_back(std::stoll(d));
  engine::SessionOptions opts;
  opts.precision = *prec;
  opts.threads = a.threads;
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  auto session = engine::Session::Load(model, opts);
  if (!session.ok()) {
    std::fprintf(stderr, "error: %s\n", session.status().ToString().c_str());
    return 1;
  }
  auto stats = (*session)->Prepare({shape});
  if (!stats.ok()) {
    std::fprintf(stderr, "error: %s\n", stats.status().ToString().c_str());
    return 1;
  }
  const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::vector<double> times;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    engine::Tensor in(engine::DType::kFloat32, shape);
    std::ifstream f(a.inputs[i], std::ios::binary);
    if (!f.read(static_cast<char*>(in.raw()), static_cast<std::streamsize>(in.bytes()))) {
      std::fprintf(stderr, "error: %s does not hold %zu bytes of float32 %s\n",
                   a.inputs[i].c_str(), in.bytes(), engine::ShapeToString(shape).c_str());
      return 1;
    }
    Result<std::vector<engine::Tensor>> out = std::vector<engine::Tensor>{};
    for (int r = 0; r < a.warmup + a.repeat; ++r) {
      auto t = Clock::now();
      out = (*session)->Run({in});
      if (!out.ok()) {
        std::fprintf(stderr, "error: %s\n", out.status().ToString().c_str());
        return 1;
      }
      if (r >= a.warmup) times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    }
    if (!a.out_dir.empty()) {
      const std::string path = a.out_dir + "/" + std::to_string(i) + ".out.bin";
      std::ofstream o(path, std::ios::binary);
      o.write(static_cast<const char*>((*out)[0].raw()), static_cast<std::streamsize>((*out)[0].bytes()));
    }
  }
  std::sort(times.begin(), times.end());
  const double median = times.empty() ? 0 : times[times.size() / 2];
  std::printf(
      "{\"precision\":\"%s\",\"threads\":%d,\"load_ms\":%.1f,\"median_ms\":%.1f,\"runs\":%zu,"
      "\"arena_bytes\":%zu,\"weight_bytes\":%zu,\"steps\":%d,\"fused_post_ops\":%d,"
      "\"concats_in_place\":%d}\n",
      engine::PrecisionName((*session)->precision()), (*session)->threads(), load_ms, median,
      times.size(), stats->arena_bytes, stats->weight_bytes, stats->steps, stats->fused_post_ops,
      stats->concats_in_place);
  return 0;
}

// Until the imaging pipeline lands (issue 3): photo -> 1024x1024 tensor -> model -> mask PNG at
// the photo's size. Plain libvips resizes; no metadata, no compositing.
int Mask(const std::string& in_path, const std::string& out_path, const std::string& precision) {
  if (VIPS_INIT("bgerase")) return 1;
  auto prec = engine::ParsePrecision(precision);
  const auto& spec = removal::DefaultModel();
  const std::string dir = removal::ModelDir("");
  Status st = prec.ok() ? removal::VerifyModel(dir, spec) : prec.status();
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
    return 1;
  }
  try {
    vips::VImage im = vips::VImage::new_from_file(in_path.c_str()).autorot();
    if (im.has_alpha()) im = im.flatten();
    im = im.colourspace(VIPS_INTERPRETATION_sRGB).cast(VIPS_FORMAT_UCHAR);
    const int w = im.width(), h = im.height();
    vips::VImage small = im.resize(1024.0 / w, vips::VImage::option()->set("vscale", 1024.0 / h));
    size_t n = 0;
    auto* px = static_cast<uint8_t*>(small.write_to_memory(&n));
    engine::Tensor t(engine::DType::kFloat32, {1, 3, 1024, 1024});
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 1024 * 1024; ++i) t.data<float>()[c * 1048576 + i] = px[i * 3 + c] / 255.f - 0.5f;
    g_free(px);
    engine::SessionOptions opts;
    opts.precision = *prec;
    opts.outputs = {spec.output};
    auto session = engine::Session::Load(removal::ModelPath(dir, spec), opts);
    if (!session.ok()) {
      std::fprintf(stderr, "error: %s\n", session.status().ToString().c_str());
      return 1;
    }
    auto out = (*session)->Run({t});
    if (!out.ok()) {
      std::fprintf(stderr, "error: %s\n", out.status().ToString().c_str());
      return 1;
    }
    std::vector<uint8_t> m(1024 * 1024);
    for (size_t i = 0; i < m.size(); ++i) {
      m[i] = static_cast<uint8_t>(std::clamp((*out)[0].data<float>()[i], 0.f, 1.f) * 255.f + 0.5f);
    }
    vips::VImage mask = vips::VImage::new_from_memory(m.data(), m.size(), 1024, 1024, 1, VIPS_FORMAT_UCHAR);
    mask = mask.resize(static_cast<double>(w) / 1024, vips::VImage::option()->set("vscale", static_cast<double>(h) / 1024));
    mask.write_to_file(out_path.c_str());
  } catch (const vips::VError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

void RegisterEngineCommand(CLI::App& app) {
  auto* eng = app.add_subcommand("engine", "Developer tools for the inference engine");
  eng->require_subcommand(1);
  static EngineRunArgs args;
  auto* run = eng->add_subcommand("run", "Run the model on raw float32 NCHW tensors and time it");
  run->add_option("--model", args.model, "ONNX file (default: the installed model)");
  run->add_option("--model-dir", args.model_dir, "Model folder");
  run->add_option("--input", args.inputs, "Raw float32 input file(s)")->required();
  run->add_option("--out-dir", args.out_dir, "Write the main output of input i to DIR/i.out.bin");
  run->add_option("--shape", args.shape, "Input shape, e.g. 1,3,1024,1024");
  run->add_option("--precision", args.precision, "auto | fp32 | bf16");
  run->add_option("--threads", args.threads, "Threads (default: all cores)");
  run->add_option("--repeat", args.repeat, "Timed runs per input");
  run->add_option("--warmup", args.warmup, "Untimed runs before timing");
  run->callback([] { ExitCode() = Run(args); });

  static std::string mask_in, mask_out, mask_precision = "auto";
  auto* mask = eng->add_subcommand("mask", "Run the model on a photo and write its mask (PNG)");
  mask->add_option("IN", mask_in, "Input image")->required();
  mask->add_option("OUT", mask_out, "Output mask image (e.g. mask.png)")->required();
  mask->add_option("--precision", mask_precision, "auto | fp32 | bf16");
  mask->callback([] { ExitCode() = Mask(mask_in, mask_out, mask_precision); });
}

}  // namespace bgerase::cli
