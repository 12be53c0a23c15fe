// ONNX protobuf -> Graph. The only file that includes the ONNX protobuf classes.
#include "engine/onnx_loader.h"

#include <fcntl.h>
#include <onnx/onnx_pb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <fstream>
#include <set>

namespace bgerase::engine {
namespace {

Status Invalid(const std::string& origin, const std::string& what) {
  return Status("invalid_model", origin + ": " + what);
}

Result<DType> FromOnnxType(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT:
      return DType::kFloat32;
    case onnx::TensorProto::FLOAT16:
      return DType::kFloat16;
    case onnx::TensorProto::BFLOAT16:
      return DType::kBFloat16;
    case onnx::TensorProto::INT64:
      return DType::kInt64;
    case onnx::TensorProto::INT32:
      return DType::kInt32;
    case onnx::TensorProto::INT8:
      return DType::kInt8;
    case onnx::TensorProto::UINT8:
      return DType::kUInt8;
    case onnx::TensorProto::BOOL:
      return DType::kBool;
    default:
      return Status("unsupported_dtype", "ONNX element type " + std::to_string(t));
  }
}

// `tp`'s raw bytes move into the tensor (the proto is left without them).
Result<Tensor> FromTensorProto(onnx::TensorProto& tp, const std::string& origin) {
  auto dt = FromOnnxType(tp.data_type());
  if (!dt.ok()) return Invalid(origin, "tensor '" + tp.name() + "': " + dt.status().message());
  if (tp.data_location() == onnx::TensorProto::EXTERNAL || tp.external_data_size() > 0) {
    return Invalid(origin, "tensor '" + tp.name() + "' uses external data, which is not supported");
  }
  Shape shape(tp.dims().begin(), tp.dims().end());
  // Counted in NumElements' order with overflow checks: a few bytes of dims can claim 2^64
  // elements, which int64 arithmetic would wrap to a small count that the data then matches.
  int64_t count = 1;
  int64_t bytes = 0;
  for (int64_t d : shape) {
    if (d < 0) return Invalid(origin, "tensor '" + tp.name() + "' has a negative dimension");
    if (__builtin_mul_overflow(count, d, &count))
      return Invalid(origin, "tensor '" + tp.name() + "' has too many elements");
  }
  if (__builtin_mul_overflow(count, static_cast<int64_t>(DTypeSize(*dt)), &bytes))
    return Invalid(origin, "tensor '" + tp.name() + "' has too many elements");
  const size_t n = static_cast<size_t>(count);
  if (tp.has_raw_data()) {
    if (tp.raw_data().size() != static_cast<size_t>(bytes)) {
      return Invalid(origin, "tensor '" + tp.name() + "' holds " +
                                 std::to_string(tp.raw_data().size()) + " bytes, expected " +
                                 std::to_string(bytes) + " (truncated file?)");
    }
    return Tensor::Adopt(*dt, std::move(shape), std::move(*tp.mutable_raw_data()));
  }
  // int32_data carries int32, int8, uint8, bool, fp16 and bf16 (as their bit patterns). The
  // count is checked before the tensor is allocated: the dims alone must not size an allocation.
  const size_t have = static_cast<size_t>(*dt == DType::kFloat32 ? tp.float_data_size()
                                          : *dt == DType::kInt64 ? tp.int64_data_size()
                                                                 : tp.int32_data_size());
  if (have != n) {
    return Invalid(origin, "tensor '" + tp.name() + "' holds " + std::to_string(have) +
                               " values, expected " + std::to_string(n));
  }
  Tensor t(*dt, shape);
  switch (*dt) {
    case DType::kFloat32:
      for (size_t i = 0; i < n; ++i) t.data<float>()[i] = tp.float_data(static_cast<int>(i));
      break;
    case DType::kInt64:
      for (size_t i = 0; i < n; ++i) t.data<int64_t>()[i] = tp.int64_data(static_cast<int>(i));
      break;
    default: {
      for (size_t i = 0; i < n; ++i) {
        const int32_t v = tp.int32_data(static_cast<int>(i));
        switch (*dt) {
          case DType::kInt32:
            t.data<int32_t>()[i] = v;
            break;
          case DType::kFloat16:
          case DType::kBFloat16:
            t.data<uint16_t>()[i] = static_cast<uint16_t>(v);
            break;
          default:
            t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
            break;
        }
      }
    }
  }
  return t;
}

// Attribute tensors (small): from a copy.
Result<Tensor> FromTensorProto(const onnx::TensorProto& tp, const std::string& origin) {
  onnx::TensorProto copy = tp;
  return FromTensorProto(copy, origin);
}

Result<Attribute> FromAttributeProto(const onnx::AttributeProto& ap, const std::string& origin) {
  Attribute a;
  switch (ap.type()) {
    case onnx::AttributeProto::INT:
      a.kind = Attribute::Kind::kInt;
      a.i = ap.i();
      break;
    case onnx::AttributeProto::FLOAT:
      a.kind = Attribute::Kind::kFloat;
      a.f = ap.f();
      break;
    case onnx::AttributeProto::STRING:
      a.kind = Attribute::Kind::kString;
      a.s = ap.s();
      break;
    case onnx::AttributeProto::INTS:
      a.kind = Attribute::Kind::kInts;
      a.ints.assign(ap.ints().begin(), ap.ints().end());
      break;
    case onnx::AttributeProto::FLOATS:
      a.kind = Attribute::Kind::kFloats;
      a.floats.assign(ap.floats().begin(), ap.floats().end());
      break;
    case onnx::AttributeProto::TENSOR: {
      a.kind = Attribute::Kind::kTensor;
      auto t = FromTensorProto(ap.t(), origin);
      if (!t.ok()) return t.status();
      a.t = std::move(t).value();
      break;
    }
    default:
      return Invalid(origin, "attribute '" + ap.name() + "' has an unsupported type");
  }
  return a;
}

ValueType FromValueInfo(const onnx::ValueInfoProto& vi) {
  ValueType vt;
  const auto& tt = vi.type().tensor_type();
  auto dt = FromOnnxType(tt.elem_type());
  vt.dtype = dt.ok() ? *dt : DType::kFloat32;
  for (const auto& d : tt.shape().dim()) vt.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return vt;
}

bool ReadFile(const std::string& path, std::string* out) {
  // One sized read: streaming an 88 MB model through a stringstream took over a second.
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return false;
  const std::streamsize size = f.tellg();
  if (size < 0) return false;
  out->resize(static_cast<size_t>(size));
  f.seekg(0);
  return static_cast<bool>(f.read(out->data(), size)) || size == 0;
}

}  // namespace

namespace {

Result<Graph> LoadOnnxArray(const void* bytes, size_t size, const std::string& origin) {
  onnx::ModelProto model;
  if (size == 0 || size > static_cast<size_t>(INT_MAX) ||
      !model.ParseFromArray(bytes, static_cast<int>(size))) {
    return Invalid(origin, "not a valid ONNX model (malformed or truncated protobuf)");
  }
  if (!model.has_graph()) return Invalid(origin, "the model has no graph");
  onnx::GraphProto& gp = *model.mutable_graph();
  Graph g;
  for (auto& init : *gp.mutable_initializer()) {
    auto t = FromTensorProto(init, origin);
    if (!t.ok()) return t.status();
    g.initializers[init.name()] = std::move(t).value();
  }
  for (const auto& in : gp.input()) {
    if (g.initializers.count(in.name())) continue;
    g.inputs.push_back(in.name());
    g.declared[in.name()] = FromValueInfo(in);
  }
  for (const auto& out : gp.output()) {
    g.outputs.push_back(out.name());
    g.declared[out.name()] = FromValueInfo(out);
  }
  if (g.inputs.empty()) return Invalid(origin, "the graph has no inputs");
  if (g.outputs.empty()) return Invalid(origin, "the graph has no outputs");

  std::set<std::string> defined(g.inputs.begin(), g.inputs.end());
  for (const auto& [name, t] : g.initializers) defined.insert(name);
  for (int i = 0; i < gp.node_size(); ++i) {
    const auto& np = gp.node(i);
    Node n;
    n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(i) : np.name();
    n.op = np.op_type();
    if (!np.domain().empty() && np.domain() != "ai.onnx") {
      return Invalid(origin,
                     "node " + n.Describe() + " is in unsupported domain '" + np.domain() + "'");
    }
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& ap : np.attribute()) {
      auto a = FromAttributeProto(ap, origin + " node " + n.Describe());
      if (!a.ok()) return a.status();
      n.attrs[ap.name()] = std::move(a).value();
    }
    for (const auto& o : n.outputs) defined.insert(o);
    g.nodes.push_back(std::move(n));
  }
  // Every input must be defined somewhere (order is fixed by the topological sort pass).
  for (const auto& n : g.nodes) {
    for (const auto& in : n.inputs) {
      if (!in.empty() && !defined.count(in)) {
        return Invalid(origin, "node " + n.Describe() + " reads undefined value '" + in + "'");
      }
    }
  }
  for (const auto& o : g.outputs) {
    if (!defined.count(o)) return Invalid(origin, "graph output '" + o + "' is never produced");
  }
  return g;
}

}  // namespace

Result<Graph> LoadOnnxBytes(const std::string& bytes, const std::string& origin) {
  return LoadOnnxArray(bytes.data(), bytes.size(), origin);
}

Result<Graph> LoadOnnxFile(const std::string& path) {
  // Parsed from a read-only mapping: the page cache's copy is the only one before the parse.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status("model_missing", "cannot read model file " + path);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Status("model_missing", "cannot read model file " + path);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    close(fd);
    return LoadOnnxArray(nullptr, 0, path);
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return Status("model_missing", "cannot map model file " + path);
  madvise(map, size, MADV_SEQUENTIAL);
  auto g = LoadOnnxArray(map, size, path);
  munmap(map, size);
  return g;
}

Status WriteFloat32Model(const std::string& in_path, const std::string& out_path) {
  std::string bytes;
  if (!ReadFile(in_path, &bytes)) return Status("model_missing", "cannot read " + in_path);
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) return Invalid(in_path, "malformed ONNX model");
  onnx::GraphProto* g = model.mutable_graph();
  for (auto& init : *g->mutable_initializer()) {
    if (init.data_type() != onnx::TensorProto::FLOAT16) continue;
    auto t = FromTensorProto(init, in_path);
    if (!t.ok()) return t.status();
    const std::vector<float> f = t->AsFloats();
    init.clear_raw_data();
    init.clear_int32_data();
    init.set_data_type(onnx::TensorProto::FLOAT);
    init.set_raw_data(std::string(reinterpret_cast<const char*>(f.data()), f.size() * 4));
  }
  auto widen = [](onnx::ValueInfoProto& vi) {
    auto* tt = vi.mutable_type()->mutable_tensor_type();
    if (tt->elem_type() == onnx::TensorProto::FLOAT16) tt->set_elem_type(onnx::TensorProto::FLOAT);
  };
  for (auto& vi : *g->mutable_input()) widen(vi);
  for (auto& vi : *g->mutable_output()) widen(vi);
  for (auto& vi : *g->mutable_value_info()) widen(vi);
  for (auto& node : *g->mutable_node()) {
    for (auto& a : *node.mutable_attribute()) {
      if (node.op_type() == "Cast" && a.name() == "to" && a.i() == onnx::TensorProto::FLOAT16) {
        a.set_i(onnx::TensorProto::FLOAT);
      }
      if (a.type() == onnx::AttributeProto::TENSOR &&
          a.t().data_type() == onnx::TensorProto::FLOAT16) {
        auto t = FromTensorProto(a.t(), in_path);
        if (!t.ok()) return t.status();
        const std::vector<float> f = t->AsFloats();
        auto* tp = a.mutable_t();
        tp->clear_raw_data();
        tp->clear_int32_data();
        tp->set_data_type(onnx::TensorProto::FLOAT);
        tp->set_raw_data(std::string(reinterpret_cast<const char*>(f.data()), f.size() * 4));
      }
    }
  }
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!out || !model.SerializeToOstream(&out)) {
    return Status("io_error", "cannot write " + out_path);
  }
  return Status::Ok();
}

}  // namespace bgerase::engine
