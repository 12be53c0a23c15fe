// Lowering of Identity (reference: reference/identity.cpp): a reorder, which also converts
// between the two slots' layouts and dtypes. RemoveNoOpCasts leaves one only where a graph
// output copies another value.
#include "engine/onednn/lowering.h"

namespace bgerase::engine::onednn {

Status LowerIdentity(Lowering& L, const Node& n) {
  const int x = L.slot_of.at(n.inputs[0]);
  const int y = L.slot_of.at(n.outputs[0]);
  L.pending.push_back(
      {n.Describe(), {x}, {y}, [&L, x, y](Step* st) { st->run = L.Reorder(L.Mem(x), L.Mem(y)); }});
  return Status::Ok();
}

}  // namespace bgerase::engine::onednn
