// Session: loading, plan caching per input shape, precision choice and CPU detection.
#include "engine/session.h"

#include "common/text.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dnnl.hpp>

#include "engine/onnx_loader.h"
#include "engine/op_table.h"
#include "engine/passes.h"
#include "engine/plan.h"

namespace bgerase::engine {

const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kAuto:
      return "auto";
    case Precision::kFloat32:
      return "fp32";
    case Precision::kBFloat16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
  }
  return "?";
}

Result<Precision> ParsePrecision(const std::string& s) {
  const std::string l = Lower(s);
  if (l == "auto") return Precision::kAuto;
  if (l == "fp32" || l == "float32" || l == "f32") return Precision::kFloat32;
  if (l == "bf16" || l == "bfloat16") return Precision::kBFloat16;
  if (l == "int8" || l == "i8") return Precision::kInt8;
  return Status("invalid_precision", "precision must be auto, fp32, bf16 or int8, not '" + s + "'");
}

CpuInfo DetectCpu() {
  CpuInfo info;
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      info.isa = "sse41";
      break;
    case dnnl::cpu_isa::avx:
      info.isa = "avx";
      break;
    case dnnl::cpu_isa::avx2:
      info.isa = "avx2";
      break;
    case dnnl::cpu_isa::avx2_vnni:
      info.isa = "avx2_vnni";
      info.vnni = true;
      break;
    case dnnl::cpu_isa::avx512_mic:
      info.isa = "avx512_mic";
      break;
    case dnnl::cpu_isa::avx512_mic_4ops:
      info.isa = "avx512_mic_4ops";
      break;
    case dnnl::cpu_isa::avx512_core:
      info.isa = "avx512_core";
      break;
    case dnnl::cpu_isa::avx512_core_vnni:
      info.isa = "avx512_core_vnni";
      info.vnni = true;
      break;
    case dnnl::cpu_isa::avx512_core_bf16:
      info.isa = "avx512_core_bf16";
      info.native_bf16 = true;
      info.vnni = true;
      break;
    case dnnl::cpu_isa::avx512_core_amx:
      info.isa = "avx512_core_amx";
      info.native_bf16 = true;
      info.vnni = true;
      break;
    default:
      info.isa = "generic";
      break;
  }
  info.cores = std::max(1, omp_get_num_procs());
  return info;
}

Precision ResolvePrecision(Precision requested, bool int8_passed_guard) {
  if (requested != Precision::kAuto) return requested;
  if (int8_passed_guard) return Precision::kInt8;
  return DetectCpu().native_bf16 ? Precision::kBFloat16 : Precision::kFloat32;
}

int Int8WeightLevels() {
  return DetectCpu().vnni ? 127 : 63;
}

std::string Int8ClassName() {
  return "int8-w" + std::to_string(Int8WeightLevels());
}

bool Bf16Available() {
  return DetectCpu().isa.rfind("avx512_core", 0) == 0;
}

Session::Session(Graph g, Precision p, int threads, std::shared_ptr<const Calibration> calibration)
    : graph_(std::move(g)), precision_(p), threads_(threads), calibration_(std::move(calibration)) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::Load(const std::string& onnx_path,
                                               const SessionOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  auto g = LoadOnnxFile(onnx_path);
  if (!g.ok()) return g.status();
  if (std::getenv("BGERASE_PROFILE")) {
    std::fprintf(stderr, "load: onnx %.0f ms\n",
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
  }
  return FromGraph(std::move(g).value(), options);
}

Result<std::unique_ptr<Session>> Session::FromGraph(Graph graph, const SessionOptions& options) {
  BGERASE_RETURN_IF_ERROR(TopologicalSort(graph));
  BGERASE_RETURN_IF_ERROR(SelectOutputs(graph, options.outputs));
  for (const auto& n : graph.nodes) {
    if (!FindOp(n.op)) return UnknownOp(n);
  }
  if (options.free_spatial_dims) {
    for (const auto& in : graph.inputs) {
      Shape& s = graph.declared[in].shape;
      for (size_t i = 2; i < s.size(); ++i) s[i] = -1;
    }
  }
  const Precision precision = ResolvePrecision(options.precision);
  if (precision == Precision::kBFloat16 && !Bf16Available()) {
    return Status("unsupported_precision", "bf16 needs a CPU with AVX-512 (this one reports " +
                                               DetectCpu().isa + "); use fp32 or auto");
  }
  if (precision == Precision::kInt8 && !options.calibration) {
    return Status("not_calibrated",
                  "int8 needs the model's calibration (bgerase models calibrate); use fp32 or auto");
  }
  const int threads = options.threads > 0 ? options.threads : DetectCpu().cores;
  return std::unique_ptr<Session>(
      new Session(std::move(graph), precision, threads, options.calibration));
}

Result<std::pair<Graph, TypeMap>> Session::Specialised(const std::vector<Shape>& shapes) const {
  if (shapes.size() != graph_.inputs.size()) {
    return Status("shape_mismatch", "the model takes " + std::to_string(graph_.inputs.size()) +
                                        " inputs, got " + std::to_string(shapes.size()));
  }
  // Specialise a copy: the session keeps the model as loaded (fp16 weights stay half size). The
  // copy shares the weights' bytes (copy on write), and the convs' stay fp16 for the plan to
  // widen one at a time.
  Graph g = graph_;
  PromoteFloat16(g, /*keep_conv_weights=*/true);
  std::map<std::string, Shape> bind;
  for (size_t i = 0; i < shapes.size(); ++i) bind[g.inputs[i]] = shapes[i];
  auto types = Specialize(g, bind);
  if (!types.ok()) return types.status();
  RemoveNoOpCasts(g, *types);
  FuseConvPostOps(g, *types);
  BGERASE_RETURN_IF_ERROR(TopologicalSort(g));
  return std::make_pair(std::move(g), std::move(types).value());
}

Result<Plan*> Session::PlanFor(const std::vector<Shape>& shapes) {
  auto it = plans_.find(shapes);
  if (it != plans_.end()) return it->second.get();
  const auto t0 = std::chrono::steady_clock::now();
  auto spec = Specialised(shapes);
  if (!spec.ok()) return spec.status();
  const auto t1 = std::chrono::steady_clock::now();
  omp_set_num_threads(threads_);
  Plan::Options po;
  po.precision = precision_;
  po.calibration = calibration_.get();
  auto plan = Plan::Compile(spec->first, spec->second, po);
  if (!plan.ok()) return plan.status();
  if (std::getenv("BGERASE_PROFILE")) {  // where a cold start goes
    using ms = std::chrono::duration<double, std::milli>;
    std::fprintf(stderr, "plan: passes %.0f ms, compile %.0f ms\n", ms(t1 - t0).count(),
                 ms(std::chrono::steady_clock::now() - t1).count());
  }
  Plan* raw = plan->get();
  plans_[shapes] = std::move(plan).value();
  return raw;
}

Result<PlanStats> Session::Prepare(const std::vector<Shape>& input_shapes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto plan = PlanFor(input_shapes);
  if (!plan.ok()) return plan.status();
  return (*plan)->stats();
}

Result<Calibration> Session::Calibrate(const std::vector<std::vector<Tensor>>& samples,
                                       double percentile) {
  std::lock_guard<std::mutex> lock(mu_);
  Calibration c;
  if (samples.empty()) return c;
  std::vector<Shape> shapes;
  for (const auto& t : samples.front()) shapes.push_back(t.shape());
  auto spec = Specialised(shapes);
  if (!spec.ok()) return spec.status();
  omp_set_num_threads(threads_);
  Plan::Options po;
  po.observe = true;  // fp32, recording each convolution input's range
  auto plan = Plan::Compile(spec->first, spec->second, po);
  if (!plan.ok()) return plan.status();
  for (const auto& inputs : samples) {
    auto out = (*plan)->Execute(inputs);  // checks each sample's shapes against the plan's
    if (!out.ok()) return out.status();
  }
  c.ranges = (*plan)->observed(percentile);
  return c;
}

Result<std::vector<Tensor>> Session::Run(const std::vector<Tensor>& inputs) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Shape> shapes;
  for (const auto& t : inputs) {
    if (t.dtype() != DType::kFloat32) return Status("shape_mismatch", "inputs must be float32");
    shapes.push_back(t.shape());
  }
  auto plan = PlanFor(shapes);
  if (!plan.ok()) return plan.status();
  omp_set_num_threads(threads_);
  return (*plan)->Execute(inputs);
}

}  // namespace bgerase::engine
