// Session: a loaded model, ready to run on oneDNN. The public face of the engine: it knows
// nothing about images, only float32 NCHW tensors in and out.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"
#include "engine/passes.h"

namespace bgerase::engine {

enum class Precision { kAuto, kFloat32, kBFloat16, kInt8 };
const char* PrecisionName(Precision p);
// "auto" | "fp32" | "bf16" | "int8" (also "float32", "bfloat16", "i8"); error code
// "invalid_precision".
Result<Precision> ParsePrecision(const std::string& s);

struct CpuInfo {
  std::string isa;           // oneDNN's effective ISA, e.g. "avx512_core_bf16"
  bool native_bf16 = false;  // the CPU computes bf16 dot products natively (AVX512-BF16, AMX)
  bool vnni = false;         // u8*s8 dot products accumulate in 32 bits (AVX512-VNNI, AVX-VNNI)
  int cores = 1;
};
// Checked at run time, never assumed at build time.
CpuInfo DetectCpu();
// kAuto becomes int8 where `int8_passed_guard` (the model is calibrated and int8 met the quality
// guard on this CPU class), else bf16 where the CPU has native bf16, else fp32. Explicit
// precisions are returned as they are; see Bf16Available for the CPUs that run bf16.
Precision ResolvePrecision(Precision requested, bool int8_passed_guard = false);
// True when oneDNN can run bf16 convolutions on this CPU (natively or emulated on AVX-512).
bool Bf16Available();

// int8 weights use this many levels each side of zero: 127 where the CPU has VNNI, 63 elsewhere
// (without VNNI a pair of u8*s8 products is summed in 16 bits and would saturate at 127).
int Int8WeightLevels();
// Names the int8 configuration a quality guard result holds for: "int8-w127" or "int8-w63".
std::string Int8ClassName();

// What int8 needs besides the weights: the range each convolution input takes on calibration
// photographs, and the convolutions kept in float (they lose too much in int8).
struct ValueRange {
  float min = 0, max = 0;
};
struct Calibration {
  std::map<std::string, ValueRange> ranges;  // by value name (a convolution's input)
  std::set<std::string> float_nodes;  // node names, or prefixes ending in '/' (a whole stage)
};

struct SessionOptions {
  Precision precision = Precision::kAuto;
  int threads = 0;                   // 0: one per core
  std::vector<std::string> outputs;  // outputs to compute; empty: the model's first output
  // Needed for kInt8 (see Session::Calibrate); shared, read-only.
  std::shared_ptr<const Calibration> calibration;
  // Treat the declared spatial dimensions (axes 2 and up) of every input as free, so a model
  // exported at one size (ISNet: 1024x1024) runs at any H x W its graph computes. Batch and
  // channel dimensions are still checked.
  bool free_spatial_dims = false;
};

struct PlanStats {
  size_t arena_bytes = 0;       // activations, shared by all steps through liveness planning
  size_t weight_bytes = 0;      // weights in the layout and precision the convolutions use
  size_t scratchpad_bytes = 0;  // one scratchpad the primitives share (im2col and the like)
  int steps = 0;                // primitives and kernels executed per run
  int fused_post_ops = 0;       // relu/sigmoid/add folded into convolutions
  int concats_in_place = 0;     // concat inputs written straight into their slice
  int int8_convs = 0;           // convolutions run in u8s8 (int8 precision)
  int float_convs = 0;          // convolutions run in float (fp32, bf16, or kept so in int8)
  int u8_activations = 0;       // values an int8 plan keeps u8 between its convolutions
};

class Plan;

class Session {
 public:
  // Loads and checks an ONNX model. Errors: "model_missing", "invalid_model",
  // "unsupported_op" (naming the node), "unsupported_precision" (bf16 asked for on a CPU
  // without AVX-512), "not_calibrated" (int8 without options.calibration).
  static Result<std::unique_ptr<Session>> Load(const std::string& onnx_path,
                                               const SessionOptions& options);
  static Result<std::unique_ptr<Session>> FromGraph(Graph graph, const SessionOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs the model. `inputs` follow input_names() and are float32 NCHW; the result follows
  // output_names(), float32 NCHW. A plan is compiled the first time a set of input shapes is
  // seen and cached. Calls are serialised, so a Session may be shared between threads; use one
  // Session per worker for parallel runs.
  Result<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs);

  // Compiles (or finds) the plan for these input shapes without running it.
  Result<PlanStats> Prepare(const std::vector<Shape>& input_shapes);

  // Runs the model in fp32 on each sample (one input set each) and returns the range of every
  // convolution input over all of them: what int8's static activation scales come from. Leaves
  // the session's own plans alone. Errors as Run.
  // `percentile` clips each non-negative range there (see Plan::observed): rare outliers would
  // otherwise spend most of the 8 bits.
  Result<Calibration> Calibrate(const std::vector<std::vector<Tensor>>& samples,
                                double percentile = 1.0);

  const std::vector<std::string>& input_names() const { return graph_.inputs; }
  const std::vector<std::string>& output_names() const { return graph_.outputs; }
  Precision precision() const { return precision_; }
  int threads() const { return threads_; }

 private:
  Session(Graph g, Precision p, int threads, std::shared_ptr<const Calibration> calibration);
  // The graph specialised to `shapes`, with every pass applied: what a plan compiles.
  Result<std::pair<Graph, TypeMap>> Specialised(const std::vector<Shape>& shapes) const;
  Result<Plan*> PlanFor(const std::vector<Shape>& shapes);

  Graph graph_;  // after output selection and fp16 promotion, before specialisation
  Precision precision_;
  int threads_;
  std::shared_ptr<const Calibration> calibration_;
  std::mutex mu_;
  std::map<std::vector<Shape>, std::unique_ptr<Plan>> plans_;
};

}  // namespace bgerase::engine
