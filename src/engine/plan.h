// Plan: a graph specialised to one set of input shapes and compiled to oneDNN primitives and
// our own kernels over one activation arena. Internal to the engine; Session owns plans.
#pragma once

#include <memory>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"
#include "engine/passes.h"
#include "engine/session.h"

namespace bgerase::engine {

class Plan {
 public:
  struct Options {
    Precision precision = Precision::kFloat32;  // kFloat32, kBFloat16 or kInt8
    // kInt8: convolutions whose input has a range here (all >= 0) and which are not listed in
    // float_nodes run u8s8, the others in fp32; 4-D activations are nhwc throughout.
    const Calibration* calibration = nullptr;
    // Record the range of every convolution input during Execute (see observed()).
    bool observe = false;
  };
  // `g` must be specialised, cast-free, fused and topologically sorted; `types` from Specialize.
  static Result<std::unique_ptr<Plan>> Compile(const Graph& g, const TypeMap& types,
                                               const Options& options);
  ~Plan();

  // Inputs in graph-input order (float32 NCHW, the shapes compiled for); outputs float32 NCHW.
  Result<std::vector<Tensor>> Execute(const std::vector<Tensor>& inputs);
  const PlanStats& stats() const { return stats_; }
  // With Options::observe: each convolution input's range over every Execute so far. For a
  // value that never went negative, `max` is its `percentile` (by count of elements), at 1/8
  // octave resolution; 1.0 gives the true maximum.
  std::map<std::string, ValueRange> observed(double percentile = 1.0) const;

  struct Impl;

 private:
  explicit Plan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  PlanStats stats_;
};

}  // namespace bgerase::engine
