// Where the colour estimators have work: the pixels whose 8-bit alpha is neither 0 nor 255, and
// the tiles that hold any. Internal to matting/ (blur_fusion.cpp, foreground.cpp).
#pragma once

#include <cstdint>
#include <vector>

namespace bgerase::matting {

inline bool SoftAlpha(uint8_t a) {
  return a != 0 && a != 255;
}

// The `tile` x `tile` tiles of a w x h alpha plane holding soft alpha, as row-major indices
// (tiles per row: (w + tile - 1) / tile), in increasing order. Rows of tiles are scanned in
// parallel (OpenMP).
std::vector<int> SoftTiles(const uint8_t* alpha, int w, int h, int tile);

}  // namespace bgerase::matting
