// Reference Sigmoid, 1 / (1 + e^-x), evaluated in double.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Tensor Sigmoid(const Tensor& x) {
  std::vector<float> v = x.AsFloats();
  for (float& f : v) f = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(f))));
  return Tensor::Floats(x.shape(), v);
}

Result<Tensor> EvaluateSigmoid(const Node& /*n*/, const Inputs& in) {
  return Sigmoid(*in[0]);
}

}  // namespace bgerase::engine::ref
