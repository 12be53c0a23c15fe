// Reference Concat along any axis, for any dtype (a byte copy of each input's slabs).
#include <algorithm>
#include <cstring>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Result<Tensor> Concat(const std::vector<const Tensor*>& xs, int64_t axis, const Node& n) {
  if (xs.empty()) return Status("invalid_model", n.Describe() + ": no inputs");
  const Shape& s0 = xs[0]->shape();
  const int64_t rank = static_cast<int64_t>(s0.size());
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return Status("invalid_model", n.Describe() + ": bad axis");
  Shape out = s0;
  out[axis] = 0;
  for (const Tensor* x : xs) {
    if (x->dtype() != xs[0]->dtype() || x->shape().size() != s0.size()) {
      return Status("invalid_model", n.Describe() + ": inputs differ in dtype or rank");
    }
    for (int64_t i = 0; i < rank; ++i) {
      if (i != axis && x->shape()[i] != s0[i]) {
        return Status("invalid_model", n.Describe() + ": shapes " + ShapeToString(x->shape()) +
                                           " and " + ShapeToString(s0) + " differ off the axis");
      }
    }
    out[axis] += x->shape()[axis];
  }
  Tensor y(xs[0]->dtype(), out);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= s0[i];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= s0[i];
  const size_t es = DTypeSize(y.dtype());
  auto* dst = static_cast<uint8_t*>(y.raw());
  size_t offset = 0;
  for (const Tensor* x : xs) {
    const size_t slab = static_cast<size_t>(x->shape()[axis] * inner) * es;
    const size_t row = static_cast<size_t>(out[axis] * inner) * es;
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(dst + o * row + offset, static_cast<const uint8_t*>(x->raw()) + o * slab, slab);
    }
    offset += slab;
  }
  return y;
}

Result<Tensor> EvaluateConcat(const Node& n, const Inputs& in) {
  std::vector<const Tensor*> xs(in.begin(), in.begin() + static_cast<long>(n.inputs.size()));
  return Concat(xs, n.Int("axis", 0), n);
}

}  // namespace bgerase::engine::ref
