// See passes.h.
#include "engine/passes.h"

#include <algorithm>
#include <set>

#include "engine/op_params.h"
#include "engine/op_table.h"
#include "engine/reference/reference.h"

namespace bgerase::engine {
namespace {

std::vector<std::string> NodeReads(const Node& n) {
  std::vector<std::string> r;
  for (const auto& i : n.inputs) {
    if (!i.empty()) r.push_back(i);
  }
  for (const auto& f : n.fused) {
    if (!f.operand.empty()) r.push_back(f.operand);
  }
  return r;
}

void ReplaceUses(Graph& g, const std::string& from, const std::string& to) {
  for (auto& n : g.nodes) {
    for (auto& i : n.inputs) {
      if (i == from) i = to;
    }
    for (auto& f : n.fused) {
      if (f.operand == from) f.operand = to;
    }
  }
}

bool IsGraphOutput(const Graph& g, const std::string& v) {
  return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
}

}  // namespace

Status TopologicalSort(Graph& g) {
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const auto& o : g.nodes[i].outputs) {
      if (!o.empty()) producer[o] = i;
    }
  }
  std::vector<int> state(g.nodes.size(), 0);  // 0 new, 1 visiting, 2 done
  std::vector<std::vector<std::string>> reads(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) reads[i] = NodeReads(g.nodes[i]);
  std::vector<Node> order;
  order.reserve(g.nodes.size());
  // Depth first with a stack of our own, not recursion: a model's chain of nodes is as long as
  // its file allows, and a frame per node overflowed the thread's stack (200k nodes, 6 MB).
  // (node, its next read to visit); nodes leave in the order the recursive visit emitted them.
  std::vector<std::pair<size_t, size_t>> stack;
  for (size_t root = 0; root < g.nodes.size(); ++root) {
    if (state[root] == 2) continue;
    state[root] = 1;
    stack.emplace_back(root, 0);
    while (!stack.empty()) {
      const size_t i = stack.back().first;
      if (stack.back().second == reads[i].size()) {
        state[i] = 2;
        order.push_back(g.nodes[i]);
        stack.pop_back();
        continue;
      }
      const std::string& in = reads[i][stack.back().second++];
      auto it = producer.find(in);
      if (it != producer.end()) {
        const size_t j = it->second;
        if (state[j] == 1)
          return Status("invalid_model", "the graph has a cycle through " + g.nodes[j].Describe());
        if (state[j] == 0) {
          state[j] = 1;
          stack.emplace_back(j, 0);
        }
      } else if (!g.IsConstant(in) &&
                 std::find(g.inputs.begin(), g.inputs.end(), in) == g.inputs.end()) {
        return Status("invalid_model",
                      g.nodes[i].Describe() + " reads '" + in + "', which nothing produces");
      }
    }
  }
  g.nodes = std::move(order);
  return Status::Ok();
}

Status SelectOutputs(Graph& g, const std::vector<std::string>& outputs) {
  std::vector<std::string> keep = outputs;
  if (keep.empty()) keep = {g.outputs.at(0)};
  for (const auto& o : keep) {
    if (!IsGraphOutput(g, o)) return Status("invalid_model", "the model has no output '" + o + "'");
  }
  g.outputs = keep;
  std::set<std::string> needed(keep.begin(), keep.end());
  std::vector<Node> kept;
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const Node& n = g.nodes[i];
    bool used = false;
    for (const auto& o : n.outputs) used |= needed.count(o) != 0;
    if (!used) continue;
    for (const auto& in : NodeReads(n)) needed.insert(in);
    kept.push_back(n);
  }
  std::reverse(kept.begin(), kept.end());
  g.nodes = std::move(kept);
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    it = needed.count(it->first) ? std::next(it) : g.initializers.erase(it);
  }
  return Status::Ok();
}

void PromoteFloat16(Graph& g, bool keep_conv_weights) {
  std::set<std::string> conv_only;
  if (keep_conv_weights) {
    std::set<std::string> other;
    for (const auto& n : g.nodes) {
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        (n.op == "Conv" && i > 0 ? conv_only : other).insert(n.inputs[i]);
      }
      for (const auto& f : n.fused) other.insert(f.operand);
    }
    for (const auto& o : g.outputs) other.insert(o);
    for (const auto& o : other) conv_only.erase(o);
  }
  for (auto& [name, t] : g.initializers) {
    if (t.dtype() == DType::kFloat16 && !conv_only.count(name)) t = t.CastTo(DType::kFloat32);
  }
  for (auto& n : g.nodes) {
    if (n.op == "Cast" && n.Int("to", 1) == 10) n.attrs["to"].i = 1;
    auto v = n.attrs.find("value");
    if (v != n.attrs.end() && v->second.t.dtype() == DType::kFloat16) {
      v->second.t = v->second.t.CastTo(DType::kFloat32);
    }
  }
  for (auto& [name, vt] : g.declared) {
    if (vt.dtype == DType::kFloat16) vt.dtype = DType::kFloat32;
  }
}

Result<TypeMap> Specialize(Graph& g, const std::map<std::string, Shape>& input_shapes) {
  TypeMap types;
  for (const auto& in : g.inputs) {
    auto it = input_shapes.find(in);
    if (it == input_shapes.end())
      return Status("shape_mismatch", "no shape given for input '" + in + "'");
    const ValueType& decl = g.declared[in];
    if (!decl.shape.empty()) {
      bool match = decl.shape.size() == it->second.size();
      for (size_t i = 0; match && i < decl.shape.size(); ++i) {
        match = decl.shape[i] < 0 || decl.shape[i] == it->second[i];
      }
      if (!match) {
        return Status("shape_mismatch", "input '" + in + "' is declared " +
                                            ShapeToString(decl.shape) + " but got " +
                                            ShapeToString(it->second));
      }
    }
    for (int64_t d : it->second) {
      if (d <= 0) return Status("shape_mismatch", "input '" + in + "' has an empty dimension");
    }
    types[in] = {decl.dtype, it->second};
  }
  for (const auto& [name, t] : g.initializers) types[name] = {t.dtype(), t.shape()};

  std::vector<Node> remaining;
  for (Node& n : g.nodes) {
    if (!FindOp(n.op)) return UnknownOp(n);
    std::vector<const Tensor*> const_in;
    bool all_const = true;
    for (const auto& in : n.inputs) {
      if (in.empty()) {
        const_in.push_back(nullptr);
        continue;
      }
      if (!types.count(in))
        return Status("invalid_model", n.Describe() + " reads unknown '" + in + "'");
      auto it = g.initializers.find(in);
      const_in.push_back(it == g.initializers.end() ? nullptr : &it->second);
      all_const &= it != g.initializers.end();
    }
    // Shape of a value whose shape is now known is a constant too.
    if (n.op == "Shape" && !all_const) {
      g.initializers[n.outputs[0]] = Tensor::Int64s(
          {static_cast<int64_t>(types[n.inputs[0]].shape.size())}, types[n.inputs[0]].shape);
      types[n.outputs[0]] = {DType::kInt64, g.initializers[n.outputs[0]].shape()};
      continue;
    }
    if (all_const && n.fused.empty()) {
      auto r = ref::Evaluate(n, const_in);
      if (!r.ok()) return r.status();
      for (size_t i = 0; i < n.outputs.size() && i < r->size(); ++i) {
        types[n.outputs[i]] = {(*r)[i].dtype(), (*r)[i].shape()};
        g.initializers[n.outputs[i]] = std::move((*r)[i]);
      }
      continue;
    }
    // A node that depends on the input: infer its output type.
    const ValueType& x = types[n.inputs[0]];
    ValueType out{x.dtype, x.shape};
    if (n.op == "Conv") {
      if (n.inputs.size() < 2 || !types.count(n.inputs[1]))
        return Status("invalid_model", n.Describe() + ": no weights");
      if (!g.IsConstant(n.inputs[1]))
        return Status("unsupported_op", n.Describe() + ": weights must be constant");
      if (n.inputs.size() > 2 && !n.inputs[2].empty() && !g.IsConstant(n.inputs[2])) {
        return Status("unsupported_op", n.Describe() + ": bias must be constant");
      }
      auto p = ParseConv(n, x.shape, types[n.inputs[1]].shape);
      if (!p.ok()) return p.status();
      out.shape = p->out;
    } else if (n.op == "MaxPool") {
      auto p = ParseMaxPool(n, x.shape);
      if (!p.ok()) return p.status();
      out.shape = p->out;
    } else if (n.op == "Resize") {
      for (size_t i = 1; i < n.inputs.size(); ++i) {
        if (!n.inputs[i].empty() && !g.IsConstant(n.inputs[i])) {
          return Status(
              "unsupported_op",
              n.Describe() + ": roi/scales/sizes must be constant once the input shape is fixed");
        }
      }
      auto p = ParseResize(n, x.shape, const_in.size() > 2 ? const_in[2] : nullptr,
                           const_in.size() > 3 ? const_in[3] : nullptr);
      if (!p.ok()) return p.status();
      out.shape = p->out;
    } else if (n.op == "Concat") {
      int64_t axis = n.Int("axis", 0);
      if (axis < 0) axis += static_cast<int64_t>(x.shape.size());
      if (axis < 0 || axis >= static_cast<int64_t>(x.shape.size()))
        return Status("invalid_model", n.Describe() + ": bad axis");
      out.shape[axis] = 0;
      for (const auto& in : n.inputs) {
        const ValueType& t = types[in];
        if (t.shape.size() != x.shape.size())
          return Status("shape_mismatch", n.Describe() + ": inputs differ in rank");
        for (size_t d = 0; d < t.shape.size(); ++d) {
          if (static_cast<int64_t>(d) != axis && t.shape[d] != x.shape[d]) {
            return Status("shape_mismatch", n.Describe() + ": input shapes " +
                                                ShapeToString(t.shape) + " and " +
                                                ShapeToString(x.shape) + " differ off the axis");
          }
        }
        out.shape[axis] += t.shape[axis];
      }
    } else if (n.op == "Add" || n.op == "Mul") {
      auto s = BroadcastShapes(x.shape, types[n.inputs[1]].shape, n);
      if (!s.ok()) return s.status();
      out.shape = *s;
    } else if (n.op == "Cast") {
      const int64_t to = n.Int("to", 1);
      if (to != 1 && to != 10)
        return Status("unsupported_op",
                      n.Describe() + ": only float casts of activations are supported");
      out.dtype = DType::kFloat32;
    } else if (n.op != "Relu" && n.op != "Sigmoid" && n.op != "Identity") {
      return Status("unsupported_op",
                    n.Describe() + ": '" + n.op + "' on a non-constant input is not supported");
    }
    for (const FusedOp& f : n.fused) {
      if (f.kind == FusedOp::Kind::kAdd && types[f.operand].shape != out.shape) {
        return Status("shape_mismatch", n.Describe() + ": fused addend has another shape");
      }
    }
    types[n.outputs[0]] = out;
    remaining.push_back(std::move(n));
  }
  g.nodes = std::move(remaining);
  for (const auto& o : g.outputs) {
    if (!types.count(o)) return Status("invalid_model", "output '" + o + "' has no type");
  }
  // Drop constants nothing reads any more (the folded intermediates).
  std::set<std::string> read(g.outputs.begin(), g.outputs.end());
  for (const auto& n : g.nodes) {
    for (const auto& in : NodeReads(n)) read.insert(in);
  }
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    it = read.count(it->first) ? std::next(it) : g.initializers.erase(it);
  }
  return types;
}

void RemoveNoOpCasts(Graph& g, TypeMap& types) {
  for (size_t i = 0; i < g.nodes.size();) {
    Node& n = g.nodes[i];
    const bool noop = n.op == "Identity" ||
                      (n.op == "Cast" && types.count(n.inputs[0]) && types.count(n.outputs[0]) &&
                       types[n.inputs[0]].dtype == types[n.outputs[0]].dtype);
    if (!noop || !n.fused.empty()) {
      ++i;
      continue;
    }
    const std::string in = n.inputs[0], out = n.outputs[0];
    const int producer = g.Producer(in);
    if (producer >= 0 && g.UseCount(in) == 1 && !IsGraphOutput(g, in)) {
      // Let the producer write the cast's output name directly (keeps graph output names).
      for (auto& o : g.nodes[producer].outputs) {
        if (o == in) o = out;
      }
      g.nodes.erase(g.nodes.begin() + static_cast<long>(i));
      continue;
    }
    if (!IsGraphOutput(g, out)) {
      ReplaceUses(g, out, in);
      g.nodes.erase(g.nodes.begin() + static_cast<long>(i));
      continue;
    }
    n.op = "Identity";  // a graph output copying another value: keep as a copy
    n.attrs.clear();
    ++i;
  }
}

void FuseConvPostOps(Graph& g, const TypeMap& types) {
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t ci = 0; ci < g.nodes.size() && !changed; ++ci) {
      if (g.nodes[ci].op != "Conv") continue;
      const std::string y = g.nodes[ci].outputs[0];
      if (IsGraphOutput(g, y) || g.UseCount(y) != 1) continue;
      for (size_t k = 0; k < g.nodes.size(); ++k) {
        Node& c = g.nodes[k];
        if (std::find(c.inputs.begin(), c.inputs.end(), y) == c.inputs.end()) continue;
        FusedOp f;
        if ((c.op == "Relu" || c.op == "Sigmoid") && c.fused.empty()) {
          f.kind = c.op == "Relu" ? FusedOp::Kind::kRelu : FusedOp::Kind::kSigmoid;
        } else if (c.op == "Add" && c.fused.empty() && c.inputs.size() == 2 &&
                   c.inputs[0] != c.inputs[1]) {
          const std::string other = c.inputs[0] == y ? c.inputs[1] : c.inputs[0];
          auto ot = types.find(other), yt = types.find(y);
          if (ot == types.end() || yt == types.end() || ot->second.shape != yt->second.shape ||
              g.IsConstant(other)) {
            break;
          }
          f.kind = FusedOp::Kind::kAdd;
          f.operand = other;
        } else {
          break;
        }
        const std::string new_out = c.outputs[0];
        g.nodes[ci].fused.push_back(f);
        g.nodes[ci].outputs[0] = new_out;
        g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
        changed = true;
        break;
      }
    }
  }
}

}  // namespace bgerase::engine
