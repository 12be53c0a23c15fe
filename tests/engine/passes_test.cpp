// Each graph pass alone, and the memory planner through Session::Prepare.
#include "engine/passes.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "graph_builder.h"

namespace bgerase::engine::testing {
namespace {

int CountOp(const Graph& g, const std::string& op) {
  return static_cast<int>(
      std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op == op; }));
}

TEST(PassesTest, TopologicalSortOrdersShuffledNodesAndFindsCycles) {
  GraphBuilder b;
  auto x = b.Input("x", {1, 4});
  auto a = b.Op("Relu", {x});
  auto c = b.Op("Sigmoid", {a});
  b.Output(b.Op("Relu", {c}));
  Graph g = b.graph();
  std::reverse(g.nodes.begin(), g.nodes.end());
  ASSERT_TRUE(TopologicalSort(g).ok());
  EXPECT_EQ(g.nodes[0].outputs[0], a);
  EXPECT_EQ(g.nodes[1].outputs[0], c);
  g.nodes[0].inputs[0] = g.nodes[2].outputs[0];  // a now reads the last node's output
  Status st = TopologicalSort(g);
  EXPECT_EQ(st.code(), "invalid_model");
  EXPECT_NE(st.message().find("cycle"), std::string::npos);
}

TEST(PassesTest, SelectOutputsDropsWhatTheOutputDoesNotNeed) {
  GraphBuilder b;
  auto x = b.Input("x", {1, 4});
  auto main = b.Op("Relu", {x});
  auto side = b.Op("Sigmoid", {x});
  b.Output(main);
  b.Output(b.Op("Relu", {side}));
  Graph g = b.graph();
  ASSERT_TRUE(SelectOutputs(g, {main}).ok());
  EXPECT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.outputs, std::vector<std::string>{main});
  EXPECT_EQ(SelectOutputs(g, {"nope"}).code(), "invalid_model");
}

TEST(PassesTest, PromoteFloat16WidensWeightsAndCasts) {
  GraphBuilder b;
  auto x = b.Input("x", {1, 2});
  auto w = b.Const("w", Tensor::Floats({2}, {0.5f, -1.5f}).CastTo(DType::kFloat16));
  auto c = b.Op("Cast", {x}, {{"to", Int(10)}});
  b.Output(b.Op("Add", {c, w}));
  Graph g = b.graph();
  PromoteFloat16(g);
  EXPECT_EQ(g.initializers.at("w").dtype(), DType::kFloat32);
  EXPECT_EQ(g.initializers.at("w").AsFloats(), (std::vector<float>{0.5f, -1.5f}));
  EXPECT_EQ(g.nodes[0].Int("to", 0), 1);
}

TEST(PassesTest, PromoteFloat16CanKeepWeightsOnlyConvsRead) {
  GraphBuilder b;
  auto x = b.Input("x", {1, 2, 4, 4});
  auto half = [](Tensor t) { return t.CastTo(DType::kFloat16); };
  auto w = b.Const("w", half(RandomTensor({2, 2, 1, 1}, 1)));
  auto bias = b.Const("bias", half(RandomTensor({2}, 2)));
  auto shared = b.Const("shared", half(RandomTensor({2, 2, 1, 1}, 3)));
  auto y = b.Op("Conv", {x, w, bias});
  auto z = b.Op("Conv", {y, shared});
  b.Output(b.Op("Add", {z, shared}));  // also read by a non-conv: must be widened
  Graph kept = b.graph();
  PromoteFloat16(kept, /*keep_conv_weights=*/true);
  EXPECT_EQ(kept.initializers.at("w").dtype(), DType::kFloat16);
  EXPECT_EQ(kept.initializers.at("bias").dtype(), DType::kFloat16);
  EXPECT_EQ(kept.initializers.at("shared").dtype(), DType::kFloat32);
  Graph all = b.graph();
  PromoteFloat16(all);
  EXPECT_EQ(all.initializers.at("w").dtype(), DType::kFloat32);
}

// The ISNet pattern: Resize(a, sizes = Concat(const [N, C], Slice(Shape(b), 2, 4))).
Graph UpsampleLike() {
  GraphBuilder b;
  auto x = b.Input("x", {1, 16, -1, -1});
  auto big = b.Op("Conv", {x, b.Const("w", RandomTensor({16, 16, 3, 3}, 1, -.1f, .1f))},
                  {{"pads", Ints({1, 1, 1, 1})}});
  auto small =
      b.Op("MaxPool", {big},
           {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}, {"ceil_mode", Int(1)}});
  auto shape = b.Op("Shape", {big});
  auto hw = b.Op("Slice", {shape, b.Const("s", Tensor::Int64s({1}, {2})),
                           b.Const("e", Tensor::Int64s({1}, {4}))});
  auto sizes =
      b.Op("Concat", {b.Const("nc", Tensor::Int64s({2}, {1, 16})), hw}, {{"axis", Int(0)}});
  auto up = b.Op("Resize", {small, "", "", sizes}, {{"mode", Str("linear")}});
  b.Output(b.Op("Add", {up, big}));
  return b.graph();
}

TEST(PassesTest, SpecializeFoldsShapeArithmeticForEachInputSize) {
  for (int64_t h : {16, 17, 33}) {
    Graph g = UpsampleLike();
    auto types = Specialize(g, {{"x", {1, 16, h, 20}}});
    ASSERT_TRUE(types.ok()) << types.status().ToString();
    EXPECT_EQ(CountOp(g, "Shape") + CountOp(g, "Slice") + CountOp(g, "Concat"), 0);
    ASSERT_EQ(CountOp(g, "Resize"), 1);
    const Node& r = *std::find_if(g.nodes.begin(), g.nodes.end(),
                                  [](const Node& n) { return n.op == "Resize"; });
    EXPECT_EQ(g.initializers.at(r.inputs[3]).AsInt64s(), (std::vector<int64_t>{1, 16, h, 20}));
    EXPECT_EQ(types->at(g.outputs[0]).shape, (Shape{1, 16, h, 20}));
  }
  // Odd sizes run end to end through every pass and the plan, too.
  for (Precision p : {Precision::kFloat32, Precision::kBFloat16}) {
    ExpectMatchesReference(UpsampleLike(), {RandomTensor({1, 16, 17, 11}, 2)}, p);
  }
}

TEST(PassesTest, SpecializeRejectsShapesTheGraphDoesNotAccept) {
  Graph g = UpsampleLike();
  auto wrong_channels = Specialize(g, {{"x", {1, 3, 16, 16}}});
  ASSERT_FALSE(wrong_channels.ok());
  EXPECT_EQ(wrong_channels.status().code(), "shape_mismatch");
  Graph g2 = UpsampleLike();
  auto wrong_rank = Specialize(g2, {{"x", {1, 16, 16}}});
  EXPECT_EQ(wrong_rank.status().code(), "shape_mismatch");
}

TEST(PassesTest, RemoveNoOpCastsKeepsOutputNames) {
  GraphBuilder b;
  auto x = b.Input("x", {1, 16, 4, 4});
  auto c = b.Op("Conv", {x, b.Const("w", RandomTensor({16, 16, 1, 1}, 3))});
  auto h = b.Op("Cast", {c}, {{"to", Int(10)}});
  auto r = b.Op("Relu", {h});
  b.Output(b.Op("Cast", {r}, {{"to", Int(1)}}, "output"));
  Graph g = b.graph();
  PromoteFloat16(g);
  auto types = Specialize(g, {{"x", {1, 16, 4, 4}}});
  ASSERT_TRUE(types.ok());
  RemoveNoOpCasts(g, *types);
  EXPECT_EQ(CountOp(g, "Cast"), 0);
  EXPECT_EQ(g.nodes.back().outputs[0], "output");
  ASSERT_TRUE(TopologicalSort(g).ok());
}

TEST(PassesTest, FuseConvPostOpsOnlyWhenTheConvOutputHasOneReader) {
  GraphBuilder b;
  auto x = b.Input("x", {1, 16, 4, 4});
  auto w = b.Const("w", RandomTensor({16, 16, 3, 3}, 4));
  auto c1 = b.Op("Conv", {x, w}, {{"pads", Ints({1, 1, 1, 1})}});
  auto r1 = b.Op("Relu", {c1});
  auto c2 = b.Op("Conv", {r1, w}, {{"pads", Ints({1, 1, 1, 1})}});
  auto s = b.Op("Add", {b.Op("Relu", {c2}), r1});
  auto c3 = b.Op("Conv", {s, w}, {{"pads", Ints({1, 1, 1, 1})}});
  b.Output(b.Op("Add", {b.Op("Relu", {c3}), c3}));  // c3 read twice: nothing fuses into it
  Graph g = b.graph();
  auto types = Specialize(g, {{"x", {1, 16, 4, 4}}});
  ASSERT_TRUE(types.ok());
  FuseConvPostOps(g, *types);
  ASSERT_TRUE(TopologicalSort(g).ok());
  ASSERT_EQ(CountOp(g, "Conv"), 3);
  EXPECT_EQ(g.nodes[0].fused.size(), 1u);
  ASSERT_EQ(g.nodes[1].fused.size(), 2u);
  EXPECT_EQ(g.nodes[1].fused[1].kind, FusedOp::Kind::kAdd);
  EXPECT_EQ(g.nodes[1].fused[1].operand, r1);
  EXPECT_EQ(g.nodes[2].fused.size(), 0u);
  EXPECT_EQ(CountOp(g, "Relu"), 1);
  EXPECT_EQ(CountOp(g, "Add"), 1);
}

TEST(PassesTest, MemoryPlanReusesDeadActivations) {
  GraphBuilder b;
  std::string v = b.Input("x", {1, 16, 32, 32});
  for (int i = 0; i < 12; ++i) {
    v = b.Op(
        "Relu",
        {b.Op("Conv",
              {v, b.Const("w" + std::to_string(i), RandomTensor({16, 16, 3, 3}, 5 + i, -.1f, .1f))},
              {{"pads", Ints({1, 1, 1, 1})}})});
  }
  b.Output(v);
  PlanStats stats;
  ExpectMatchesReference(b.graph(), {RandomTensor({1, 16, 32, 32}, 40)}, Precision::kFloat32,
                         &stats);
  const size_t activation = 16 * 32 * 32 * 4;
  // 13 activations exist over the run; liveness keeps at most two alive at once.
  EXPECT_LE(stats.arena_bytes, 2 * activation + 256);
  EXPECT_EQ(stats.fused_post_ops, 12);
}

}  // namespace
}  // namespace bgerase::engine::testing
