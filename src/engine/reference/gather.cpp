// Reference Gather along one axis, any dtype; negative indices count from the end.
#include <algorithm>
#include <cstring>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Result<Tensor> Gather(const Tensor& x, const Tensor& indices, int64_t axis, const Node& n) {
  const int64_t rank = static_cast<int64_t>(x.shape().size());
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return Status("invalid_model", n.Describe() + ": bad axis");
  const auto idx = indices.AsInt64s();
  Shape out(x.shape().begin(), x.shape().begin() + axis);
  out.insert(out.end(), indices.shape().begin(), indices.shape().end());
  out.insert(out.end(), x.shape().begin() + axis + 1, x.shape().end());
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.shape()[i];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= x.shape()[i];
  const int64_t dim = x.shape()[axis];
  const size_t es = DTypeSize(x.dtype());
  Tensor y(x.dtype(), out);
  auto* dst = static_cast<uint8_t*>(y.raw());
  const auto* src = static_cast<const uint8_t*>(x.raw());
  for (int64_t o = 0; o < outer; ++o)
    for (size_t k = 0; k < idx.size(); ++k) {
      int64_t j = idx[k] < 0 ? idx[k] + dim : idx[k];
      if (j < 0 || j >= dim) return Status("invalid_model", n.Describe() + ": index out of range");
      std::memcpy(dst + ((o * static_cast<int64_t>(idx.size()) + k) * inner) * es,
                  src + ((o * dim + j) * inner) * es, inner * es);
    }
  return y;
}

Result<Tensor> EvaluateGather(const Node& n, const Inputs& in) {
  return Gather(*in[0], *in[1], n.Int("axis", 0), n);
}

}  // namespace bgerase::engine::ref
