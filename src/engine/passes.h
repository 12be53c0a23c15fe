// Graph passes, applied in this order by Session when it compiles a plan for one input shape:
// SelectOutputs, TopologicalSort, PromoteFloat16, Specialize (shape inference + constant
// folding), RemoveNoOpCasts, FuseConvPostOps, TopologicalSort. Each is unit-tested alone.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"

namespace bgerase::engine {

using TypeMap = std::map<std::string, ValueType>;

// Orders nodes so that every value (including fused operands) is produced before it is read.
// Errors on cycles and on values nobody produces.
Status TopologicalSort(Graph& g);

// Keeps only `outputs` (which must exist) as graph outputs and drops every node they do not
// need. An empty list keeps the graph's first output. `g` must be topologically sorted.
Status SelectOutputs(Graph& g, const std::vector<std::string>& outputs);

// Widens float16 initializers, Constant values, Cast targets and declared types to float32: the
// engine computes in float32 or bfloat16, never fp16, so the model's casts become no-ops.
// `keep_conv_weights`: weights and biases read only by Convs stay fp16 (their declared type
// becomes float32 all the same); the plan widens each one while it prepares that conv, instead
// of all of them being held widened at once (176 MB for the model, a cold start's page faults).
void PromoteFloat16(Graph& g, bool keep_conv_weights = false);

// Binds each graph input to a concrete shape, infers the dtype and shape of every value, and
// folds everything that no longer depends on the input (Shape of known shapes, Slice/Concat/
// Gather/Cast/Unsqueeze arithmetic, Constant nodes) into initializers. Errors name the node: a
// shape mismatch with the declared input, an unsupported op, a non-constant resize size.
Result<TypeMap> Specialize(Graph& g, const std::map<std::string, Shape>& input_shapes);

// Removes Identity nodes and Casts whose target equals their input's dtype.
void RemoveNoOpCasts(Graph& g, TypeMap& types);

// Fuses a Conv's single-consumer Relu/Sigmoid and residual Add (same shape, the other addend
// computed elsewhere) into the Conv as post-ops, in order. Requires a later TopologicalSort.
void FuseConvPostOps(Graph& g, const TypeMap& types);

}  // namespace bgerase::engine
