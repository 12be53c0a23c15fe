// Reference Shape: the input's dimensions as an int64 vector.
#include <algorithm>
#include <cstring>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Tensor ShapeOf(const Tensor& x) {
  return Tensor::Int64s({static_cast<int64_t>(x.shape().size())}, x.shape());
}

Result<Tensor> EvaluateShape(const Node& /*n*/, const Inputs& in) {
  return ShapeOf(*in[0]);
}

}  // namespace bgerase::engine::ref
