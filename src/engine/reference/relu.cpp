// Reference Relu.
#include <algorithm>
#include <cstring>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Tensor Relu(const Tensor& x) {
  std::vector<float> v = x.AsFloats();
  for (float& f : v) f = f > 0.f ? f : 0.f;
  return Tensor::Floats(x.shape(), v);
}

Result<Tensor> EvaluateRelu(const Node& /*n*/, const Inputs& in) {
  return Relu(*in[0]);
}

}  // namespace bgerase::engine::ref
