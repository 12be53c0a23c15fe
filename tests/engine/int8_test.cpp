// int8 precision: calibration records each convolution input's range, and the plan runs the
// calibrated convolutions u8s8 (nhwc activations, per-channel s8 weights) within a small error of
// the fp32 reference; sources that go negative (s8 with VNNI, u8 with a zero point without),
// listed float nodes, and a missing calibration behave as documented.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/resize_kernel.h"
#include "graph_builder.h"

namespace bgerase::engine::testing {
namespace {

// Two relu convs (the second dilated, with a residual add), concat, pooling, resize, a last conv
// and a sigmoid: every op next to an int8 conv in ISNet.
Graph Rsu() {
  GraphBuilder b;
  auto x = b.Input("x", {1, 16, 24, 20});
  auto a = b.Op("Relu",
                {b.Op("Conv",
                      {x, b.Const("w0", RandomTensor({32, 16, 3, 3}, 31, -.2f, .2f)),
                       b.Const("b0", RandomTensor({32}, 32, -.1f, .1f))},
                      {{"pads", Ints({1, 1, 1, 1})}})},
                {}, "a");
  auto c = b.Op("Conv",
                {a, b.Const("w1", RandomTensor({32, 32, 3, 3}, 33, -.1f, .1f)),
                 b.Const("b1", RandomTensor({32}, 34, -.1f, .1f))},
                {{"pads", Ints({2, 2, 2, 2})}, {"dilations", Ints({2, 2})}});
  auto sum = b.Op("Add", {b.Op("Relu", {c}), a});
  auto cat = b.Op("Concat", {sum, a}, {{"axis", Int(1)}});
  auto pool = b.Op("MaxPool", {cat}, {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}});
  auto up = b.Op("Resize", {pool, "", b.Const("scales", Tensor::Floats({4}, {1, 1, 2, 2}))},
                 {{"mode", Str("linear")}});
  auto last = b.Op("Conv", {up, b.Const("w2", RandomTensor({1, 64, 3, 3}, 35, -.1f, .1f))},
                   {{"pads", Ints({1, 1, 1, 1})}});
  b.Output(b.Op("Sigmoid", {last}));
  return b.graph();
}

std::unique_ptr<Session> Load(const Graph& g, Precision p, std::shared_ptr<const Calibration> c) {
  SessionOptions opts;
  opts.precision = p;
  opts.outputs = g.outputs;
  opts.calibration = std::move(c);
  auto s = Session::FromGraph(g, opts);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

TEST(Int8, CalibratedConvolutionsRunU8S8CloseToTheReference) {
  const Graph g = Rsu();
  std::vector<std::vector<Tensor>> samples;
  // The model input is signed and lopsided ([-0.5, 1.5]), so a zero point in the wrong place
  // or with the wrong sign shows in the outputs.
  const auto input = [](uint32_t seed) { return RandomTensor({1, 16, 24, 20}, seed, -.5f, 1.5f); };
  for (uint32_t seed : {41u, 42u, 43u}) samples.push_back({input(seed)});
  auto fp32 = Load(g, Precision::kFloat32, nullptr);
  ASSERT_TRUE(fp32);
  auto calib = fp32->Calibrate(samples);
  ASSERT_TRUE(calib.ok()) << calib.status().ToString();
  // Every conv input was seen: the model input (signed) and the relu outputs (>= 0).
  ASSERT_EQ(calib->ranges.count("x"), 1u);
  EXPECT_LT(calib->ranges.at("x").min, 0.f);
  ASSERT_EQ(calib->ranges.count("a"), 1u);
  EXPECT_GE(calib->ranges.at("a").min, 0.f);
  EXPECT_GT(calib->ranges.at("a").max, 0.f);
  EXPECT_EQ(calib->ranges.size(), 3u);

  auto shared = std::make_shared<const Calibration>(*calib);
  auto int8 = Load(g, Precision::kInt8, shared);
  ASSERT_TRUE(int8);
  auto stats = int8->Prepare({{1, 16, 24, 20}});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  // The dilated conv and the last conv read ReLU outputs (u8). The first reads x < 0: s8 where
  // the CPU has VNNI, u8 with a zero point without.
  EXPECT_EQ(stats->int8_convs, 3);
  EXPECT_EQ(stats->float_convs, 0);
  // Kept u8 between the convs: the sum (read only by the concat: its scale), and the concat,
  // pool and resize (one scale, the last conv's source). `a` is also a residual operand, which
  // stays float, and the last conv's output feeds the Sigmoid, in float.
  EXPECT_EQ(stats->u8_activations, 4);

  Graph promoted = g;
  PromoteFloat16(promoted);
  for (uint32_t seed : {41u, 44u}) {  // a calibration sample and an unseen one
    SCOPED_TRACE(seed);
    const Tensor in = input(seed);
    auto expected = ref::RunGraph(promoted, {in});
    ASSERT_TRUE(expected.ok());
    auto got = int8->Run({in});
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    const Diff d = Compare((*got)[0], (*expected)[0]);
    EXPECT_LE(d.rel_l2, 0.02) << "max_abs " << d.max_abs;
    EXPECT_LE(d.max_abs, 0.05);
  }

  // Listed float nodes stay float.
  Calibration all_float = *calib;
  for (const auto& n : g.nodes)
    if (n.op == "Conv") all_float.float_nodes.insert(n.name);
  auto none = Load(g, Precision::kInt8, std::make_shared<const Calibration>(all_float));
  ASSERT_TRUE(none);
  auto none_stats = none->Prepare({{1, 16, 24, 20}});
  ASSERT_TRUE(none_stats.ok());
  EXPECT_EQ(none_stats->int8_convs, 0);
  EXPECT_EQ(none_stats->float_convs, 3);
}

// The u8 Resize an int8 plan runs between its convs is the float one rounded to nearest, for a
// channel count of whole 8-lane vectors (64) and one with a scalar tail (13).
TEST(Int8, U8ResizeIsTheFloatInterpolationRounded) {
  ResizeParams p;
  p.mode = ResizeMode::kLinear;
  p.coord = CoordMode::kHalfPixel;
  p.scales = {1, 1, 2.5f, 2};
  const int64_t h = 7, w = 6, oh = 17, ow = 12;
  for (int64_t c : {64, 13}) {
    SCOPED_TRACE(c);
    std::vector<uint8_t> src(static_cast<size_t>(h * w * c));
    uint32_t seed = 7;
    for (auto& v : src) v = static_cast<uint8_t>((seed = seed * 1664525u + 1013904223u) >> 24);
    std::vector<float> srcf(src.begin(), src.end());
    std::vector<uint8_t> got(static_cast<size_t>(oh * ow * c));
    std::vector<float> want(got.size());
    ResizeSpatial(p, src.data(), got.data(), DType::kUInt8, 1, c, h, w, oh, ow);
    ResizeSpatial(p, srcf.data(), want.data(), DType::kFloat32, 1, c, h, w, oh, ow);
    int off = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      // The same value up to float rounding of a tie; never more than one level.
      const float d = std::abs(static_cast<float>(got[i]) - std::nearbyint(want[i]));
      ASSERT_LE(d, 1.f) << i;
      off += d > 0;
    }
    EXPECT_LE(off, static_cast<int>(got.size()) / 100);
  }
}

// The model's weights are fp16, which the plan widens per conv (row by row for int8) instead
// of the passes widening all of them up front: the outputs must be the very same as for the
// same weights given as float32.
TEST(Int8, HalfWeightsGiveTheSameOutputsAsTheirFloat32Widening) {
  Graph half = Rsu();
  for (auto& [name, t] : half.initializers) {
    if (name[0] == 'w' || name[0] == 'b') t = t.CastTo(DType::kFloat16);
  }
  Graph widened = half;
  PromoteFloat16(widened);
  ASSERT_EQ(widened.initializers.at("w1").dtype(), DType::kFloat32);
  std::vector<std::vector<Tensor>> samples{{RandomTensor({1, 16, 24, 20}, 41)}};
  auto fp32 = Load(widened, Precision::kFloat32, nullptr);
  ASSERT_TRUE(fp32);
  auto calib = fp32->Calibrate(samples);
  ASSERT_TRUE(calib.ok()) << calib.status().ToString();
  auto shared = std::make_shared<const Calibration>(*calib);
  const Tensor in = RandomTensor({1, 16, 24, 20}, 44);
  for (Precision p : {Precision::kFloat32, Precision::kInt8}) {
    SCOPED_TRACE(PrecisionName(p));
    auto a = Load(half, p, shared);
    auto b = Load(widened, p, shared);
    ASSERT_TRUE(a && b);
    auto ra = a->Run({in});
    auto rb = b->Run({in});
    ASSERT_TRUE(ra.ok() && rb.ok());
    ASSERT_EQ((*ra)[0].bytes(), (*rb)[0].bytes());
    EXPECT_EQ(std::memcmp((*ra)[0].raw(), (*rb)[0].raw(), (*ra)[0].bytes()), 0);
  }
}

TEST(Int8, RefusedWithoutCalibrationAndNamedEverywhere) {
  SessionOptions opts;
  opts.precision = Precision::kInt8;
  opts.outputs = Rsu().outputs;
  auto s = Session::FromGraph(Rsu(), opts);
  EXPECT_EQ(s.status().code(), "not_calibrated");
  EXPECT_EQ(*ParsePrecision("INT8"), Precision::kInt8);
  EXPECT_STREQ(PrecisionName(Precision::kInt8), "int8");
  EXPECT_EQ(ResolvePrecision(Precision::kAuto, true), Precision::kInt8);
  EXPECT_EQ(Int8WeightLevels(), DetectCpu().vnni ? 127 : 63);
}

}  // namespace
}  // namespace bgerase::engine::testing
