// Session: a loaded model, ready to run on oneDNN. The public face of the engine: it knows
// nothing about images, only float32 NCHW tensors in and out.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"

namespace bgerase::engine {

enum class Precision { kAuto, kFloat32, kBFloat16 };
const char* PrecisionName(Precision p);
// "auto" | "fp32" | "bf16" (also "float32", "bfloat16"); error code "invalid_precision".
Result<Precision> ParsePrecision(const std::string& s);

struct CpuInfo {
  std::string isa;           // oneDNN's effective ISA, e.g. "avx512_core_bf16"
  bool native_bf16 = false;  // the CPU computes bf16 dot products natively (AVX512-BF16, AMX)
  int cores = 1;
};
// Checked at run time, never assumed at build time.
CpuInfo DetectCpu();
// kAuto becomes bf16 where the CPU has native bf16 and fp32 elsewhere. An explicit bf16 needs
// at least AVX-512 (oneDNN emulates bf16 there, slower than native); see Bf16Available.
Precision ResolvePrecision(Precision requested);
// True when oneDNN can run bf16 convolutions on this CPU (natively or emulated on AVX-512).
bool Bf16Available();

struct SessionOptions {
  Precision precision = Precision::kAuto;
  int threads = 0;                   // 0: one per core
  std::vector<std::string> outputs;  // outputs to compute; empty: the model's first output
  // Treat the declared spatial dimensions (axes 2 and up) of every input as free, so a model
  // exported at one size (ISNet: 1024x1024) runs at any H x W its graph computes. Batch and
  // channel dimensions are still checked.
  bool free_spatial_dims = false;
};

struct PlanStats {
  size_t arena_bytes = 0;    // activations, shared by all steps through liveness planning
  size_t weight_bytes = 0;   // weights in the layout and precision the convolutions use
  size_t scratchpad_bytes = 0;  // one scratchpad the primitives share (im2col and the like)
  int steps = 0;             // primitives and kernels executed per run
  int fused_post_ops = 0;    // relu/sigmoid/add folded into convolutions
  int concats_in_place = 0;  // concat inputs written straight into their slice
};

class Plan;

class Session {
 public:
  // Loads and checks an ONNX model. Errors: "model_missing", "invalid_model",
  // "unsupported_op" (naming the node), "unsupported_precision" (bf16 asked for on a CPU
  // without AVX-512).
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

  const std::vector<std::string>& input_names() const { return graph_.inputs; }
  const std::vector<std::string>& output_names() const { return graph_.outputs; }
  Precision precision() const { return precision_; }
  int threads() const { return threads_; }

 private:
  Session(Graph g, Precision p, int threads);
  Result<Plan*> PlanFor(const std::vector<Shape>& shapes);

  Graph graph_;  // after output selection and fp16 promotion, before specialisation
  Precision precision_;
  int threads_;
  std::mutex mu_;
  std::map<std::vector<Shape>, std::unique_ptr<Plan>> plans_;
};

}  // namespace bgerase::engine
