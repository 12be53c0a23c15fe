// The ONNX loader on models built here with the ONNX protobuf classes: a good model loads and
// runs; malformed, truncated and unsupported ones fail with a clear error, never a crash.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstdio>
#include <fstream>

#include "engine/onnx_loader.h"
#include "graph_builder.h"

namespace bgerase::engine::testing {
namespace {

// input(1x16x8x8) -> Cast fp16 -> Conv(fp16 weights) -> Relu -> Cast fp32 -> output
std::string TinyModel(const std::string& op = "Relu", bool external = false) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(15);
  auto* g = m.mutable_graph();
  auto io = [](onnx::ValueInfoProto* vi, const std::string& name) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {1, 16, 8, 8}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  };
  io(g->add_input(), "input");
  io(g->add_output(), "output");
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT16);
  for (int64_t d : {16, 16, 3, 3}) w->add_dims(d);
  Tensor wt = RandomTensor({16, 16, 3, 3}, 9, -.2f, .2f).CastTo(DType::kFloat16);
  w->set_raw_data(std::string(static_cast<const char*>(wt.raw()), wt.bytes()));
  if (external) w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto node = [&](const std::string& type, std::vector<std::string> in, const std::string& out) {
    auto* n = g->add_node();
    n->set_op_type(type);
    n->set_name("/" + out);
    for (auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  };
  auto* c0 = node("Cast", {"input"}, "x16");
  auto* a = c0->add_attribute();
  a->set_name("to");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(onnx::TensorProto::FLOAT16);
  auto* conv = node("Conv", {"x16", "w"}, "conv");
  auto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
  node(op, {"conv"}, "act");
  auto* c1 = node("Cast", {"act"}, "output");
  auto* b = c1->add_attribute();
  b->set_name("to");
  b->set_type(onnx::AttributeProto::INT);
  b->set_i(onnx::TensorProto::FLOAT);
  return m.SerializeAsString();
}

TEST(LoaderTest, LoadsAndRunsAnFp16Model) {
  auto g = LoadOnnxBytes(TinyModel(), "tiny");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->initializers.at("w").dtype(), DType::kFloat16);
  for (Precision p : {Precision::kFloat32, Precision::kBFloat16}) {
    ExpectMatchesReference(*g, {RandomTensor({1, 16, 8, 8}, 3)}, p);
  }
}

TEST(LoaderTest, TruncatedAndGarbageBytesAreErrorsNotCrashes) {
  const std::string good = TinyModel();
  int failures = 0;
  for (size_t len = 0; len < good.size(); len += std::max<size_t>(1, good.size() / 97)) {
    auto g = LoadOnnxBytes(good.substr(0, len), "cut");
    if (!g.ok()) {
      EXPECT_EQ(g.status().code(), "invalid_model");
      ++failures;
      continue;
    }
    // A cut that happens to parse must still be rejected or run safely.
    auto s = Session::FromGraph(std::move(g).value(), {});
    if (s.ok()) (void)(*s)->Prepare({{1, 16, 8, 8}});
  }
  EXPECT_GT(failures, 50);
  std::string garbage(4096, '\xff');
  EXPECT_EQ(LoadOnnxBytes(garbage, "garbage").status().code(), "invalid_model");
  EXPECT_EQ(LoadOnnxFile("/nonexistent/model.onnx").status().code(), "model_missing");
}

TEST(LoaderTest, UnknownOpIsNamed) {
  auto g = LoadOnnxBytes(TinyModel("Softmax"), "tiny");
  ASSERT_TRUE(g.ok());
  auto s = Session::FromGraph(std::move(g).value(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), "unsupported_op");
  EXPECT_NE(s.status().message().find("/act"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("Softmax"), std::string::npos);
}

TEST(LoaderTest, ExternalDataIsRefused) {
  auto g = LoadOnnxBytes(TinyModel("Relu", true), "tiny");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("external"), std::string::npos);
}

TEST(LoaderTest, WrongInputShapeIsAnErrorWithTheDeclaredShape) {
  auto g = LoadOnnxBytes(TinyModel(), "tiny");
  ASSERT_TRUE(g.ok());
  auto s = Session::FromGraph(std::move(g).value(), {});
  ASSERT_TRUE(s.ok());
  auto r = (*s)->Run({Tensor(DType::kFloat32, {1, 16, 9, 8})});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "shape_mismatch");
  EXPECT_NE(r.status().message().find("[1x16x8x8]"), std::string::npos) << r.status().message();
}

TEST(LoaderTest, Float32CopyHasNoHalfTensorsAndTheSameOutputs) {
  const std::string in = ::testing::TempDir() + "/tiny16.onnx",
                    out = ::testing::TempDir() + "/tiny32.onnx";
  std::ofstream(in, std::ios::binary) << TinyModel();
  ASSERT_TRUE(WriteFloat32Model(in, out).ok());
  auto g16 = LoadOnnxFile(in);
  auto g32 = LoadOnnxFile(out);
  ASSERT_TRUE(g32.ok());
  for (const auto& [name, t] : g32->initializers) EXPECT_EQ(t.dtype(), DType::kFloat32) << name;
  for (const auto& n : g32->nodes) {
    if (n.op == "Cast") {
      EXPECT_EQ(n.Int("to", 0), 1);
    }
  }
  const Tensor x = RandomTensor({1, 16, 8, 8}, 4);
  auto a = ref::RunGraph(*g16, {x});
  auto b = ref::RunGraph(*g32, {x});
  ASSERT_TRUE(a.ok() && b.ok());
  // The fp16 graph rounds activations to half in its casts; the fp32 copy does not.
  EXPECT_LT(Compare((*b)[0], (*a)[0]).max_abs, 5e-3);
  std::remove(in.c_str());
  std::remove(out.c_str());
}

}  // namespace
}  // namespace bgerase::engine::testing
