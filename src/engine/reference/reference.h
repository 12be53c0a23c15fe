// Reference kernels: one plain, obviously-correct C++ implementation per supported ONNX op
// (ncnn style, one file each). They evaluate constant subgraphs during folding and are the
// oracle the oneDNN plan is tested against. Float ops compute in float32 on NCHW tensors.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"
#include "engine/op_params.h"

namespace bgerase::engine::ref {

// Evaluates `node` (including its fused post-ops) on concrete inputs with the op table's
// reference kernel (engine/op_table.h); inputs[i] is null for an omitted optional input, and
// fused operands follow the node's own inputs in order. Errors name the node: a missing required
// input is "invalid_model", an op not in the table "unsupported_op".
Result<std::vector<Tensor>> Evaluate(const Node& node, const std::vector<const Tensor*>& inputs);

// The op table's entry points, one per op beside its kernel: each reads the node's attributes
// and inputs and calls the kernel below. `in[i]` is null for an omitted optional input; Evaluate
// has checked that the op's required inputs are there.
using Inputs = std::vector<const Tensor*>;
Result<Tensor> EvaluateConstant(const Node& n, const Inputs& in);
Result<Tensor> EvaluateIdentity(const Node& n, const Inputs& in);
Result<Tensor> EvaluateCast(const Node& n, const Inputs& in);
Result<Tensor> EvaluateShape(const Node& n, const Inputs& in);
Result<Tensor> EvaluateRelu(const Node& n, const Inputs& in);
Result<Tensor> EvaluateSigmoid(const Node& n, const Inputs& in);
Result<Tensor> EvaluateBinary(const Node& n, const Inputs& in);  // Add and Mul
Result<Tensor> EvaluateConcat(const Node& n, const Inputs& in);
Result<Tensor> EvaluateGather(const Node& n, const Inputs& in);
Result<Tensor> EvaluateUnsqueeze(const Node& n, const Inputs& in);
Result<Tensor> EvaluateSlice(const Node& n, const Inputs& in);
Result<Tensor> EvaluateConv(const Node& n, const Inputs& in);
Result<Tensor> EvaluateMaxPool(const Node& n, const Inputs& in);
Result<Tensor> EvaluateResize(const Node& n, const Inputs& in);

// "invalid_model": required input `i` of `n` is missing.
Status MissingInput(const Node& n, size_t i);

Tensor Conv(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvParams& p);
Tensor MaxPool(const Tensor& x, const PoolParams& p);
Tensor Resize(const Tensor& x, const ResizeParams& p);
Result<Tensor> Concat(const std::vector<const Tensor*>& xs, int64_t axis, const Node& n);
Result<Tensor> Binary(const std::string& op, const Tensor& a, const Tensor& b, const Node& n);
Tensor Relu(const Tensor& x);
Tensor Sigmoid(const Tensor& x);
Tensor ShapeOf(const Tensor& x);
Result<Tensor> Slice(const Tensor& x, const std::vector<int64_t>& starts,
                     const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                     const std::vector<int64_t>& steps, const Node& n);
Result<Tensor> Gather(const Tensor& x, const Tensor& indices, int64_t axis, const Node& n);
Result<Tensor> Unsqueeze(const Tensor& x, const std::vector<int64_t>& axes, const Node& n);

}  // namespace bgerase::engine::ref

namespace bgerase::engine::ref {
// Evaluates the whole graph with reference kernels (no passes); outputs as float32.
Result<std::vector<Tensor>> RunGraph(Graph g, const std::vector<Tensor>& inputs);
}  // namespace bgerase::engine::ref
