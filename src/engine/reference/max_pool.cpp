// Reference MaxPool: padded cells are ignored (never win the max).
#include <algorithm>
#include <cstring>
#include <limits>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Tensor MaxPool(const Tensor& x, const PoolParams& p) {
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t OH = p.out[2], OW = p.out[3];
  const std::vector<float> xf = x.AsFloats();
  Tensor y(DType::kFloat32, p.out);
  float* out = y.data<float>();
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t kh = 0; kh < p.kh; ++kh) {
          const int64_t ih = oh * p.stride_h - p.pad_t + kh;
          if (ih < 0 || ih >= H) continue;
          for (int64_t kw = 0; kw < p.kw; ++kw) {
            const int64_t iw = ow * p.stride_w - p.pad_l + kw;
            if (iw < 0 || iw >= W) continue;
            m = std::max(m, xf[(nc * H + ih) * W + iw]);
          }
        }
        out[(nc * OH + oh) * OW + ow] = m;
      }
  return y;
}

Result<Tensor> EvaluateMaxPool(const Node& n, const Inputs& in) {
  auto p = ParseMaxPool(n, in[0]->shape());
  if (!p.ok()) return p.status();
  return MaxPool(*in[0], *p);
}

}  // namespace bgerase::engine::ref
