// Which activations an int8 plan keeps u8 (see lowering.h, PlanU8Activations). Without this every
// activation is float32 nhwc: each int8 conv writes float, a quantize step makes the u8 copy the
// next conv reads, and MaxPool, Resize and the concat copies move 4 bytes a value. Kept u8, an
// int8 conv writes its output quantized (the scale folded into its output scales, or a final
// linear post-op after a residual add), and the ops between convs move a byte a value.
//
// A value and the MaxPool/Resize outputs computed from it share one scale (max and linear
// interpolation commute with q = round(x * s)), so they are decided together, as a group. A
// group is u8 when
//   - no member is a graph input or output, and each is 4-D;
//   - each member is produced by an int8 conv fusing only ReLU and one residual add, by a
//     MaxPool or Resize of another member, or by a Concat;
//   - each member is read only as an int8 conv's source (whatever that conv fuses), by a
//     MaxPool or Resize of the group, or by a Concat. A residual operand stays float: added as
//     u8 (clipped to its calibrated range and rounded) it cost the guard's worst image 0.0012
//     (0.0059 -> 0.0071 mean |int8 - fp32|, chelsea) and its IoU against ONNX Runtime fell
//     below 0.99, to save one quantize step per RSU block (≈ 30 ms of 1.3 s on AMD Zen 3).
//   - its scale is known and its values never go negative: the largest calibrated range among
//     members that are int8 conv sources, or else the scale of a u8 Concat that reads a member
//     (that member's copy into the concat then needs no rescale).
// A Concat rescales each input into its output's scale while it copies, so concats do not join
// groups.
#include <algorithm>
#include <numeric>

#include "engine/onednn/lowering.h"

namespace bgerase::engine::onednn {
namespace {

// Union-find over value indices.
struct Groups {
  std::vector<int> parent;
  explicit Groups(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int Find(int v) {
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
  }
  void Join(int a, int b) { parent[Find(a)] = Find(b); }
};

// Whether conv `n`'s fused ops let it write u8: ReLU and at most one add (both commute with a
// positive scale), no Sigmoid.
bool FusesForU8(const Node& n) {
  int adds = 0;
  for (const FusedOp& f : n.fused) {
    if (f.kind == FusedOp::Kind::kSigmoid) return false;
    adds += f.kind == FusedOp::Kind::kAdd;
  }
  return adds <= 1;
}

}  // namespace

void PlanU8Activations(Lowering& L) {
  if (!L.int8 || !L.calibration) return;
  const Graph& g = *L.graph;
  // Every value a node produces, by index; who produces and who reads it.
  std::map<std::string, int> index;
  std::vector<std::string> values;
  std::vector<const Node*> producer;
  for (const Node& n : g.nodes) {
    index[n.outputs[0]] = static_cast<int>(values.size());
    values.push_back(n.outputs[0]);
    producer.push_back(&n);
  }
  const size_t nv = values.size();
  std::vector<bool> ok(nv, true);
  for (size_t v = 0; v < nv; ++v) {
    const Node& p = *producer[v];
    const auto t = L.types->find(values[v]);
    if (t == L.types->end() || t->second.shape.size() != 4) ok[v] = false;
    const bool int8_conv = L.Int8Source(p) && FusesForU8(p);
    if (!(int8_conv || p.op == "MaxPool" || p.op == "Resize" || p.op == "Concat")) ok[v] = false;
    // A MaxPool or Resize shares its input's type: that input must be a candidate too.
    if ((p.op == "MaxPool" || p.op == "Resize") && !index.count(p.inputs[0])) ok[v] = false;
  }
  for (const auto& o : g.outputs) {
    if (index.count(o)) ok[index[o]] = false;
  }

  Groups groups(nv);
  // The calibrated range a member needs as an int8 conv's source; the u8 concats reading it.
  std::vector<float> range_max(nv, 0.f);
  std::vector<bool> signed_source(nv, false);
  std::vector<std::vector<int>> concat_readers(nv);
  auto read = [&](const std::string& value, const Node& reader, bool as_source) {
    auto it = index.find(value);
    if (it == index.end()) return;
    const int v = it->second;
    const ValueRange* r = L.Int8Source(reader);
    if (as_source && r) {
      range_max[v] = std::max(range_max[v], r->max);
      if (r->min < 0) signed_source[v] = true;
    } else if (!as_source && (reader.op == "MaxPool" || reader.op == "Resize")) {
      groups.Join(v, index.at(reader.outputs[0]));
    } else if (!as_source && reader.op == "Concat") {
      concat_readers[v].push_back(index.at(reader.outputs[0]));
    } else {
      ok[v] = false;
    }
  };
  for (const Node& n : g.nodes) {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (n.inputs[i].empty() || g.IsConstant(n.inputs[i])) continue;
      // A Resize's scales/sizes inputs and a Conv's weights are constants by now.
      read(n.inputs[i], n, n.op == "Conv" && i == 0);
    }
    for (const auto& f : n.fused) {
      if (f.kind == FusedOp::Kind::kAdd) read(f.operand, n, false);  // float (see above)
    }
  }

  // Group verdicts: every member fit, the group's range from its conv sources, its members.
  struct Group {
    bool fit = true, is_signed = false;
    float max = 0;
    std::vector<int> members;
  };
  std::map<int, Group> group;
  for (size_t v = 0; v < nv; ++v) {
    Group& gr = group[groups.Find(static_cast<int>(v))];
    gr.fit = gr.fit && ok[v];
    gr.is_signed = gr.is_signed || signed_source[v];
    gr.max = std::max(gr.max, range_max[v]);
    gr.members.push_back(static_cast<int>(v));
  }
  // Scales: from the calibration where a member is a conv source; else from a u8 concat that
  // reads a member, which may be decided only later: repeat until nothing changes.
  std::map<int, float> scale;  // decided groups: > 0 u8, 0 float
  for (const auto& [r, gr] : group) {
    if (!gr.fit || gr.is_signed) {
      scale[r] = 0;
    } else if (gr.max > 0) {
      scale[r] = 255.f / gr.max;
    }
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& [r, gr] : group) {
      if (scale.count(r)) continue;
      bool pending = false;
      for (size_t m = 0; m < gr.members.size() && !scale.count(r); ++m) {
        for (int c : concat_readers[gr.members[m]]) {
          auto s = scale.find(groups.Find(c));
          if (s == scale.end()) {
            pending = true;
          } else if (s->second > 0) {
            scale[r] = s->second;
            changed = true;
            break;
          }
        }
      }
      if (!scale.count(r) && !pending) {
        scale[r] = 0;  // read only by float concats, or by nothing: nothing to gain
        changed = true;
      }
    }
  }
  for (size_t v = 0; v < nv; ++v) {
    auto s = scale.find(groups.Find(static_cast<int>(v)));
    if (s != scale.end() && s->second > 0) L.u8_scale[values[v]] = s->second;
  }
  L.stats.u8_activations = static_cast<int>(L.u8_scale.size());
}

}  // namespace bgerase::engine::onednn
