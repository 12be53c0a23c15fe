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
  // `g` must be specialised, cast-free, fused and topologically sorted; `types` from Specialize.
  // `precision` is kFloat32 or kBFloat16.
  static Result<std::unique_ptr<Plan>> Compile(const Graph& g, const TypeMap& types,
                                               Precision precision);
  ~Plan();

  // Inputs in graph-input order (float32 NCHW, the shapes compiled for); outputs float32 NCHW.
  Result<std::vector<Tensor>> Execute(const std::vector<Tensor>& inputs);
  const PlanStats& stats() const { return stats_; }

  struct Impl;

 private:
  explicit Plan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  PlanStats stats_;
};

}  // namespace bgerase::engine
