// Tensor: a dense, row-major (NCHW for images) array with a dtype and shape. Used for
// initializers, constant folding and the reference kernels; the oneDNN plan keeps its own
// arena and only exchanges plain float tensors with callers.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace bgerase::engine {

enum class DType : uint8_t { kFloat32, kFloat16, kBFloat16, kInt64, kInt32, kInt8, kUInt8, kBool };

size_t DTypeSize(DType t);
const char* DTypeName(DType t);

using Shape = std::vector<int64_t>;
int64_t NumElements(const Shape& s);
std::string ShapeToString(const Shape& s);

float HalfToFloat(uint16_t h);
// n halves widened to floats (F16C where the CPU has it).
void WidenHalves(const uint16_t* h, float* out, size_t n);
uint16_t FloatToHalf(float f);
inline float BFloat16ToFloat(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}
// Round to nearest even; NaN stays NaN. Inline: the resize kernel's inner loop uses it.
inline uint16_t FloatToBFloat16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

// Copies share their bytes until one of them is written through a non-const accessor (copy on
// write): a plan's specialised copy of the model costs no copy of its 88 MB of weights. A
// pointer from a non-const accessor is valid until the tensor is next copied.
class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor of the given dtype and shape.
  Tensor(DType dtype, Shape shape);

  static Tensor Floats(Shape shape, const std::vector<float>& values);
  // Takes `bytes` (which must hold exactly the shape's elements) without copying them: the
  // loader's weights move from the parsed protobuf.
  static Tensor Adopt(DType dtype, Shape shape, std::string&& bytes);
  static Tensor Int64s(Shape shape, const std::vector<int64_t>& values);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t size() const { return NumElements(shape_); }
  size_t bytes() const { return data_ ? data_->size() : 0; }
  bool empty() const { return bytes() == 0 && shape_.empty(); }

  template <typename T>
  T* data() {
    return reinterpret_cast<T*>(raw());
  }
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(raw());
  }
  void* raw() {
    if (!data_) return nullptr;
    if (data_.use_count() > 1) data_ = std::make_shared<std::string>(*data_);
    return data_->data();
  }
  const void* raw() const { return data_ ? data_->data() : nullptr; }

  // Values widened to int64 (for integer dtypes and bool); used by shape arithmetic.
  std::vector<int64_t> AsInt64s() const;
  // Values widened to float (for float dtypes, including fp16/bf16).
  std::vector<float> AsFloats() const;
  // Same values, new dtype (float<->int conversions truncate toward zero, as ONNX Cast).
  Tensor CastTo(DType to) const;
  Tensor Reshaped(Shape s) const;

 private:
  DType dtype_ = DType::kFloat32;
  Shape shape_;
  std::shared_ptr<std::string> data_;  // bytes (malloc-aligned: fine for every dtype)
};

}  // namespace bgerase::engine
