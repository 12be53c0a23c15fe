// Reference Conv: direct convolution with groups, dilation, stride and padding.
#include <algorithm>
#include <cstring>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Tensor Conv(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvParams& p) {
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t OC = p.out[1], OH = p.out[2], OW = p.out[3];
  const int64_t icg = C / p.group, ocg = OC / p.group;
  const std::vector<float> xf = x.AsFloats(), wf = w.AsFloats();
  const std::vector<float> bf = bias ? bias->AsFloats() : std::vector<float>(OC, 0.f);
  Tensor y(DType::kFloat32, p.out);
  float* out = y.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < OC; ++oc) {
      const int64_t g = oc / ocg;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = bf[oc];
          for (int64_t ic = 0; ic < icg; ++ic)
            for (int64_t kh = 0; kh < p.kh; ++kh) {
              const int64_t ih = oh * p.stride_h - p.pad_t + kh * p.dil_h;
              if (ih < 0 || ih >= H) continue;
              for (int64_t kw = 0; kw < p.kw; ++kw) {
                const int64_t iw = ow * p.stride_w - p.pad_l + kw * p.dil_w;
                if (iw < 0 || iw >= W) continue;
                const int64_t c = g * icg + ic;
                acc += static_cast<double>(xf[((n * C + c) * H + ih) * W + iw]) *
                       wf[((oc * icg + ic) * p.kh + kh) * p.kw + kw];
              }
            }
          out[((n * OC + oc) * OH + oh) * OW + ow] = static_cast<float>(acc);
        }
    }
  return y;
}

Result<Tensor> EvaluateConv(const Node& n, const Inputs& in) {
  auto p = ParseConv(n, in[0]->shape(), in[1]->shape());
  if (!p.ok()) return p.status();
  return Conv(*in[0], *in[1], in.size() > 2 ? in[2] : nullptr, *p);
}

}  // namespace bgerase::engine::ref
