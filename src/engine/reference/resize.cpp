// Reference Resize over the two spatial axes: nearest (every nearest_mode) and bilinear,
// with each ONNX coordinate_transformation_mode, computed per output pixel from the spec.
#include <algorithm>
#include <cmath>

#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Tensor Resize(const Tensor& x, const ResizeParams& p) {
  const int64_t NC = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t OH = p.out[2], OW = p.out[3];
  const std::vector<float> xf = x.AsFloats();
  Tensor y(DType::kFloat32, p.out);
  float* out = y.data<float>();
  for (int64_t nc = 0; nc < NC; ++nc)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const float sy = ResizeSourceCoord(p.coord, oy, p.scales[2], H, OH);
        const float sx = ResizeSourceCoord(p.coord, ox, p.scales[3], W, OW);
        const float* plane = &xf[nc * H * W];
        float v;
        if (p.mode == ResizeMode::kNearest) {
          v = plane[ResizeNearestIndex(p.nearest, sy, H) * W +
                    ResizeNearestIndex(p.nearest, sx, W)];
        } else {
          const float cy = std::clamp(sy, 0.f, static_cast<float>(H - 1));
          const float cx = std::clamp(sx, 0.f, static_cast<float>(W - 1));
          const int64_t y0 = static_cast<int64_t>(std::floor(cy));
          const int64_t x0 = static_cast<int64_t>(std::floor(cx));
          const int64_t y1 = std::min(y0 + 1, H - 1), x1 = std::min(x0 + 1, W - 1);
          const float wy = cy - static_cast<float>(y0), wx = cx - static_cast<float>(x0);
          v = (1 - wy) * ((1 - wx) * plane[y0 * W + x0] + wx * plane[y0 * W + x1]) +
              wy * ((1 - wx) * plane[y1 * W + x0] + wx * plane[y1 * W + x1]);
        }
        out[(nc * OH + oy) * OW + ox] = v;
      }
  return y;
}

Result<Tensor> EvaluateResize(const Node& n, const Inputs& in) {
  auto p = ParseResize(n, in[0]->shape(), in.size() > 2 ? in[2] : nullptr,
                       in.size() > 3 ? in[3] : nullptr);
  if (!p.ok()) return p.status();
  return Resize(*in[0], *p);
}

}  // namespace bgerase::engine::ref
