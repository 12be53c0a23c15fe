// `bgerase info`: CPU features, the precision auto picks, the model and library versions.
#include <google/protobuf/stubs/common.h>

#include <cstdio>
#include <dnnl.hpp>
#include <vips/vips8>

#include "cli/commands.h"
#include "common/version.h"
#include "engine/session.h"
#include "removal/calibration.h"
#include "removal/model_registry.h"

namespace bgerase::cli {

void RegisterInfoCommand(CLI::App& app) {
  auto* info =
      app.add_subcommand("info", "Show CPU features, chosen precision, model and versions");
  static std::string model_dir;
  info->add_option("--model-dir", model_dir, "Model folder");
  info->callback([] {
    const engine::CpuInfo cpu = engine::DetectCpu();
    const auto& spec = removal::DefaultModel();
    const std::string dir = removal::ModelDir(model_dir);
    const Status st = removal::VerifyModel(dir, spec);
    const dnnl_version_t* v = dnnl_version();
    std::printf("bgerase %s\n", kVersion);
    std::printf("cpu:        %s isa, %d cores, native bf16: %s, vnni: %s\n", cpu.isa.c_str(),
                cpu.cores, cpu.native_bf16 ? "yes" : "no", cpu.vnni ? "yes" : "no");
    std::printf("precisions: fp32 yes, bf16 %s, int8 yes (%d-level weights)\n",
                engine::Bf16Available() ? (cpu.native_bf16 ? "yes (native)" : "yes (emulated)")
                                        : "no (needs AVX-512)",
                engine::Int8WeightLevels());
    auto choice = removal::ChoosePrecision(dir, spec, engine::Precision::kAuto);
    if (choice.ok()) {
      std::printf("precision:  auto -> %s (%s)\n", engine::PrecisionName(choice->precision),
                  choice->why.c_str());
    }
    std::printf("model:      %s at %s (%s)\n", spec.id.c_str(),
                removal::ModelPath(dir, spec).c_str(),
                st.ok() ? "sha256 verified" : st.message().c_str());
    std::printf("oneDNN:     %d.%d.%d (%s runtime)\n", v->major, v->minor, v->patch,
                v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
    std::printf("libvips:    %s\n", vips_version_string());
    std::printf("protobuf:   %s\n",
                google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION).c_str());
  });
}

}  // namespace bgerase::cli
