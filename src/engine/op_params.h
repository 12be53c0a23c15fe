// Attribute parsing and output-shape arithmetic for the spatial ops, shared by shape
// inference, the reference kernels and the oneDNN lowering so all three agree on the spec.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"

namespace bgerase::engine {

struct ConvParams {
  int64_t group = 1;
  int64_t kh = 0, kw = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dil_h = 1, dil_w = 1;
  int64_t pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0;
  Shape out;  // N, OC, OH, OW
};
// x: N,C,H,W; w: OC, C/group, KH, KW.
Result<ConvParams> ParseConv(const Node& n, const Shape& x, const Shape& w);

struct PoolParams {
  int64_t kh = 0, kw = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_t = 0, pad_l = 0;
  int64_t pad_b = 0, pad_r = 0;  // includes the extra right/bottom padding of ceil_mode
  Shape out;
};
Result<PoolParams> ParseMaxPool(const Node& n, const Shape& x);

enum class ResizeMode { kNearest, kLinear };
enum class CoordMode {
  kHalfPixel,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn
};
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

struct ResizeParams {
  ResizeMode mode = ResizeMode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  std::vector<float> scales;  // per axis, output/input
  Shape out;
};
// scales / sizes are the constant inputs 2 and 3 (either may be null).
Result<ResizeParams> ParseResize(const Node& n, const Shape& x, const Tensor* scales,
                                 const Tensor* sizes);

// The ONNX coordinate transform: where output index `x_out` samples in the input axis.
float ResizeSourceCoord(CoordMode mode, int64_t x_out, float scale, int64_t len_in,
                        int64_t len_out);
// The input index nearest-mode resizing picks for a source coordinate (clamped to the axis).
int64_t ResizeNearestIndex(NearestMode mode, float x, int64_t len_in);

// Numpy-style broadcast of two shapes; error when incompatible.
Result<Shape> BroadcastShapes(const Shape& a, const Shape& b, const Node& n);

}  // namespace bgerase::engine
