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

}  // namespace bgerase::engine::ref
