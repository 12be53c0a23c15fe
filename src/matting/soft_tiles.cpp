// SoftTiles (soft_tiles.h).
#include "matting/soft_tiles.h"

#include <algorithm>
#include <cstddef>

namespace bgerase::matting {

std::vector<int> SoftTiles(const uint8_t* alpha, int w, int h, int tile) {
  const int tx = (w + tile - 1) / tile, ty = (h + tile - 1) / tile;
  std::vector<uint8_t> soft(static_cast<size_t>(tx) * ty, 0);
#pragma omp parallel for schedule(static)
  for (int t = 0; t < ty; ++t) {
    for (int y = t * tile; y < std::min(h, (t + 1) * tile); ++y) {
      const uint8_t* a = alpha + static_cast<size_t>(y) * w;
      for (int x = 0; x < w; ++x)
        if (SoftAlpha(a[x])) soft[static_cast<size_t>(t) * tx + x / tile] = 1;
    }
  }
  std::vector<int> tiles;
  for (int i = 0; i < tx * ty; ++i)
    if (soft[i]) tiles.push_back(i);
  return tiles;
}

}  // namespace bgerase::matting
