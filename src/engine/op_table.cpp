// See op_table.h.
#include "engine/op_table.h"

#include "engine/reference/reference.h"

namespace bgerase::engine {
namespace {

// clang-format off
constexpr OpDef kOps[] = {
    // name, required inputs, reference kernel
    {"Conv", 2, ref::EvaluateConv},
    {"MaxPool", 1, ref::EvaluateMaxPool},
    {"Resize", 1, ref::EvaluateResize},
    {"Concat", 1, ref::EvaluateConcat},
    {"Add", 2, ref::EvaluateBinary},
    {"Mul", 2, ref::EvaluateBinary},
    {"Relu", 1, ref::EvaluateRelu},
    {"Sigmoid", 1, ref::EvaluateSigmoid},
    {"Identity", 1, ref::EvaluateIdentity},
    {"Constant", 0, ref::EvaluateConstant},
    {"Cast", 1, ref::EvaluateCast},
    {"Shape", 1, ref::EvaluateShape},
    {"Slice", 1, ref::EvaluateSlice},
    {"Gather", 2, ref::EvaluateGather},
    {"Unsqueeze", 1, ref::EvaluateUnsqueeze},
};
// clang-format on

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
