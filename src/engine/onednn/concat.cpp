// oneDNN lowering of Concat (reference: reference/concat.cpp). Where it can, a concat's inputs
// are written straight into their slice of its output and it costs no step (50 of ISNet's
// concats, all of them); otherwise each input reorders into its slice.
#include <algorithm>
#include <set>

#include "engine/onednn/lowering.h"

namespace bgerase::engine::onednn {
namespace {

bool Contains(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// Whether concat `n`'s inputs can be slices of its output slot `o`: N=1, axis 1, same
// dtype/layout, block-aligned offsets, each value in one concat only and no graph input or
// output among them.
bool CanWriteInPlace(const Lowering& L, const Node& n, int o) {
  const Slot& os = L.slots[o];
  int64_t axis = n.Int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(os.shape.size());
  // nhwc (int8) interleaves channels: a slice is not contiguous, so int8 copies instead.
  if (L.int8 || os.shape.size() != 4 || axis != 1 || os.shape[0] != 1) return false;
  std::set<std::string> seen;
  int64_t c0 = 0;
  for (const auto& in : n.inputs) {
    auto it = L.slot_of.find(in);
    if (it == L.slot_of.end() || !seen.insert(in).second || Contains(L.graph->inputs, in) ||
        Contains(L.graph->outputs, in))
      return false;
    const Slot& s = L.slots[it->second];
    if (s.parent >= 0 || s.dt != os.dt || s.blocked != os.blocked ||
        (os.blocked && c0 % L.block != 0))
      return false;
    c0 += s.shape[1];
  }
  return true;
}

// Each input reorders into its slice of the output (converting dtype and layout, and rescaling
// u8 activations to the output's scale); a slice that cuts a channel block falls back to
// oneDNN's concat, where every input has the output's type and scale.
void BuildConcatStep(Lowering& L, const std::vector<int>& xs, int y, int64_t axis, Step* st) {
  std::vector<Call> copies;
  const auto unit = [&L](int s) { return L.slots[s].scale > 0 ? L.slots[s].scale : 1.f; };
  bool same = true;
  for (int xi : xs) same = same && unit(xi) == unit(y) && L.slots[xi].dt == L.slots[y].dt;
  try {
    int64_t off = 0;
    for (int xi : xs) {
      memory::dims offsets(L.slots[y].shape.size(), 0);
      offsets[axis] = off;
      off += L.slots[xi].shape[axis];
      memory src = L.Mem(xi);
      memory dst(L.Md(y).submemory_desc(Dims(L.slots[xi].shape), offsets), L.eng, L.Ptr(y));
      copies.push_back(L.Reorder(src, dst, unit(y) / unit(xi)));
    }
    st->run = [copies](dnnl::stream& s) {
      for (const Call& c : copies) c(s);
    };
    return;
  } catch (const dnnl::error&) {
    if (!same) throw;
  }
  std::vector<memory::desc> mds;
  std::unordered_map<int, memory> args{{DNNL_ARG_DST, L.Mem(y)}};
  for (size_t i = 0; i < xs.size(); ++i) {
    mds.push_back(L.Md(xs[i]));
    args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = L.Mem(xs[i]);
  }
  dnnl::concat::primitive_desc pd(L.Md(y), static_cast<int>(axis), mds, L.eng, Lowering::Attr());
  st->run = L.Bind(dnnl::concat(pd), pd.scratchpad_desc(), args);
}

}  // namespace

void PlaceConcatsInPlace(Lowering& L) {
  for (const Node& n : L.graph->nodes) {
    if (n.op != "Concat") continue;
    const int o = L.slot_of.at(n.outputs[0]);
    if (!CanWriteInPlace(L, n, o)) continue;
    const Slot& os = L.slots[o];
    int64_t c0 = 0;
    const size_t plane = static_cast<size_t>(os.shape[2] * os.shape[3]) * DTypeSize(os.dt);
    for (const auto& in : n.inputs) {
      Slot& s = L.slots[L.slot_of.at(in)];
      s.parent = o;
      s.offset_in_parent = static_cast<size_t>(c0) * plane;
      c0 += s.shape[1];
    }
    L.concats_in_place.insert(o);
    ++L.stats.concats_in_place;
  }
}

Status LowerConcat(Lowering& L, const Node& n) {
  const int y = L.slot_of.at(n.outputs[0]);
  if (L.concats_in_place.count(y)) return Status::Ok();  // inputs already in place
  std::vector<int> xs;
  for (const auto& in : n.inputs) {
    if (!L.slot_of.count(in))
      return Status("unsupported_op", n.Describe() + ": constant concat inputs are not supported");
    xs.push_back(L.slot_of.at(in));
  }
  int64_t axis = n.Int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(L.slots[y].shape.size());
  L.pending.push_back({n.Describe(), xs, {y}, [&L, xs, y, axis](Step* st) {
                         BuildConcatStep(L, xs, y, axis, st);
                       }});
  return Status::Ok();
}

}  // namespace bgerase::engine::onednn
