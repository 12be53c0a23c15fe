// Dispatch from a Node to its reference kernel (through the op table), then its fused post-ops.
#include "engine/op_table.h"
#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Status MissingInput(const Node& n, size_t i) {
  return Status("invalid_model",
                n.Describe() + ": required input " + std::to_string(i) + " missing");
}

Result<std::vector<Tensor>> Evaluate(const Node& node, const std::vector<const Tensor*>& inputs) {
  auto given = [&](size_t i) { return i < inputs.size() && inputs[i]; };
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (!node.inputs[i].empty() && !given(i)) return MissingInput(node, i);
  }
  // An op the table does not know needs its first input all the same: that error comes first.
  const OpDef* op = FindOp(node.op);
  for (size_t i = 0; i < (op ? op->required_inputs : 1); ++i) {
    if (!given(i)) return MissingInput(node, i);
  }
  if (!op) return UnknownOp(node);
  auto y = op->reference(node, inputs);
  if (!y.ok()) return y.status();
  Tensor out = std::move(y).value();
  size_t operand = node.inputs.size();
  for (const FusedOp& f : node.fused) {
    switch (f.kind) {
      case FusedOp::Kind::kRelu:
        out = Relu(out);
        break;
      case FusedOp::Kind::kSigmoid:
        out = Sigmoid(out);
        break;
      case FusedOp::Kind::kAdd: {
        if (operand >= inputs.size() || !inputs[operand]) return MissingInput(node, operand);
        auto s = Binary("Add", out, *inputs[operand++], node);
        if (!s.ok()) return s.status();
        out = std::move(s).value();
        break;
      }
    }
  }
  std::vector<Tensor> outs;
  outs.push_back(std::move(out));
  return outs;
}

}  // namespace bgerase::engine::ref
