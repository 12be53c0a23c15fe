// A plan runs on any thread, not only the one that built it: the server compiles the model on its
// loader thread and runs it on worker threads. On CPUs without AVX-512 (and under
// DNNL_MAX_CPU_ISA=AVX2 or SSE41, which CTest also runs) the dilated convolutions go through
// oneDNN's im2col gemm, whose scratchpad must not belong to the building thread.
#include <gtest/gtest.h>

#include <thread>

#include "graph_builder.h"

namespace bgerase::engine::testing {
namespace {

// ISNet's shapes that need a scratchpad below AVX-512: the dilation-8 3x3 (256 -> 256 on 32x32,
// which oneDNN's direct kernels do not take, so it runs as im2col + gemm in plain layout),
// a single-output-channel side conv and a 5x5 stride-2 conv, with pooling and resizing between.
Graph ScratchpadHeavyGraph() {
  GraphBuilder b;
  auto x = b.Input("x", {1, 256, 32, 32});
  auto d = b.Op("Relu", {b.Op("Conv",
                              {x, b.Const("w0", RandomTensor({256, 256, 3, 3}, 21, -.05f, .05f)),
                               b.Const("b0", RandomTensor({256}, 22))},
                              {{"pads", Ints({8, 8, 8, 8})}, {"dilations", Ints({8, 8})}})});
  auto p = b.Op("MaxPool", {d},
                {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}, {"ceil_mode", Int(1)}});
  auto s = b.Op("Conv", {p, b.Const("w1", RandomTensor({32, 256, 5, 5}, 23, -.02f, .02f))},
                {{"pads", Ints({2, 2, 2, 2})}, {"strides", Ints({2, 2})}});
  auto side = b.Op("Conv", {s, b.Const("w2", RandomTensor({1, 32, 3, 3}, 24, -.2f, .2f))},
                   {{"pads", Ints({1, 1, 1, 1})}});
  b.Output(b.Op("Sigmoid", {side}));
  return b.graph();
}

class PlanThreads : public ::testing::TestWithParam<Precision> {};

TEST_P(PlanThreads, PlanBuiltOnOneThreadRunsOnOthers) {
  const Graph g = ScratchpadHeavyGraph();
  const Tensor input = RandomTensor({1, 256, 32, 32}, 25);
  auto expected = ref::RunGraph(g, {input});
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();

  SessionOptions opts;
  opts.precision = GetParam();
  opts.outputs = g.outputs;
  auto session = Session::FromGraph(g, opts);
  if (!Runs(GetParam())) {
    EXPECT_EQ(session.status().code(), "unsupported_precision");
    return;
  }
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  Session& s = **session;

  Status built;
  std::thread loader([&] {
    auto st = s.Prepare({input.shape()});
    built = st.ok() ? Status() : st.status();
  });
  loader.join();
  ASSERT_TRUE(built.ok()) << built.ToString();

  // Two fresh threads that never created a primitive, then the test's own thread.
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    Result<std::vector<Tensor>> got = Status("not_run", "");
    if (round < 2) {
      std::thread worker([&] { got = s.Run({input}); });
      worker.join();
    } else {
      got = s.Run({input});
    }
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    const Diff diff = Compare((*got)[0], (*expected)[0]);
    EXPECT_LE(GetParam() == Precision::kFloat32 ? diff.max_abs : diff.rel_l2,
              GetParam() == Precision::kFloat32 ? 1e-4 : 1e-2);
  }
}

INSTANTIATE_TEST_SUITE_P(Precisions, PlanThreads,
                         ::testing::Values(Precision::kFloat32, Precision::kBFloat16),
                         [](const auto& info) { return std::string(PrecisionName(info.param)); });

}  // namespace
}  // namespace bgerase::engine::testing
