// See op_table.h. Adding an op: a reference kernel in reference/, a lowering in onednn/ (or
// none, when it only ever folds), one row here, and a case in tests/engine/ops_test.cpp.
#include "engine/op_table.h"

#include "engine/onednn/lowering.h"
#include "engine/reference/reference.h"

namespace bgerase::engine {
namespace {

constexpr OpDef kOps[] = {
    // name, required inputs, reference kernel, oneDNN lowering (nullptr: fold-only)
    {"Conv", 2, ref::EvaluateConv, onednn::LowerConv},
    {"MaxPool", 1, ref::EvaluateMaxPool, onednn::LowerMaxPool},
    {"Resize", 1, ref::EvaluateResize, onednn::LowerResize},
    {"Concat", 1, ref::EvaluateConcat, onednn::LowerConcat},
    {"Add", 2, ref::EvaluateBinary, onednn::LowerBinary},
    {"Mul", 2, ref::EvaluateBinary, onednn::LowerBinary},
    {"Relu", 1, ref::EvaluateRelu, onednn::LowerEltwise},
    {"Sigmoid", 1, ref::EvaluateSigmoid, onednn::LowerEltwise},
    {"Identity", 1, ref::EvaluateIdentity, onednn::LowerIdentity},
    {"Constant", 0, ref::EvaluateConstant, nullptr},
    {"Cast", 1, ref::EvaluateCast, nullptr},
    {"Shape", 1, ref::EvaluateShape, nullptr},
    {"Slice", 1, ref::EvaluateSlice, nullptr},
    {"Gather", 2, ref::EvaluateGather, nullptr},
    {"Unsqueeze", 1, ref::EvaluateUnsqueeze, nullptr},
};

}  // namespace

const OpDef* FindOp(const std::string& op) {
  for (const OpDef& d : kOps) {
    if (op == d.name) return &d;
  }
  return nullptr;
}

Status UnknownOp(const Node& n) {
  return Status("unsupported_op", n.Describe() + ": operator '" + n.op + "' is not supported");
}

}  // namespace bgerase::engine
