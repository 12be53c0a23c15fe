// See op_params.h. Follows the ONNX operator specification (opset 11-18).
#include "engine/op_params.h"

#include <algorithm>
#include <cmath>

namespace bgerase::engine {
namespace {

Status Bad(const Node& n, const std::string& what) {
  return Status("invalid_model", n.Describe() + ": " + what);
}

// SAME_UPPER/SAME_LOWER padding for one axis.
void AutoPad(const std::string& mode, int64_t in, int64_t k_eff, int64_t stride, int64_t* pb,
             int64_t* pe) {
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>(0, (out - 1) * stride + k_eff - in);
  if (mode == "SAME_LOWER") {
    *pb = (total + 1) / 2;
  } else {
    *pb = total / 2;
  }
  *pe = total - *pb;
}

}  // namespace

Result<ConvParams> ParseConv(const Node& n, const Shape& x, const Shape& w) {
  if (x.size() != 4 || w.size() != 4)
    return Bad(n, "only 2-D convolutions (4-D tensors) are supported");
  ConvParams p;
  p.group = n.Int("group", 1);
  p.kh = w[2];
  p.kw = w[3];
  auto ks = n.Ints("kernel_shape");
  if (!ks.empty() && (ks.size() != 2 || ks[0] != p.kh || ks[1] != p.kw)) {
    return Bad(n, "kernel_shape does not match the weights");
  }
  auto st = n.Ints("strides", {1, 1});
  auto dl = n.Ints("dilations", {1, 1});
  auto pads = n.Ints("pads", {0, 0, 0, 0});
  if (st.size() != 2 || dl.size() != 2 || pads.size() != 4)
    return Bad(n, "bad strides/dilations/pads");
  p.stride_h = st[0];
  p.stride_w = st[1];
  p.dil_h = dl[0];
  p.dil_w = dl[1];
  if (p.group <= 0 || x[1] % p.group != 0 || w[0] % p.group != 0 || w[1] * p.group != x[1]) {
    return Bad(n, "input has " + std::to_string(x[1]) + " channels but the weights expect " +
                      std::to_string(w[1]) + " x group " + std::to_string(p.group));
  }
  if (p.stride_h <= 0 || p.stride_w <= 0 || p.dil_h <= 0 || p.dil_w <= 0)
    return Bad(n, "bad stride");
  const int64_t keh = (p.kh - 1) * p.dil_h + 1, kew = (p.kw - 1) * p.dil_w + 1;
  const std::string ap = n.String("auto_pad", "NOTSET");
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    AutoPad(ap, x[2], keh, p.stride_h, &p.pad_t, &p.pad_b);
    AutoPad(ap, x[3], kew, p.stride_w, &p.pad_l, &p.pad_r);
  } else if (ap == "NOTSET") {
    p.pad_t = pads[0];
    p.pad_l = pads[1];
    p.pad_b = pads[2];
    p.pad_r = pads[3];
  } else if (ap != "VALID") {
    return Bad(n, "unknown auto_pad " + ap);
  }
  const int64_t oh = (x[2] + p.pad_t + p.pad_b - keh) / p.stride_h + 1;
  const int64_t ow = (x[3] + p.pad_l + p.pad_r - kew) / p.stride_w + 1;
  if (oh <= 0 || ow <= 0)
    return Bad(n, "input " + ShapeToString(x) + " is smaller than the kernel");
  p.out = {x[0], w[0], oh, ow};
  return p;
}

Result<PoolParams> ParseMaxPool(const Node& n, const Shape& x) {
  if (x.size() != 4) return Bad(n, "only 2-D pooling (4-D tensors) is supported");
  auto ks = n.Ints("kernel_shape");
  auto st = n.Ints("strides", {1, 1});
  auto pads = n.Ints("pads", {0, 0, 0, 0});
  if (ks.size() != 2 || st.size() != 2 || pads.size() != 4)
    return Bad(n, "bad kernel/strides/pads");
  auto dl = n.Ints("dilations", {1, 1});
  if (dl != std::vector<int64_t>{1, 1}) return Bad(n, "dilated max pooling is not supported");
  if (n.Int("storage_order", 0) != 0) return Bad(n, "storage_order=1 is not supported");
  if (n.outputs.size() > 1 && !n.outputs[1].empty())
    return Bad(n, "the Indices output is not supported");
  PoolParams p;
  p.kh = ks[0];
  p.kw = ks[1];
  p.stride_h = st[0];
  p.stride_w = st[1];
  p.pad_t = pads[0];
  p.pad_l = pads[1];
  p.pad_b = pads[2];
  p.pad_r = pads[3];
  const std::string ap = n.String("auto_pad", "NOTSET");
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    AutoPad(ap, x[2], p.kh, p.stride_h, &p.pad_t, &p.pad_b);
    AutoPad(ap, x[3], p.kw, p.stride_w, &p.pad_l, &p.pad_r);
  } else if (ap == "VALID") {
    p.pad_t = p.pad_l = p.pad_b = p.pad_r = 0;
  }
  const bool ceil_mode = n.Int("ceil_mode", 0) != 0;
  auto out_len = [&](int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe) {
    const int64_t span = in + pb + pe - k;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    // ONNX/PyTorch: the last window must start inside the input or the leading padding.
    if (ceil_mode && (o - 1) * s >= in + pb) --o;
    return o;
  };
  const int64_t oh = out_len(x[2], p.kh, p.stride_h, p.pad_t, p.pad_b);
  const int64_t ow = out_len(x[3], p.kw, p.stride_w, p.pad_l, p.pad_r);
  if (oh <= 0 || ow <= 0)
    return Bad(n, "input " + ShapeToString(x) + " is smaller than the window");
  // Extra padding so that the last (partial) window is covered; padded cells never win a max.
  p.pad_b = std::max(p.pad_b, (oh - 1) * p.stride_h + p.kh - x[2] - p.pad_t);
  p.pad_r = std::max(p.pad_r, (ow - 1) * p.stride_w + p.kw - x[3] - p.pad_l);
  p.out = {x[0], x[1], oh, ow};
  return p;
}

Result<ResizeParams> ParseResize(const Node& n, const Shape& x, const Tensor* scales,
                                 const Tensor* sizes) {
  ResizeParams p;
  const std::string mode = n.String("mode", "nearest");
  if (mode == "nearest") {
    p.mode = ResizeMode::kNearest;
  } else if (mode == "linear") {
    p.mode = ResizeMode::kLinear;
  } else {
    return Bad(n, "resize mode '" + mode + "' is not supported (nearest, linear are)");
  }
  const std::string cm = n.String("coordinate_transformation_mode", "half_pixel");
  if (cm == "half_pixel") {
    p.coord = CoordMode::kHalfPixel;
  } else if (cm == "pytorch_half_pixel") {
    p.coord = CoordMode::kPytorchHalfPixel;
  } else if (cm == "align_corners") {
    p.coord = CoordMode::kAlignCorners;
  } else if (cm == "asymmetric") {
    p.coord = CoordMode::kAsymmetric;
  } else if (cm == "tf_half_pixel_for_nn") {
    p.coord = CoordMode::kTfHalfPixelForNn;
  } else {
    return Bad(n, "coordinate_transformation_mode '" + cm + "' is not supported");
  }
  const std::string nm = n.String("nearest_mode", "round_prefer_floor");
  if (nm == "round_prefer_floor") {
    p.nearest = NearestMode::kRoundPreferFloor;
  } else if (nm == "round_prefer_ceil") {
    p.nearest = NearestMode::kRoundPreferCeil;
  } else if (nm == "floor") {
    p.nearest = NearestMode::kFloor;
  } else if (nm == "ceil") {
    p.nearest = NearestMode::kCeil;
  } else {
    return Bad(n, "nearest_mode '" + nm + "' is not supported");
  }
  if (n.Int("exclude_outside", 0) != 0) return Bad(n, "exclude_outside is not supported");
  if (n.HasAttr("axes")) return Bad(n, "the axes attribute is not supported");
  const size_t rank = x.size();
  if (sizes && sizes->size() > 0) {
    auto sz = sizes->AsInt64s();
    if (sz.size() != rank) return Bad(n, "sizes has the wrong length");
    p.out = sz;
    for (size_t i = 0; i < rank; ++i) {
      p.scales.push_back(static_cast<float>(sz[i]) / static_cast<float>(x[i]));
    }
  } else if (scales && scales->size() > 0) {
    auto sc = scales->AsFloats();
    if (sc.size() != rank) return Bad(n, "scales has the wrong length");
    p.scales = sc;
    for (size_t i = 0; i < rank; ++i) {
      p.out.push_back(static_cast<int64_t>(std::floor(static_cast<float>(x[i]) * sc[i])));
    }
  } else {
    return Bad(n, "neither constant scales nor sizes are given");
  }
  if (rank != 4 || p.out[0] != x[0] || p.out[1] != x[1]) {
    return Bad(n, "only spatial resizing of 4-D tensors is supported");
  }
  for (int64_t d : p.out) {
    if (d <= 0) return Bad(n, "output size must be positive");
  }
  return p;
}

float ResizeSourceCoord(CoordMode mode, int64_t x_out, float scale, int64_t len_in,
                        int64_t len_out) {
  const float xo = static_cast<float>(x_out);
  switch (mode) {
    case CoordMode::kHalfPixel:
      return (xo + 0.5f) / scale - 0.5f;
    case CoordMode::kPytorchHalfPixel:
      return len_out > 1 ? (xo + 0.5f) / scale - 0.5f : 0.f;
    case CoordMode::kAlignCorners:
      return len_out == 1 ? 0.f
                          : xo * static_cast<float>(len_in - 1) / static_cast<float>(len_out - 1);
    case CoordMode::kAsymmetric:
      return xo / scale;
    case CoordMode::kTfHalfPixelForNn:
      return (xo + 0.5f) / scale;
  }
  return 0.f;
}

int64_t ResizeNearestIndex(NearestMode mode, float x, int64_t len_in) {
  int64_t i = 0;
  switch (mode) {
    case NearestMode::kRoundPreferFloor:
      i = (x == std::floor(x) + 0.5f) ? static_cast<int64_t>(std::floor(x))
                                      : static_cast<int64_t>(std::round(x));
      break;
    case NearestMode::kRoundPreferCeil:
      i = (x == std::floor(x) + 0.5f) ? static_cast<int64_t>(std::ceil(x))
                                      : static_cast<int64_t>(std::round(x));
      break;
    case NearestMode::kFloor:
      i = static_cast<int64_t>(std::floor(x));
      break;
    case NearestMode::kCeil:
      i = static_cast<int64_t>(std::ceil(x));
      break;
  }
  return std::clamp<int64_t>(i, 0, len_in - 1);
}

Result<Shape> BroadcastShapes(const Shape& a, const Shape& b, const Node& n) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) {
      return Bad(
          n, "shapes " + ShapeToString(a) + " and " + ShapeToString(b) + " cannot be broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace bgerase::engine
