// Reference Cast to the dtypes the engine holds (ONNX TensorProto data type numbers).
#include <map>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Result<Tensor> EvaluateCast(const Node& n, const Inputs& in) {
  static const std::map<int64_t, DType> kTypes = {
      {1, DType::kFloat32}, {2, DType::kUInt8}, {3, DType::kInt8},     {6, DType::kInt32},
      {7, DType::kInt64},   {9, DType::kBool},  {10, DType::kFloat16}, {16, DType::kBFloat16}};
  auto it = kTypes.find(n.Int("to", 1));
  if (it == kTypes.end()) return Status("unsupported_op", n.Describe() + ": unsupported target");
  return in[0]->CastTo(it->second);
}

}  // namespace bgerase::engine::ref
