// Small helpers for engine tests: build graphs in code, make random tensors, compare outputs.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "engine/graph.h"
#include "engine/passes.h"
#include "engine/reference/reference.h"
#include "engine/session.h"

namespace bgerase::engine::testing {

inline Tensor RandomTensor(const Shape& s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  Tensor t(DType::kFloat32, s);
  for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

inline Attribute Ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
inline Attribute Int(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}
inline Attribute Str(std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

class GraphBuilder {
 public:
  std::string Input(const std::string& name, const Shape& shape) {
    g_.inputs.push_back(name);
    g_.declared[name] = {DType::kFloat32, shape};
    return name;
  }
  std::string Const(const std::string& name, Tensor t) {
    g_.initializers[name] = std::move(t);
    return name;
  }
  std::string Op(const std::string& op, std::vector<std::string> inputs,
                 std::map<std::string, Attribute> attrs = {}, std::string out = "") {
    Node n;
    n.name = op + "_" + std::to_string(g_.nodes.size());
    n.op = op;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    n.outputs = {out.empty() ? n.name + "_out" : out};
    g_.nodes.push_back(n);
    return n.outputs[0];
  }
  void Output(const std::string& name) { g_.outputs.push_back(name); }
  Graph& graph() { return g_; }

 private:
  Graph g_;
};

// Whether this CPU runs precision `p` (bf16 needs AVX-512); tests of plan statistics use it.
inline bool Runs(Precision p) {
  return p != Precision::kBFloat16 || Bf16Available();
}

struct Diff {
  double max_abs = 0;
  double rel_l2 = 0;  // ||a-b|| / ||b||
  double ref_max = 0;
};

inline Diff Compare(const Tensor& a, const Tensor& ref) {
  Diff d;
  EXPECT_EQ(a.shape(), ref.shape());
  if (a.shape() != ref.shape()) return d;
  const auto fa = a.AsFloats(), fr = ref.AsFloats();
  double num = 0, den = 0;
  for (size_t i = 0; i < fa.size(); ++i) {
    const double e = std::abs(static_cast<double>(fa[i]) - fr[i]);
    d.max_abs = std::max(d.max_abs, e);
    d.ref_max = std::max(d.ref_max, std::abs(static_cast<double>(fr[i])));
    num += e * e;
    den += static_cast<double>(fr[i]) * fr[i];
  }
  d.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return d;
}

// Runs `g` on the engine in `p` precision and on the reference kernels; expects agreement:
// fp32 within 1e-4 relative to the output's magnitude, bf16 within 1% relative L2 error. The
// oracle runs the fp16-promoted graph: the engine's contract is to compute fp16 models in fp32.
inline void ExpectMatchesReference(const Graph& g, const std::vector<Tensor>& inputs, Precision p,
                                   PlanStats* stats = nullptr) {
  Graph promoted = g;
  PromoteFloat16(promoted);
  auto expected = ref::RunGraph(promoted, inputs);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  SessionOptions opts;
  opts.precision = p;
  opts.outputs = g.outputs;
  auto session = Session::FromGraph(g, opts);
  if (p == Precision::kBFloat16 && !Bf16Available()) {  // e.g. under DNNL_MAX_CPU_ISA=AVX2
    EXPECT_EQ(session.status().code(), "unsupported_precision");
    return;
  }
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  std::vector<Shape> shapes;
  for (const auto& t : inputs) shapes.push_back(t.shape());
  auto st = (*session)->Prepare(shapes);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  if (stats) *stats = *st;
  auto got = (*session)->Run(inputs);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), expected->size());
  for (size_t i = 0; i < got->size(); ++i) {
    const Diff d = Compare((*got)[i], (*expected)[i]);
    if (p == Precision::kFloat32) {
      EXPECT_LE(d.max_abs, 1e-4 * (1.0 + d.ref_max)) << "output " << i;
    } else {
      EXPECT_LE(d.rel_l2, 1e-2) << "output " << i << " max_abs " << d.max_abs;
    }
  }
}

}  // namespace bgerase::engine::testing
