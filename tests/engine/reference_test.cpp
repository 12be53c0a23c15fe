// The reference kernels against values worked out by hand, so the oracle itself is checked.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "graph_builder.h"

namespace bgerase::engine::testing {
namespace {

Node MakeNode(const std::string& op, std::map<std::string, Attribute> attrs = {}) {
  Node n;
  n.name = op;
  n.op = op;
  n.attrs = std::move(attrs);
  n.outputs = {"y"};
  return n;
}

TEST(ReferenceTest, ConvByHand) {
  // 1x1x3x3 input 1..9, 2x2 kernel of ones, no padding: sums of each 2x2 window.
  Tensor x = Tensor::Floats({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = Tensor::Floats({1, 1, 2, 2}, {1, 1, 1, 1});
  Node n = MakeNode("Conv");
  n.inputs = {"x", "w"};
  auto y = ref::Evaluate(n, {&x, &w});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ((*y)[0].shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ((*y)[0].AsFloats(), (std::vector<float>{12, 16, 24, 28}));
}

TEST(ReferenceTest, MaxPoolCeilModeMatchesPyTorchShapes) {
  // PyTorch: MaxPool2d(2, 2, ceil_mode=True) on 5x5 gives 3x3; the last window is partial.
  Tensor x(DType::kFloat32, {1, 1, 5, 5});
  for (int i = 0; i < 25; ++i) x.data<float>()[i] = static_cast<float>(i);
  Node n =
      MakeNode("MaxPool",
               {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}, {"ceil_mode", Int(1)}});
  n.inputs = {"x"};
  auto y = ref::Evaluate(n, {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ((*y)[0].shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ((*y)[0].AsFloats(), (std::vector<float>{6, 8, 9, 16, 18, 19, 21, 23, 24}));
  n.attrs["ceil_mode"] = Int(0);
  y = ref::Evaluate(n, {&x});
  EXPECT_EQ((*y)[0].shape(), (Shape{1, 1, 2, 2}));
}

TEST(ReferenceTest, ResizeLinearHalfPixelByHand) {
  // [0, 1] upsampled 2x with half_pixel: samples at -0.25, 0.25, 0.75, 1.25 -> clamp -> 0,.25,.75,1
  Tensor x = Tensor::Floats({1, 1, 1, 2}, {0, 1});
  Tensor sizes = Tensor::Int64s({4}, {1, 1, 1, 4});
  Node n = MakeNode("Resize", {{"mode", Str("linear")}});
  n.inputs = {"x", "", "", "sizes"};
  auto y = ref::Evaluate(n, {&x, nullptr, nullptr, &sizes});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ((*y)[0].AsFloats(), (std::vector<float>{0, 0.25f, 0.75f, 1}));
  n.attrs["coordinate_transformation_mode"] = Str("align_corners");
  y = ref::Evaluate(n, {&x, nullptr, nullptr, &sizes});
  const auto v = (*y)[0].AsFloats();
  EXPECT_NEAR(v[1], 1.f / 3, 1e-6);
  EXPECT_NEAR(v[2], 2.f / 3, 1e-6);
}

TEST(ReferenceTest, ShapeArithmetic) {
  Tensor x(DType::kFloat32, {1, 64, 32, 48});
  Node shape = MakeNode("Shape");
  shape.inputs = {"x"};
  auto s = ref::Evaluate(shape, {&x});
  ASSERT_TRUE(s.ok());
  Tensor starts = Tensor::Int64s({1}, {2}), ends = Tensor::Int64s({1}, {4});
  Node slice = MakeNode("Slice");
  slice.inputs = {"s", "starts", "ends"};
  auto hw = ref::Evaluate(slice, {&(*s)[0], &starts, &ends});
  ASSERT_TRUE(hw.ok());
  EXPECT_EQ((*hw)[0].AsInt64s(), (std::vector<int64_t>{32, 48}));
  Tensor idx = Tensor::Int64s({}, {-1});
  Node gather = MakeNode("Gather");
  gather.inputs = {"s", "i"};
  auto last = ref::Evaluate(gather, {&(*s)[0], &idx});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ((*last)[0].AsInt64s(), (std::vector<int64_t>{48}));
  Tensor axes = Tensor::Int64s({1}, {0});
  Node unsq = MakeNode("Unsqueeze");
  unsq.inputs = {"v", "axes"};
  auto u = ref::Evaluate(unsq, {&(*last)[0], &axes});
  ASSERT_TRUE(u.ok());
  EXPECT_EQ((*u)[0].shape(), (Shape{1}));
}

TEST(ReferenceTest, HalfAndBFloat16Conversions) {
  for (float f : {0.f, 1.f, -2.5f, 65504.f, 6.1035156e-05f, 5.9604645e-08f, 0.1f, -1000.25f}) {
    EXPECT_NEAR(HalfToFloat(FloatToHalf(f)), f, std::abs(f) * 1e-3 + 1e-7) << f;
  }
  EXPECT_EQ(FloatToHalf(1.f), 0x3c00);
  EXPECT_EQ(FloatToHalf(5.9604645e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.f);
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.f)), 1.f);
  EXPECT_EQ(FloatToBFloat16(1.00390625f), 0x3f80);  // ties to even
}

TEST(ReferenceTest, WidenHalvesMatchesHalfToFloatForEveryHalf) {
  std::vector<uint16_t> all(65536 + 5);  // an odd tail for the 8-wide path
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> out(all.size());
  WidenHalves(all.data(), out.data(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const float want = HalfToFloat(all[i]);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(out[i])) << i;
    } else {
      ASSERT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(want)) << i;
    }
  }
}

TEST(ReferenceTest, TensorCopiesShareBytesUntilWritten) {
  Tensor a = Tensor::Floats({3}, {1, 2, 3});
  const Tensor b = a;
  EXPECT_EQ(std::as_const(a).raw(), b.raw());  // shared, no copy
  a.data<float>()[0] = 9;                      // the writer gets its own bytes
  EXPECT_NE(std::as_const(a).raw(), b.raw());
  EXPECT_EQ(a.AsFloats(), (std::vector<float>{9, 2, 3}));
  EXPECT_EQ(b.AsFloats(), (std::vector<float>{1, 2, 3}));
  const Tensor c = Tensor::Adopt(DType::kInt64, {2}, std::string(16, '\0'));
  EXPECT_EQ(c.AsInt64s(), (std::vector<int64_t>{0, 0}));
  EXPECT_THROW(Tensor::Adopt(DType::kInt64, {3}, std::string(16, '\0')), std::invalid_argument);
}

TEST(ReferenceTest, UnknownOpIsAnError) {
  Node n = MakeNode("Softmax");
  Tensor x(DType::kFloat32, {2});
  n.inputs = {"x"};
  auto y = ref::Evaluate(n, {&x});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), "unsupported_op");
  EXPECT_NE(y.status().message().find("Softmax"), std::string::npos);
}

}  // namespace
}  // namespace bgerase::engine::testing
