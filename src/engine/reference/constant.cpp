// Reference Constant: its `value` tensor, or a scalar/vector from value_int(s)/value_float.
#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Result<Tensor> EvaluateConstant(const Node& n, const Inputs& /*in*/) {
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

}  // namespace bgerase::engine::ref
