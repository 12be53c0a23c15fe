// Reference Add and Mul with numpy broadcasting, for float and integer tensors.
#include <algorithm>
#include <cstring>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Result<Tensor> Binary(const std::string& op, const Tensor& a, const Tensor& b, const Node& n) {
  auto shape = BroadcastShapes(a.shape(), b.shape(), n);
  if (!shape.ok()) return shape.status();
  const Shape& out = *shape;
  const size_t r = out.size();
  // Strides of a and b in the broadcast index space (0 on broadcast axes).
  auto strides = [&](const Shape& s) {
    std::vector<int64_t> st(r, 0);
    int64_t acc = 1;
    for (size_t i = 0; i < s.size(); ++i) {
      const size_t ax = s.size() - 1 - i;
      const size_t oax = r - 1 - i;
      st[oax] = s[ax] == 1 ? 0 : acc;
      acc *= s[ax];
    }
    return st;
  };
  const auto sa = strides(a.shape()), sb = strides(b.shape());
  const bool is_float =
      a.dtype() == DType::kFloat32 || a.dtype() == DType::kFloat16 || a.dtype() == DType::kBFloat16;
  const int64_t total = NumElements(out);
  std::vector<int64_t> idx(r, 0);
  auto offsets = [&](int64_t* oa, int64_t* ob) {
    *oa = *ob = 0;
    for (size_t i = 0; i < r; ++i) {
      *oa += idx[i] * sa[i];
      *ob += idx[i] * sb[i];
    }
  };
  auto next = [&]() {
    for (size_t i = r; i-- > 0;) {
      if (++idx[i] < out[i]) return;
      idx[i] = 0;
    }
  };
  const bool add = op == "Add";
  if (is_float) {
    const auto fa = a.AsFloats(), fb = b.AsFloats();
    Tensor y(DType::kFloat32, out);
    for (int64_t i = 0; i < total; ++i, next()) {
      int64_t oa, ob;
      offsets(&oa, &ob);
      y.data<float>()[i] = add ? fa[oa] + fb[ob] : fa[oa] * fb[ob];
    }
    return y;
  }
  const auto ia = a.AsInt64s(), ib = b.AsInt64s();
  Tensor y(DType::kInt64, out);
  for (int64_t i = 0; i < total; ++i, next()) {
    int64_t oa, ob;
    offsets(&oa, &ob);
    y.data<int64_t>()[i] = add ? ia[oa] + ib[ob] : ia[oa] * ib[ob];
  }
  return y.CastTo(a.dtype());
}

Result<Tensor> EvaluateBinary(const Node& n, const Inputs& in) {
  return Binary(n.op, *in[0], *in[1], n);
}

}  // namespace bgerase::engine::ref
