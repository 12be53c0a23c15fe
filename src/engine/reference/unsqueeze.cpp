// Reference Unsqueeze: inserts size-1 axes (axes from input 1 or the attribute).
#include <algorithm>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Result<Tensor> Unsqueeze(const Tensor& x, const std::vector<int64_t>& axes_in, const Node& n) {
  const int64_t out_rank = static_cast<int64_t>(x.shape().size() + axes_in.size());
  std::vector<int64_t> axes;
  for (int64_t a : axes_in) axes.push_back(a < 0 ? a + out_rank : a);
  std::sort(axes.begin(), axes.end());
  Shape out;
  size_t src = 0, k = 0;
  for (int64_t i = 0; i < out_rank; ++i) {
    if (k < axes.size() && axes[k] == i) {
      out.push_back(1);
      ++k;
    } else {
      if (src >= x.shape().size()) return Status("invalid_model", n.Describe() + ": bad axes");
      out.push_back(x.shape()[src++]);
    }
  }
  return x.Reshaped(out);
}

Result<Tensor> EvaluateUnsqueeze(const Node& n, const Inputs& in) {
  std::vector<int64_t> axes = in.size() > 1 && in[1] ? in[1]->AsInt64s() : n.Ints("axes");
  return Unsqueeze(*in[0], axes, n);
}

}  // namespace bgerase::engine::ref
