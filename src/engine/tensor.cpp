// Tensor storage, dtype helpers and the fp16/bf16 conversions.
#include "engine/tensor.h"

#include <cpuid.h>
#include <immintrin.h>

#include <cmath>
#include <stdexcept>

namespace bgerase::engine {

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kFloat32:
      return 4;
    case DType::kFloat16:
      return 2;
    case DType::kBFloat16:
      return 2;
    case DType::kInt64:
      return 8;
    case DType::kInt32:
      return 4;
    case DType::kInt8:
      return 1;
    case DType::kUInt8:
      return 1;
    case DType::kBool:
      return 1;
  }
  return 1;
}

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat16:
      return "float16";
    case DType::kBFloat16:
      return "bfloat16";
    case DType::kInt64:
      return "int64";
    case DType::kInt32:
      return "int32";
    case DType::kInt8:
      return "int8";
    case DType::kUInt8:
      return "uint8";
    case DType::kBool:
      return "bool";
  }
  return "?";
}

int64_t NumElements(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string ShapeToString(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += "x";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0);
  if (absx >= 0x477ff000u) return sign | 0x7c00u;  // overflow to inf
  if (absx < 0x38800000u) {                        // subnormal or zero in half
    if (absx < 0x33000000u) return sign;
    const uint32_t e = absx >> 23;
    const uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // half subnormals count units of 2^-24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = absx - 0x38000000u;  // rebias exponent 127 -> 15
  const uint32_t rem = r & 0x1fffu;
  r >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return static_cast<uint16_t>(sign | r);
}

Tensor::Tensor(DType dtype, Shape shape)
    : dtype_(dtype),
      shape_(std::move(shape)),
      data_(std::make_shared<std::string>(
          static_cast<size_t>(NumElements(shape_)) * DTypeSize(dtype), '\0')) {}

Tensor Tensor::Adopt(DType dtype, Shape shape, std::string&& bytes) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  if (static_cast<size_t>(NumElements(t.shape_)) * DTypeSize(dtype) != bytes.size())
    throw std::invalid_argument("Adopt: size");
  t.data_ = std::make_shared<std::string>(std::move(bytes));
  return t;
}

Tensor Tensor::Floats(Shape shape, const std::vector<float>& values) {
  Tensor t(DType::kFloat32, std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.size()) throw std::invalid_argument("Floats: size");
  std::memcpy(t.raw(), values.data(), values.size() * 4);
  return t;
}

Tensor Tensor::Int64s(Shape shape, const std::vector<int64_t>& values) {
  Tensor t(DType::kInt64, std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.size()) throw std::invalid_argument("Int64s: size");
  std::memcpy(t.raw(), values.data(), values.size() * 8);
  return t;
}

std::vector<int64_t> Tensor::AsInt64s() const {
  std::vector<int64_t> out(static_cast<size_t>(size()));
  if (dtype_ == DType::kFloat32 || dtype_ == DType::kFloat16 || dtype_ == DType::kBFloat16) {
    const std::vector<float> f = AsFloats();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(f[i]);
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::kInt64:
        out[i] = data<int64_t>()[i];
        break;
      case DType::kInt32:
        out[i] = data<int32_t>()[i];
        break;
      case DType::kInt8:
        out[i] = data<int8_t>()[i];
        break;
      case DType::kUInt8:
      case DType::kBool:
        out[i] = data<uint8_t>()[i];
        break;
      default:
        break;
    }
  }
  return out;
}

namespace {

// The model's weights, widened: F16C converts 8 at a time where the CPU has it (every AVX2 CPU
// does; checked at run time), a table elsewhere.
__attribute__((target("avx,f16c"))) void WidenHalvesF16c(const uint16_t* h, float* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(v));
  }
  for (; i < n; ++i) out[i] = HalfToFloat(h[i]);
}

// F16C and AVX with the OS saving YMM state, from CPUID and XGETBV (clang 14's
// __builtin_cpu_supports knows no "f16c").
bool HasF16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  constexpr unsigned kOsxsave = 1u << 27, kAvx = 1u << 28, kF16c = 1u << 29;
  if ((c & (kOsxsave | kAvx | kF16c)) != (kOsxsave | kAvx | kF16c)) return false;
  unsigned lo = 0, hi = 0;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0x6) == 0x6;  // XMM and YMM state enabled
}

}  // namespace

void WidenHalves(const uint16_t* h, float* out, size_t n) {
  static const bool f16c = HasF16c();
  if (f16c) return WidenHalvesF16c(h, out, n);
  static const std::vector<float> kHalf = [] {
    std::vector<float> t(65536);
    for (uint32_t v = 0; v < 65536; ++v) t[v] = HalfToFloat(static_cast<uint16_t>(v));
    return t;
  }();
  for (size_t i = 0; i < n; ++i) out[i] = kHalf[h[i]];
}

std::vector<float> Tensor::AsFloats() const {
  std::vector<float> out(static_cast<size_t>(size()));
  if (dtype_ == DType::kFloat16) {
    WidenHalves(data<uint16_t>(), out.data(), out.size());
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::kFloat32:
        out[i] = data<float>()[i];
        break;
      case DType::kFloat16:
        out[i] = HalfToFloat(data<uint16_t>()[i]);
        break;
      case DType::kBFloat16:
        out[i] = BFloat16ToFloat(data<uint16_t>()[i]);
        break;
      case DType::kInt64:
        out[i] = static_cast<float>(data<int64_t>()[i]);
        break;
      case DType::kInt32:
        out[i] = static_cast<float>(data<int32_t>()[i]);
        break;
      case DType::kInt8:
        out[i] = data<int8_t>()[i];
        break;
      case DType::kUInt8:
      case DType::kBool:
        out[i] = data<uint8_t>()[i];
        break;
    }
  }
  return out;
}

namespace {

// Writes `v` as element i of `out` in its dtype (ONNX Cast semantics: float to int truncates).
template <typename V>
void StoreAs(Tensor& out, size_t i, V v) {
  switch (out.dtype()) {
    case DType::kFloat32:
      out.data<float>()[i] = static_cast<float>(v);
      break;
    case DType::kFloat16:
      out.data<uint16_t>()[i] = FloatToHalf(static_cast<float>(v));
      break;
    case DType::kBFloat16:
      out.data<uint16_t>()[i] = FloatToBFloat16(static_cast<float>(v));
      break;
    case DType::kInt64:
      out.data<int64_t>()[i] = static_cast<int64_t>(v);
      break;
    case DType::kInt32:
      out.data<int32_t>()[i] = static_cast<int32_t>(v);
      break;
    case DType::kInt8:
      out.data<int8_t>()[i] = static_cast<int8_t>(v);
      break;
    case DType::kUInt8:
      out.data<uint8_t>()[i] = static_cast<uint8_t>(v);
      break;
    case DType::kBool:
      out.data<uint8_t>()[i] = v != V{0};
      break;
  }
}

}  // namespace

Tensor Tensor::CastTo(DType to) const {
  if (to == dtype_) return *this;
  Tensor out(to, shape_);
  const bool from_float =
      dtype_ == DType::kFloat32 || dtype_ == DType::kFloat16 || dtype_ == DType::kBFloat16;
  if (from_float && to == DType::kFloat32) {
    const std::vector<float> v = AsFloats();
    std::memcpy(out.raw(), v.data(), v.size() * 4);
    return out;
  }
  if (from_float) {
    const std::vector<float> v = AsFloats();
    for (size_t i = 0; i < v.size(); ++i) StoreAs(out, i, v[i]);
  } else {
    const std::vector<int64_t> v = AsInt64s();
    for (size_t i = 0; i < v.size(); ++i) StoreAs(out, i, v[i]);
  }
  return out;
}

Tensor Tensor::Reshaped(Shape s) const {
  Tensor t = *this;
  t.shape_ = std::move(s);
  return t;
}

}  // namespace bgerase::engine
