// See resize_kernel.h. Coordinates come from op_params (the same formula the reference uses),
// precomputed once per axis; the inner loop runs over a channel block and is compiled for
// several ISAs, picked at run time.
#include "engine/resize_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace bgerase::engine {
namespace {

struct AxisTable {
  std::vector<int64_t> i0, i1;
  std::vector<float> w;  // weight of i1
};

AxisTable MakeTable(const ResizeParams& p, int axis, int64_t len_in, int64_t len_out) {
  AxisTable t;
  t.i0.resize(len_out);
  t.i1.resize(len_out);
  t.w.resize(len_out);
  for (int64_t o = 0; o < len_out; ++o) {
    const float s = ResizeSourceCoord(p.coord, o, p.scales[axis], len_in, len_out);
    if (p.mode == ResizeMode::kNearest) {
      t.i0[o] = t.i1[o] = ResizeNearestIndex(p.nearest, s, len_in);
      t.w[o] = 0.f;
    } else {
      const float c = std::clamp(s, 0.f, static_cast<float>(len_in - 1));
      const int64_t a = static_cast<int64_t>(std::floor(c));
      t.i0[o] = a;
      t.i1[o] = std::min(a + 1, len_in - 1);
      t.w[o] = c - static_cast<float>(a);
    }
  }
  return t;
}

inline float LoadBf16(uint16_t v) {
  const uint32_t b = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline uint16_t StoreBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

template <typename T>
inline float Load(const T* p, int64_t i) {
  if constexpr (sizeof(T) == 2) {
    return LoadBf16(p[i]);
  } else {
    return p[i];
  }
}
template <typename T>
inline void Store(T* p, int64_t i, float v) {
  if constexpr (sizeof(T) == 2) {
    p[i] = StoreBf16(v);
  } else {
    p[i] = v;
  }
}

// One output row: blend two input rows horizontally then vertically, `block` lanes at a time.
template <typename T>
__attribute__((target_clones("avx512f", "avx2", "default"))) void Row(
    const T* r0, const T* r1, float wy, T* out, const AxisTable& tx, int64_t ow, int64_t block) {
  for (int64_t x = 0; x < ow; ++x) {
    const T* a0 = r0 + tx.i0[x] * block;
    const T* a1 = r0 + tx.i1[x] * block;
    const T* b0 = r1 + tx.i0[x] * block;
    const T* b1 = r1 + tx.i1[x] * block;
    const float wx = tx.w[x];
    T* o = out + x * block;
    for (int64_t c = 0; c < block; ++c) {
      const float top = Load(a0, c) + wx * (Load(a1, c) - Load(a0, c));
      const float bot = Load(b0, c) + wx * (Load(b1, c) - Load(b0, c));
      Store(o, c, top + wy * (bot - top));
    }
  }
}

template <typename T>
void Run(const ResizeParams& p, const T* src, T* dst, int64_t planes, int64_t block, int64_t h,
         int64_t w, int64_t oh, int64_t ow) {
  const AxisTable ty = MakeTable(p, 2, h, oh);
  const AxisTable tx = MakeTable(p, 3, w, ow);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t y = 0; y < oh; ++y) {
      const T* base = src + pl * h * w * block;
      Row<T>(base + ty.i0[y] * w * block, base + ty.i1[y] * w * block, ty.w[y],
             dst + (pl * oh + y) * ow * block, tx, ow, block);
    }
  }
}

}  // namespace

void ResizeSpatial(const ResizeParams& p, const void* src, void* dst, bool bf16, int64_t planes,
                   int64_t block, int64_t h, int64_t w, int64_t oh, int64_t ow) {
  if (bf16) {
    Run(p, static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), planes, block, h, w,
        oh, ow);
  } else {
    Run(p, static_cast<const float*>(src), static_cast<float*>(dst), planes, block, h, w, oh, ow);
  }
}

}  // namespace bgerase::engine
