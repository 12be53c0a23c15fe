// Reference Slice (opset 10+: starts/ends/axes/steps as inputs), any dtype.
#include <algorithm>
#include <cstring>
#include <limits>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Result<Tensor> Slice(const Tensor& x, const std::vector<int64_t>& starts,
                     const std::vector<int64_t>& ends, const std::vector<int64_t>& axes_in,
                     const std::vector<int64_t>& steps_in, const Node& n) {
  const int64_t rank = static_cast<int64_t>(x.shape().size());
  std::vector<int64_t> axes = axes_in;
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  std::vector<int64_t> steps = steps_in.empty() ? std::vector<int64_t>(starts.size(), 1) : steps_in;
  if (starts.size() != ends.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    return Status("invalid_model", n.Describe() + ": starts/ends/axes/steps differ in length");
  }
  std::vector<int64_t> b(rank, 0), st(rank, 1), len(rank);
  for (int64_t i = 0; i < rank; ++i) len[i] = x.shape()[i];
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t ax = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (ax < 0 || ax >= rank) return Status("invalid_model", n.Describe() + ": bad axis");
    const int64_t dim = x.shape()[ax];
    const int64_t step = steps[i];
    if (step == 0) return Status("invalid_model", n.Describe() + ": step 0");
    auto clampi = [](int64_t v, int64_t lo, int64_t hi) { return std::max(lo, std::min(v, hi)); };
    int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (step > 0) {
      s = clampi(s, 0, dim);
      e = clampi(e, 0, dim);
      len[ax] = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = clampi(s, 0, dim - 1);
      e = clampi(e, -1, dim - 1);
      len[ax] = s > e ? (s - e - step - 1) / -step : 0;
    }
    b[ax] = s;
    st[ax] = step;
  }
  Tensor y(x.dtype(), len);
  const size_t es = DTypeSize(x.dtype());
  std::vector<int64_t> in_stride(rank, 1);
  for (int64_t i = rank - 2; i >= 0; --i) in_stride[i] = in_stride[i + 1] * x.shape()[i + 1];
  std::vector<int64_t> idx(rank, 0);
  const int64_t total = y.size();
  for (int64_t o = 0; o < total; ++o) {
    int64_t off = 0;
    for (int64_t i = 0; i < rank; ++i) off += (b[i] + idx[i] * st[i]) * in_stride[i];
    std::memcpy(static_cast<uint8_t*>(y.raw()) + o * es,
                static_cast<const uint8_t*>(x.raw()) + off * es, es);
    for (int64_t i = rank - 1; i >= 0; --i) {
      if (++idx[i] < len[i]) break;
      idx[i] = 0;
    }
  }
  return y;
}

// Opset 1-9 reads starts/ends/axes from attributes, 10+ from inputs 1-4.
Result<Tensor> EvaluateSlice(const Node& n, const Inputs& in) {
  auto opt = [&](size_t i) -> const Tensor* { return i < in.size() ? in[i] : nullptr; };
  if (n.HasAttr("starts")) {
    return Slice(*in[0], n.Ints("starts"), n.Ints("ends"), n.Ints("axes"), {}, n);
  }
  if (!opt(1) || !opt(2)) return MissingInput(n, 1);
  return Slice(*in[0], in[1]->AsInt64s(), in[2]->AsInt64s(),
               opt(3) ? in[3]->AsInt64s() : std::vector<int64_t>{},
               opt(4) ? in[4]->AsInt64s() : std::vector<int64_t>{}, n);
}

}  // namespace bgerase::engine::ref
