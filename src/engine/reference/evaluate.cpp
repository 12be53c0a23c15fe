// Dispatch from a Node to its reference kernel, then its fused post-ops.
#include <algorithm>
#include <cstring>
#include <set>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {
namespace {

Status Missing(const Node& n, size_t i) {
  return Status("invalid_model",
                n.Describe() + ": required input " + std::to_string(i) + " missing");
}

Result<Tensor> EvaluateOwn(const Node& n, const std::vector<const Tensor*>& in) {
  auto req = [&](size_t i) -> const Tensor* { return i < in.size() ? in[i] : nullptr; };
  const std::string& op = n.op;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (!n.inputs[i].empty() && !req(i)) return Missing(n, i);
  }
  if (op == "Constant") {
    if (!n.HasAttr("value")) {
      if (n.HasAttr("value_ints")) {
        const auto& v = n.attrs.at("value_ints").ints;
        return Tensor::Int64s({static_cast<int64_t>(v.size())}, v);
      }
      if (n.HasAttr("value_int")) return Tensor::Int64s({}, {n.Int("value_int", 0)});
      if (n.HasAttr("value_float")) return Tensor::Floats({}, {n.Float("value_float", 0)});
      return Status("unsupported_op", n.Describe() + ": only value/value_int(s)/value_float");
    }
    return n.attrs.at("value").t;
  }
  if (!req(0)) return Missing(n, 0);
  const Tensor& x = *in[0];
  if (op == "Identity") return x;
  if (op == "Cast") {
    static const std::map<int64_t, DType> kTypes = {
        {1, DType::kFloat32}, {2, DType::kUInt8}, {3, DType::kInt8},     {6, DType::kInt32},
        {7, DType::kInt64},   {9, DType::kBool},  {10, DType::kFloat16}, {16, DType::kBFloat16}};
    auto it = kTypes.find(n.Int("to", 1));
    if (it == kTypes.end()) return Status("unsupported_op", n.Describe() + ": unsupported target");
    return x.CastTo(it->second);
  }
  if (op == "Shape") return ShapeOf(x);
  if (op == "Relu") return Relu(x);
  if (op == "Sigmoid") return Sigmoid(x);
  if (op == "Add" || op == "Mul") {
    if (!req(1)) return Missing(n, 1);
    return Binary(op, x, *in[1], n);
  }
  if (op == "Concat") {
    std::vector<const Tensor*> xs(in.begin(), in.begin() + static_cast<long>(n.inputs.size()));
    return Concat(xs, n.Int("axis", 0), n);
  }
  if (op == "Gather") {
    if (!req(1)) return Missing(n, 1);
    return Gather(x, *in[1], n.Int("axis", 0), n);
  }
  if (op == "Unsqueeze") {
    std::vector<int64_t> axes = req(1) ? in[1]->AsInt64s() : n.Ints("axes");
    return Unsqueeze(x, axes, n);
  }
  if (op == "Slice") {
    if (n.HasAttr("starts")) {
      return Slice(x, n.Ints("starts"), n.Ints("ends"), n.Ints("axes"), {}, n);
    }
    if (!req(1) || !req(2)) return Missing(n, 1);
    return Slice(x, in[1]->AsInt64s(), in[2]->AsInt64s(),
                 req(3) ? in[3]->AsInt64s() : std::vector<int64_t>{},
                 req(4) ? in[4]->AsInt64s() : std::vector<int64_t>{}, n);
  }
  if (op == "Conv") {
    if (!req(1)) return Missing(n, 1);
    auto p = ParseConv(n, x.shape(), in[1]->shape());
    if (!p.ok()) return p.status();
    return Conv(x, *in[1], req(2), *p);
  }
  if (op == "MaxPool") {
    auto p = ParseMaxPool(n, x.shape());
    if (!p.ok()) return p.status();
    return MaxPool(x, *p);
  }
  if (op == "Resize") {
    auto p = ParseResize(n, x.shape(), req(2), req(3));
    if (!p.ok()) return p.status();
    return Resize(x, *p);
  }
  return Status("unsupported_op", n.Describe() + ": operator '" + op + "' is not supported");
}

}  // namespace

bool Supports(const std::string& op) {
  static const std::set<std::string> kOps = {"Constant",  "Identity", "Cast", "Shape",   "Relu",
                                             "Sigmoid",   "Add",      "Mul",  "Concat",  "Gather",
                                             "Unsqueeze", "Slice",    "Conv", "MaxPool", "Resize"};
  return kOps.count(op) != 0;
}

Result<std::vector<Tensor>> Evaluate(const Node& node, const std::vector<const Tensor*>& inputs) {
  auto y = EvaluateOwn(node, inputs);
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
        if (operand >= inputs.size() || !inputs[operand]) return Missing(node, operand);
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
