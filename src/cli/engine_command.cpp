// `bgerase engine run`: runs the model on raw float32 tensors. A developer and benchmark tool:
// it times compile and runs, and writes the main output for parity checks against peers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "engine/session.h"
#include "removal/calibration.h"
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
  engine::SessionOptions opts;
  opts.precision = *prec;
  opts.threads = a.threads;
  if (model.empty()) {
    const auto& spec = removal::DefaultModel();
    const std::string dir = removal::ModelDir(a.model_dir);
    Status st = removal::VerifyModel(dir, spec);
    auto choice = removal::ChoosePrecision(dir, spec, *prec);
    if (st.ok() && !choice.ok()) st = choice.status();
    if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
      return 1;
    }
    model = removal::ModelPath(dir, spec);
    opts.precision = choice->precision;
    opts.calibration = choice->calibration;
  }
  engine::Shape shape;
  std::stringstream ss(a.shape);
  for (std::string d; std::getline(ss, d, ',');) shape.push_back(std::stoll(d));
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
      std::fprintf(stderr, "error: %s does not hold %zu bytes of float32 %s\n", a.inputs[i].c_str(),
                   in.bytes(), engine::ShapeToString(shape).c_str());
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
      if (r >= a.warmup)
        times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    }
    if (!a.out_dir.empty()) {
      const std::string path = a.out_dir + "/" + std::to_string(i) + ".out.bin";
      std::ofstream o(path, std::ios::binary);
      o.write(static_cast<const char*>((*out)[0].raw()),
              static_cast<std::streamsize>((*out)[0].bytes()));
    }
  }
  std::sort(times.begin(), times.end());
  const double median = times.empty() ? 0 : times[times.size() / 2];
  std::printf(
      "{\"precision\":\"%s\",\"threads\":%d,\"load_ms\":%.1f,\"median_ms\":%.1f,\"runs\":%zu,"
      "\"arena_bytes\":%zu,\"weight_bytes\":%zu,\"steps\":%d,\"fused_post_ops\":%d,"
      "\"concats_in_place\":%d,\"int8_convs\":%d,\"float_convs\":%d,\"u8_activations\":%d}\n",
      engine::PrecisionName((*session)->precision()), (*session)->threads(), load_ms, median,
      times.size(), stats->arena_bytes, stats->weight_bytes, stats->steps, stats->fused_post_ops,
      stats->concats_in_place, stats->int8_convs, stats->float_convs, stats->u8_activations);
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
  run->add_option("--precision", args.precision, "auto | fp32 | bf16 | int8");
  run->add_option("--threads", args.threads, "Threads (default: all cores)");
  run->add_option("--repeat", args.repeat, "Timed runs per input");
  run->add_option("--warmup", args.warmup, "Untimed runs before timing");
  run->callback([] { ExitCode() = Run(args); });
}

}  // namespace bgerase::cli
