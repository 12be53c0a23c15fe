// The fast Resize used by the oneDNN plan (oneDNN's resampling has no align_corners or
// nearest-mode variants). Works on any layout whose innermost axis is a channel block:
// [planes][H][W][block] covers NCHW (block 1), nChw16c (block 16) and nhwc (block = channels).
// float32, bfloat16, or uint8 (an int8 plan's quantized activations: rounded to nearest; the
// interpolation of values in [0, 255] stays in it).
#pragma once

#include <cstdint>

#include "engine/op_params.h"
#include "engine/tensor.h"

namespace bgerase::engine {

void ResizeSpatial(const ResizeParams& p, const void* src, void* dst, DType dt, int64_t planes,
                   int64_t block, int64_t h, int64_t w, int64_t oh, int64_t ow);

}  // namespace bgerase::engine
