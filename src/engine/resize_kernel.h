// The fast Resize used by the oneDNN plan (oneDNN's resampling has no align_corners or
// nearest-mode variants). Works on any layout whose innermost axis is a channel block:
// [planes][H][W][block] covers NCHW (block 1) and nChw16c (block 16). float32 or bfloat16.
#pragma once

#include <cstdint>

#include "engine/op_params.h"

namespace bgerase::engine {

void ResizeSpatial(const ResizeParams& p, const void* src, void* dst, bool bf16, int64_t planes,
                   int64_t block, int64_t h, int64_t w, int64_t oh, int64_t ow);

}  // namespace bgerase::engine
