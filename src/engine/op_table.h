// The op table: every ONNX operator the engine knows, with its reference kernel and its oneDNN
// lowering. It is the one list of ops: folding, the reference evaluator and the plan all read it.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"

namespace bgerase::engine {

namespace onednn {
struct Lowering;
}

struct OpDef {
  const char* name;  // the ONNX op type
  // Inputs that must be present before `reference` runs (a missing one is "invalid_model").
  size_t required_inputs;
  // The plain C++ kernel (reference/<op>.cpp): folds constants and is the plan's test oracle.
  // `in[i]` is null for an omitted optional input.
  Result<Tensor> (*reference)(const Node& n, const std::vector<const Tensor*>& in);
  // Adds the node's steps to a plan (onednn/<op>.cpp). Null for fold-only ops: Specialize folds
  // them (or RemoveNoOpCasts drops them) before a plan is compiled.
  Status (*lower)(onednn::Lowering& L, const Node& n);
};

// The row for `op`; nullptr when the engine does not know it.
const OpDef* FindOp(const std::string& op);

// "unsupported_op" naming `n`: its op is not in the table.
Status UnknownOp(const Node& n);

}  // namespace bgerase::engine
