// Reference Shape: the input's dimensions as an int64 vector.
#include <algorithm>
#include <cstring>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Tensor ShapeOf(const Tensor& x) {
  return Tensor::Int64s({static_cast<int64_t>(x.shape().size())}, x.shape());
}

}  // namespace bgerase::engine::ref
