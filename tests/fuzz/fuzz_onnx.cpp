// The ONNX loader (engine/onnx_loader.h) on arbitrary bytes as a model file, through
// LoadOnnxBytes (the same parse LoadOnnxFile runs on its mapping), then the first pass a session
// runs on it (TopologicalSort) and the op table's check. Seeds are small models built here with
// the ONNX protobuf classes (no binaries in the repository). Invariants:
// - a refusal is a Status with code invalid_model (the loader's one code) and a message that
//   names the origin; TopologicalSort refuses only with invalid_model, an unknown op is
//   unsupported_op;
// - an accepted graph is exactly the model, read again here with protobuf: its initializers (the
//   last of a name wins) with their dtype, dims and every value; its graph inputs (less those
//   that are initializers) and outputs, each declared; its nodes in order with op, inputs and
//   outputs; no dimension negative and every tensor's bytes equal to its elements x dtype size;
// - every node input names a graph input, an initializer or some node's output, every graph
//   output is produced, and after TopologicalSort each node input is defined before it is read;
//   a 100k-node chain sorts too (checked once: the sort once recursed per node).
#include <onnx/onnx_pb.h>

#include <cstring>
#include <map>
#include <set>
#include <string>

#include "engine/onnx_loader.h"
#include "engine/op_table.h"
#include "engine/passes.h"
#include "fuzz_driver.h"

using namespace bgerase::engine;  // NOLINT

namespace {

constexpr char kOrigin[] = "fuzz.onnx";

// Elements x dtype size, counted here without wrapping: zero when a dim is zero, else a product
// that must fit int64 (NumElements' own product would wrap and agree with a tensor of the
// wrapped size); and NumElements, which multiplies in order, gives the same count.
bool Consistent(const Tensor& t) {
  bool zero = false;
  for (int64_t d : t.shape()) {
    if (d < 0) return false;
    zero = zero || d == 0;
  }
  if (zero) return t.bytes() == 0 && t.size() == 0;
  int64_t count = 1;
  int64_t bytes = 0;
  for (int64_t d : t.shape())
    if (__builtin_mul_overflow(count, d, &count)) return false;
  if (__builtin_mul_overflow(count, static_cast<int64_t>(DTypeSize(t.dtype())), &bytes))
    return false;
  return t.size() == count && t.bytes() == static_cast<size_t>(bytes);
}

// The tensor holds exactly what `tp` says (dtype, dims, values), read independently of the
// loader's FromTensorProto.
bool SameTensor(const onnx::TensorProto& tp, const Tensor& t) {
  if (!Consistent(t)) return false;
  if (t.shape() != Shape(tp.dims().begin(), tp.dims().end())) return false;
  static const std::map<int, DType> kTypes = {{onnx::TensorProto::FLOAT, DType::kFloat32},
                                              {onnx::TensorProto::FLOAT16, DType::kFloat16},
                                              {onnx::TensorProto::BFLOAT16, DType::kBFloat16},
                                              {onnx::TensorProto::INT64, DType::kInt64},
                                              {onnx::TensorProto::INT32, DType::kInt32},
                                              {onnx::TensorProto::INT8, DType::kInt8},
                                              {onnx::TensorProto::UINT8, DType::kUInt8},
                                              {onnx::TensorProto::BOOL, DType::kBool}};
  const auto type = kTypes.find(tp.data_type());
  if (type == kTypes.end() || type->second != t.dtype()) return false;
  const auto* bytes = static_cast<const uint8_t*>(t.raw());
  if (tp.has_raw_data())
    return tp.raw_data().size() == t.bytes() &&
           (t.bytes() == 0 || std::memcmp(tp.raw_data().data(), bytes, t.bytes()) == 0);
  const size_t n = static_cast<size_t>(t.size());
  for (size_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(i);
    switch (t.dtype()) {
      case DType::kFloat32: {
        const float f = tp.float_data(k);
        if (std::memcmp(&f, bytes + 4 * i, 4) != 0) return false;
        break;
      }
      case DType::kInt64: {
        const int64_t v = tp.int64_data(k);
        if (std::memcmp(&v, bytes + 8 * i, 8) != 0) return false;
        break;
      }
      case DType::kInt32: {
        const int32_t v = tp.int32_data(k);
        if (std::memcmp(&v, bytes + 4 * i, 4) != 0) return false;
        break;
      }
      case DType::kFloat16:
      case DType::kBFloat16: {
        const auto v = static_cast<uint16_t>(tp.int32_data(k));
        if (std::memcmp(&v, bytes + 2 * i, 2) != 0) return false;
        break;
      }
      default:
        if (bytes[i] != static_cast<uint8_t>(tp.int32_data(k))) return false;
    }
  }
  return true;
}

onnx::ValueInfoProto* Value(onnx::ValueInfoProto* vi, const std::string& name,
                            std::initializer_list<int64_t> dims,
                            int type = onnx::TensorProto::FLOAT) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type);
  for (int64_t d : dims) {
    if (d < 0) {
      tt->mutable_shape()->add_dim()->set_dim_param("n");
    } else {
      tt->mutable_shape()->add_dim()->set_dim_value(d);
    }
  }
  return vi;
}

onnx::NodeProto* AddNode(onnx::GraphProto* g, const std::string& op,
                         std::initializer_list<std::string> in, const std::string& out) {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name("/" + out);
  for (const auto& i : in) n->add_input(i);
  n->add_output(out);
  return n;
}

onnx::AttributeProto* Attr(onnx::NodeProto* n, const std::string& name,
                           onnx::AttributeProto::AttributeType type) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(type);
  return a;
}

// A chain of 100k Identity nodes stored last first, so the sort walks all of it at once: no
// fuzz input is that long, and a recursive walk overflowed the stack on it. Checked once.
bool LongChainSorts() {
  constexpr int kNodes = 100'000;
  onnx::ModelProto m;
  auto* g = m.mutable_graph();
  Value(g->add_input(), "v0", {1});
  Value(g->add_output(), "v" + std::to_string(kNodes), {1});
  for (int i = kNodes - 1; i >= 0; --i)
    AddNode(g, "Identity", {"v" + std::to_string(i)}, "v" + std::to_string(i + 1));
  auto loaded = LoadOnnxBytes(m.SerializeAsString(), kOrigin);
  if (!loaded.ok() || !TopologicalSort(*loaded).ok()) return false;
  for (int i = 0; i < kNodes; ++i)
    if (loaded->nodes[i].inputs[0] != "v" + std::to_string(i)) return false;
  return true;
}

}  // namespace

// input(1x2x4x4) -> Conv(w, b) -> Relu -> Resize -> Add(Constant) -> output, with initializers in
// every storage form; and variants the loader must refuse.
std::vector<std::string> FuzzSeeds() {
  std::vector<std::string> seeds;
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  Value(g->add_input(), "input", {1, 2, -1, 4});
  Value(g->add_output(), "output", {1, 2, -1, 4});
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {2, 2, 1, 1}) w->add_dims(d);
  for (float f : {1.f, -.5f, .25f, 2.f}) w->add_float_data(f);
  auto* b = g->add_initializer();
  b->set_name("b");
  b->set_data_type(onnx::TensorProto::FLOAT16);
  b->add_dims(2);
  b->set_raw_data(std::string("\x00\x3c\x00\xbc", 4));  // 1, -1
  auto* scales = g->add_initializer();
  scales->set_name("scales");
  scales->set_data_type(onnx::TensorProto::INT64);
  scales->add_dims(4);
  for (int64_t v : {1, 2, 4, 4}) scales->add_int64_data(v);
  auto* flag = g->add_initializer();
  flag->set_name("flag");
  flag->set_data_type(onnx::TensorProto::BOOL);
  flag->add_dims(1);
  flag->add_int32_data(1);
  Value(g->add_input(), "w", {2, 2, 1, 1});  // an initializer listed as an input (older exporters)
  auto* conv = AddNode(g, "Conv", {"input", "w", "b"}, "conv");
  auto* pads = Attr(conv, "pads", onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(0);
  Attr(conv, "group", onnx::AttributeProto::INT)->set_i(1);
  AddNode(g, "Relu", {"conv"}, "relu");
  auto* resize = AddNode(g, "Resize", {"relu", "", "", "scales"}, "resized");
  Attr(resize, "mode", onnx::AttributeProto::STRING)->set_s("linear");
  Attr(resize, "cubic_coeff_a", onnx::AttributeProto::FLOAT)->set_f(-.75f);
  auto* c = AddNode(g, "Constant", {}, "k");
  auto* t = Attr(c, "value", onnx::AttributeProto::TENSOR)->mutable_t();
  t->set_data_type(onnx::TensorProto::BFLOAT16);
  t->add_int32_data(0x3f80);
  auto* floats = Attr(c, "unused", onnx::AttributeProto::FLOATS);
  floats->add_floats(1.5f);
  AddNode(g, "Add", {"resized", "k"}, "output");
  seeds.push_back(m.SerializeAsString());

  // Nodes out of order (the sort fixes it) and an op the engine does not know.
  onnx::ModelProto shuffled = m;
  shuffled.mutable_graph()->mutable_node()->SwapElements(0, 4);
  shuffled.mutable_graph()->mutable_node(1)->set_op_type("Softmax");
  seeds.push_back(shuffled.SerializeAsString());
  // A cycle.
  onnx::ModelProto cycle = m;
  cycle.mutable_graph()->mutable_node(0)->set_input(0, "output");
  seeds.push_back(cycle.SerializeAsString());
  // Refusals: external data, a foreign domain, an undefined value, a short tensor.
  onnx::ModelProto external = m;
  external.mutable_graph()->mutable_initializer(1)->set_data_location(onnx::TensorProto::EXTERNAL);
  seeds.push_back(external.SerializeAsString());
  onnx::ModelProto domain = m;
  domain.mutable_graph()->mutable_node(1)->set_domain("com.microsoft");
  seeds.push_back(domain.SerializeAsString());
  onnx::ModelProto undefined = m;
  undefined.mutable_graph()->mutable_node(1)->set_input(0, "nowhere");
  seeds.push_back(undefined.SerializeAsString());
  onnx::ModelProto shorter = m;
  shorter.mutable_graph()->mutable_initializer(0)->add_dims(3);
  seeds.push_back(shorter.SerializeAsString());
  // The smallest graph: input -> Identity -> output, int8 and uint8 tensors.
  onnx::ModelProto tiny;
  auto* tg = tiny.mutable_graph();
  Value(tg->add_input(), "x", {3}, onnx::TensorProto::INT8);
  Value(tg->add_output(), "y", {3}, onnx::TensorProto::UINT8);
  auto* i8 = tg->add_initializer();
  i8->set_name("i8");
  i8->set_data_type(onnx::TensorProto::INT8);
  i8->add_dims(3);
  for (int v : {-1, 0, 127}) i8->add_int32_data(v);
  AddNode(tg, "Identity", {"x"}, "y");
  seeds.push_back(tiny.SerializeAsString());
  return seeds;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool long_chain = LongChainSorts();
  FUZZ_CHECK(long_chain);
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto loaded = LoadOnnxBytes(bytes, kOrigin);
  if (!loaded.ok()) {
    FUZZ_CHECK(loaded.status().code() == "invalid_model");
    FUZZ_CHECK(loaded.status().message().rfind(kOrigin, 0) == 0);
    return 0;
  }
  Graph& g = *loaded;

  // The same bytes, read by protobuf alone: the graph must be exactly this model.
  onnx::ModelProto m;
  FUZZ_CHECK(m.ParseFromString(bytes) && m.has_graph());
  const onnx::GraphProto& gp = m.graph();
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& tp : gp.initializer()) inits[tp.name()] = &tp;
  FUZZ_CHECK(g.initializers.size() == inits.size());
  for (const auto& [name, tp] : inits) {
    const auto it = g.initializers.find(name);
    FUZZ_CHECK(it != g.initializers.end() && SameTensor(*tp, it->second));
  }
  std::vector<std::string> inputs;
  for (const auto& vi : gp.input())
    if (!inits.count(vi.name())) inputs.push_back(vi.name());
  FUZZ_CHECK(g.inputs == inputs && !inputs.empty());
  FUZZ_CHECK(static_cast<int>(g.outputs.size()) == gp.output_size() && !g.outputs.empty());
  for (int i = 0; i < gp.output_size(); ++i) FUZZ_CHECK(g.outputs[i] == gp.output(i).name());
  for (const auto& v : g.inputs) FUZZ_CHECK(g.declared.count(v));
  for (const auto& v : g.outputs) FUZZ_CHECK(g.declared.count(v));
  FUZZ_CHECK(static_cast<int>(g.nodes.size()) == gp.node_size());

  std::set<std::string> defined(g.inputs.begin(), g.inputs.end());
  for (const auto& [name, t] : g.initializers) defined.insert(name);
  for (int i = 0; i < gp.node_size(); ++i) {
    const Node& n = g.nodes[i];
    const onnx::NodeProto& np = gp.node(i);
    FUZZ_CHECK(n.op == np.op_type() && !n.name.empty());
    FUZZ_CHECK(n.inputs == std::vector<std::string>(np.input().begin(), np.input().end()));
    FUZZ_CHECK(n.outputs == std::vector<std::string>(np.output().begin(), np.output().end()));
    for (const auto& [key, a] : n.attrs)
      if (a.kind == Attribute::Kind::kTensor) FUZZ_CHECK(Consistent(a.t));
    defined.insert(n.outputs.begin(), n.outputs.end());
  }
  for (const Node& n : g.nodes)
    for (const auto& in : n.inputs) FUZZ_CHECK(in.empty() || defined.count(in));
  for (const auto& o : g.outputs) FUZZ_CHECK(defined.count(o));

  const size_t node_count = g.nodes.size();
  const bgerase::Status sorted = TopologicalSort(g);
  if (!sorted.ok()) {
    FUZZ_CHECK(sorted.code() == "invalid_model");
    return 0;
  }
  FUZZ_CHECK(g.nodes.size() == node_count);
  std::set<std::string> ready(g.inputs.begin(), g.inputs.end());
  for (const auto& [name, t] : g.initializers) ready.insert(name);
  for (const Node& n : g.nodes) {
    for (const auto& in : n.inputs) FUZZ_CHECK(in.empty() || ready.count(in));
    ready.insert(n.outputs.begin(), n.outputs.end());
    if (!FindOp(n.op)) FUZZ_CHECK(UnknownOp(n).code() == "unsupported_op");
  }
  return 0;
}
