// Every op the plan runs, against its reference kernel, in fp32 and bf16, across the
// attribute combinations the model and ONNX allow: layouts (plain and 16-channel blocked),
// dilations, strides, groups, ceil_mode, each resize mode, odd sizes, fused post-ops.
#include <gtest/gtest.h>

#include "graph_builder.h"

namespace bgerase::engine::testing {
namespace {

class OpTest : public ::testing::TestWithParam<Precision> {};

struct ConvCase {
  int64_t c, oc, h, w, k, stride, dil, pad, group;
  bool bias;
};

TEST_P(OpTest, Conv) {
  const std::vector<ConvCase> cases = {
      {3, 16, 17, 13, 3, 2, 1, 1, 1, true},    // model-like first conv, odd size, stride 2
      {16, 32, 12, 12, 3, 1, 1, 1, 1, true},   // blocked in, blocked out
      {32, 32, 16, 16, 3, 1, 2, 2, 1, true},   // dilation 2
      {32, 16, 32, 32, 3, 1, 8, 8, 1, false},  // dilation 8 on a small map (oneDNN's ref path)
      {32, 32, 9, 11, 3, 1, 4, 4, 1, true},    // dilation 4, odd size
      {5, 7, 10, 9, 3, 1, 1, 0, 1, true},      // plain in and out, no padding
      {32, 1, 20, 20, 3, 1, 1, 1, 1, true},    // single output channel (the side output)
      {32, 32, 8, 8, 3, 1, 1, 1, 2, true},     // grouped
      {16, 16, 8, 8, 3, 1, 1, 1, 16, true},    // depthwise
      {16, 32, 15, 15, 1, 1, 1, 0, 1, true},   // 1x1
      {16, 16, 14, 10, 5, 2, 1, 2, 1, true},   // 5x5 stride 2
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << "c" << c.c << " oc" << c.oc << " " << c.h << "x" << c.w << " k" << c.k << " s"
                 << c.stride << " d" << c.dil << " g" << c.group);
    GraphBuilder b;
    auto x = b.Input("x", {1, c.c, c.h, c.w});
    auto w = b.Const("w", RandomTensor({c.oc, c.c / c.group, c.k, c.k}, 2, -0.3f, 0.3f));
    std::vector<std::string> in = {x, w};
    if (c.bias) in.push_back(b.Const("b", RandomTensor({c.oc}, 3)));
    auto y = b.Op("Conv", in,
                  {{"kernel_shape", Ints({c.k, c.k})},
                   {"strides", Ints({c.stride, c.stride})},
                   {"dilations", Ints({c.dil, c.dil})},
                   {"pads", Ints({c.pad, c.pad, c.pad, c.pad})},
                   {"group", Int(c.group)}});
    b.Output(y);
    ExpectMatchesReference(b.graph(), {RandomTensor({1, c.c, c.h, c.w}, 1)}, GetParam());
  }
}

TEST_P(OpTest, ConvWithFusedReluAndResidualAdd) {
  // The RSU block's tail: relu(conv(x)) + skip, written into a concat slice.
  GraphBuilder b;
  auto x = b.Input("x", {1, 16, 20, 18});
  auto skip =
      b.Op("Relu", {b.Op("Conv", {x, b.Const("w0", RandomTensor({32, 16, 3, 3}, 5, -.2f, .2f))},
                         {{"pads", Ints({1, 1, 1, 1})}})});
  auto conv = b.Op("Conv",
                   {skip, b.Const("w1", RandomTensor({32, 32, 3, 3}, 6, -.2f, .2f)),
                    b.Const("b1", RandomTensor({32}, 7))},
                   {{"pads", Ints({2, 2, 2, 2})}, {"dilations", Ints({2, 2})}});
  auto sum = b.Op("Add", {b.Op("Relu", {conv}), skip});
  auto cat = b.Op("Concat", {sum, skip}, {{"axis", Int(1)}});
  b.Output(cat);
  PlanStats stats;
  ExpectMatchesReference(b.graph(), {RandomTensor({1, 16, 20, 18}, 8)}, GetParam(), &stats);
  if (!Runs(GetParam())) return;
  EXPECT_EQ(stats.fused_post_ops, 3);  // relu, then relu + add
  // Both concat inputs are written in place, although `skip` is also read by two other nodes.
  EXPECT_EQ(stats.concats_in_place, 1);
}

TEST_P(OpTest, MaxPool) {
  struct Case {
    int64_t c, h, w, k, s, pad;
    bool ceil;
  };
  for (const Case& c : std::vector<Case>{{16, 17, 13, 2, 2, 0, true},
                                         {16, 17, 13, 2, 2, 0, false},
                                         {3, 9, 9, 3, 2, 1, true},
                                         {32, 8, 8, 2, 2, 0, true},
                                         {5, 7, 12, 3, 3, 0, true}}) {
    SCOPED_TRACE(::testing::Message()
                 << c.c << "x" << c.h << "x" << c.w << " k" << c.k << " ceil" << c.ceil);
    GraphBuilder b;
    auto x = b.Input("x", {1, c.c, c.h, c.w});
    b.Output(b.Op("MaxPool", {x},
                  {{"kernel_shape", Ints({c.k, c.k})},
                   {"strides", Ints({c.s, c.s})},
                   {"pads", Ints({c.pad, c.pad, c.pad, c.pad})},
                   {"ceil_mode", Int(c.ceil)}}));
    ExpectMatchesReference(b.graph(), {RandomTensor({1, c.c, c.h, c.w}, 11)}, GetParam());
  }
}

TEST_P(OpTest, ResizeEveryMode) {
  const std::vector<std::string> coords = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                           "asymmetric"};
  const std::vector<std::string> nearest = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                            "ceil"};
  struct Size {
    int64_t c, h, w, oh, ow;
  };
  for (const Size& s : std::vector<Size>{{16, 7, 9, 14, 18},    // 2x up, blocked
                                         {3, 10, 10, 23, 7},    // odd up and down, plain
                                         {32, 16, 16, 8, 5},    // down
                                         {1, 5, 5, 20, 20}}) {  // 1 channel, 4x up
    for (const auto& cm : coords) {
      for (const std::string mode : {"linear", "nearest"}) {
        for (const auto& nm :
             mode == std::string("linear") ? std::vector<std::string>{"floor"} : nearest) {
          SCOPED_TRACE(::testing::Message() << mode << " " << cm << " " << nm << " " << s.c << "x"
                                            << s.h << "x" << s.w << "->" << s.oh << "x" << s.ow);
          GraphBuilder b;
          auto x = b.Input("x", {1, s.c, s.h, s.w});
          auto sizes = b.Const("sizes", Tensor::Int64s({4}, {1, s.c, s.oh, s.ow}));
          b.Output(b.Op("Resize", {x, "", "", sizes},
                        {{"mode", Str(mode)},
                         {"coordinate_transformation_mode", Str(cm)},
                         {"nearest_mode", Str(nm)}}));
          ExpectMatchesReference(b.graph(), {RandomTensor({1, s.c, s.h, s.w}, 12)}, GetParam());
        }
      }
    }
  }
}

TEST_P(OpTest, ResizeByScales) {
  GraphBuilder b;
  auto x = b.Input("x", {1, 16, 6, 5});
  auto scales = b.Const("scales", Tensor::Floats({4}, {1, 1, 2, 3}));
  b.Output(b.Op("Resize", {x, "", scales}, {{"mode", Str("linear")}}));
  ExpectMatchesReference(b.graph(), {RandomTensor({1, 16, 6, 5}, 13)}, GetParam());
}

TEST_P(OpTest, ConcatInPlaceAndFallback) {
  for (int64_t c2 : {16, 5}) {  // 16: written in place; 5: not block-aligned, copied
    SCOPED_TRACE(c2);
    GraphBuilder b;
    auto x = b.Input("x", {1, 16, 9, 7});
    auto a = b.Op("Relu", {x});
    auto w = b.Const("w", RandomTensor({c2, 16, 3, 3}, 14, -.2f, .2f));
    auto c = b.Op("Conv", {x, w}, {{"pads", Ints({1, 1, 1, 1})}});
    b.Output(b.Op("Concat", {a, c}, {{"axis", Int(1)}}));
    PlanStats stats;
    ExpectMatchesReference(b.graph(), {RandomTensor({1, 16, 9, 7}, 15)}, GetParam(), &stats);
    if (Runs(GetParam())) {
      EXPECT_EQ(stats.concats_in_place, c2 == 16 ? 1 : 0);
    }
  }
}

TEST_P(OpTest, ElementwiseOps) {
  GraphBuilder b;
  auto x = b.Input("x", {1, 16, 5, 6});
  auto y = b.Input("y", {1, 16, 5, 6});
  auto s = b.Op("Add", {x, y});
  auto m = b.Op("Mul", {s, b.Const("scale", RandomTensor({1, 16, 1, 1}, 16))});
  auto r = b.Op("Relu", {m});
  b.Output(b.Op("Sigmoid", {r}));
  b.Output(m);
  ExpectMatchesReference(
      b.graph(), {RandomTensor({1, 16, 5, 6}, 17), RandomTensor({1, 16, 5, 6}, 18)}, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Precisions, OpTest,
                         ::testing::Values(Precision::kFloat32, Precision::kBFloat16),
                         [](const auto& info) { return std::string(PrecisionName(info.param)); });

}  // namespace
}  // namespace bgerase::engine::testing
