// See resize_kernel.h. Coordinates come from op_params (the same formula the reference uses),
// precomputed once per axis; the inner loop runs over a channel block and is compiled for
// several ISAs, picked at run time.
#include "engine/resize_kernel.h"

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/clones.h"
#include "engine/tensor.h"

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

// bf16 travels as uint16_t; uint8_t is a quantized activation (v in [0, 255], rounded).
template <typename T>
inline float Load(const T* p, int64_t i) {
  if constexpr (sizeof(T) == 2) {
    return BFloat16ToFloat(p[i]);
  } else {
    return static_cast<float>(p[i]);
  }
}
template <typename T>
inline void Store(T* p, int64_t i, float v) {
  if constexpr (sizeof(T) == 2) {
    p[i] = FloatToBFloat16(v);
  } else if constexpr (sizeof(T) == 1) {
    p[i] = static_cast<uint8_t>(std::lrint(v));  // to nearest even, as RowU8Avx2
  } else {
    p[i] = v;
  }
}

// An output pixel's four source taps in rows r0 and r1, `stride` values a pixel.
template <typename T>
struct Taps {
  const T *a0, *a1, *b0, *b1;
  Taps(const T* r0, const T* r1, const AxisTable& tx, int64_t x, int64_t stride)
      : a0(r0 + tx.i0[x] * stride),
        a1(r0 + tx.i1[x] * stride),
        b0(r1 + tx.i0[x] * stride),
        b1(r1 + tx.i1[x] * stride) {}
};

// One output row: four source taps per output pixel, `lanes` channels of each `block` (the
// channel block is innermost, so the lanes are contiguous and vectorise).
// Cloned for AVX-512 and AVX2 (common/clones.h).
template <typename T>
BGERASE_CLONES_AVX512 void Row(const T* r0, const T* r1, float wy, T* out, const AxisTable& tx,
                               int64_t ow, int64_t block, int64_t lanes) {
  for (int64_t x = 0; x < ow; ++x) {
    const Taps<T> t(r0, r1, tx, x, block);
    const float wx = tx.w[x];
    T* o = out + x * block;
    for (int64_t c = 0; c < lanes; ++c) {
      const float p = Load(t.a0, c), q = Load(t.b0, c);
      const float top = p + wx * (Load(t.a1, c) - p);
      const float bot = q + wx * (Load(t.b1, c) - q);
      Store(o, c, top + wy * (bot - top));
    }
  }
}

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*, which -Wmaybe-uninitialized
// misreads (a known false positive); the values are always fully written.
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// bf16 with 16-channel blocks on AVX-512: the compiler does not vectorise the scalar bf16
// conversions above, so this row is written with intrinsics (same math, same rounding).
__attribute__((target("avx512f,avx512bw"))) inline __m512 LoadBf16x16(const uint16_t* p) {
  const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

__attribute__((target("avx512f,avx512bw"))) void RowBf16x16(const uint16_t* r0, const uint16_t* r1,
                                                            float wy, uint16_t* out,
                                                            const AxisTable& tx, int64_t ow) {
  const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
  const __m512 vy = _mm512_set1_ps(wy);
  for (int64_t x = 0; x < ow; ++x) {
    const __m512 vx = _mm512_set1_ps(tx.w[x]);
    const __m512 p = LoadBf16x16(r0 + tx.i0[x] * 16), q = LoadBf16x16(r1 + tx.i0[x] * 16);
    const __m512 top = _mm512_fmadd_ps(vx, _mm512_sub_ps(LoadBf16x16(r0 + tx.i1[x] * 16), p), p);
    const __m512 bot = _mm512_fmadd_ps(vx, _mm512_sub_ps(LoadBf16x16(r1 + tx.i1[x] * 16), q), q);
    __m512i v = _mm512_castps_si512(_mm512_fmadd_ps(vy, _mm512_sub_ps(bot, top), top));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(v, 16), one);
    v = _mm512_srli_epi32(_mm512_add_epi32(v, _mm512_add_epi32(bias, lsb)), 16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + x * 16), _mm512_cvtepi32_epi16(v));
  }
}

#pragma GCC diagnostic pop

// u8 (an int8 plan's nhwc activations, block = channels) on AVX2: 8 channels at a time, the
// same math in float, rounded to nearest even; the compiler does not vectorise the scalar
// row's conversions (the row took twice as long as the float one).
__attribute__((target("avx2,fma"))) inline __m256 LoadU8x8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

__attribute__((target("avx2,fma"))) void RowU8Avx2(const uint8_t* r0, const uint8_t* r1, float wy,
                                                   uint8_t* out, const AxisTable& tx, int64_t ow,
                                                   int64_t block) {
  const __m256 vy = _mm256_set1_ps(wy);
  const int64_t vec = block / 8 * 8;
  for (int64_t x = 0; x < ow; ++x) {
    const Taps<uint8_t> t(r0, r1, tx, x, block);
    const __m256 vx = _mm256_set1_ps(tx.w[x]);
    uint8_t* o = out + x * block;
    for (int64_t c = 0; c < vec; c += 8) {
      const __m256 p = LoadU8x8(t.a0 + c), q = LoadU8x8(t.b0 + c);
      const __m256 top = _mm256_fmadd_ps(vx, _mm256_sub_ps(LoadU8x8(t.a1 + c), p), p);
      const __m256 bot = _mm256_fmadd_ps(vx, _mm256_sub_ps(LoadU8x8(t.b1 + c), q), q);
      const __m256i v = _mm256_cvtps_epi32(_mm256_fmadd_ps(vy, _mm256_sub_ps(bot, top), top));
      const __m128i w16 =
          _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(o + c), _mm_packus_epi16(w16, w16));
    }
  }
  if (vec < block) Row<uint8_t>(r0 + vec, r1 + vec, wy, out + vec, tx, ow, block, block - vec);
}

template <typename T>
void Run(const ResizeParams& p, const T* src, T* dst, int64_t planes, int64_t block, int64_t h,
         int64_t w, int64_t oh, int64_t ow) {
  const AxisTable ty = MakeTable(p, 2, h, oh);
  const AxisTable tx = MakeTable(p, 3, w, ow);
  static const bool avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  const bool fast_bf16 = sizeof(T) == 2 && block == 16 && avx512;
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t y = 0; y < oh; ++y) {
      const T* base = src + pl * h * w * block;
      const T* r0 = base + ty.i0[y] * w * block;
      const T* r1 = base + ty.i1[y] * w * block;
      T* o = dst + (pl * oh + y) * ow * block;
      if constexpr (sizeof(T) == 2) {
        if (fast_bf16) {
          RowBf16x16(r0, r1, ty.w[y], o, tx, ow);
          continue;
        }
      }
      if constexpr (sizeof(T) == 1) {
        if (avx2) {
          RowU8Avx2(r0, r1, ty.w[y], o, tx, ow, block);
          continue;
        }
      }
      Row<T>(r0, r1, ty.w[y], o, tx, ow, block, block);
    }
  }
}

}  // namespace

void ResizeSpatial(const ResizeParams& p, const void* src, void* dst, DType dt, int64_t planes,
                   int64_t block, int64_t h, int64_t w, int64_t oh, int64_t ow) {
  if (dt == DType::kBFloat16) {
    Run(p, static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), planes, block, h, w, oh,
        ow);
  } else if (dt == DType::kUInt8) {
    Run(p, static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), planes, block, h, w, oh,
        ow);
  } else {
    Run(p, static_cast<const float*>(src), static_cast<float*>(dst), planes, block, h, w, oh, ow);
  }
}

}  // namespace bgerase::engine
