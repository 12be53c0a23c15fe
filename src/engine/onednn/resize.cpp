// Lowering of Resize (reference: reference/resize.cpp) to our own kernel (resize_kernel.h):
// oneDNN's resampling lacks the ONNX coordinate modes. It runs in the slot's layout.
#include <stdexcept>

#include "engine/onednn/lowering.h"
#include "engine/op_params.h"
#include "engine/resize_kernel.h"

namespace bgerase::engine::onednn {

Status LowerResize(Lowering& L, const Node& n) {
  const Graph& g = *L.graph;
  const int x = L.slot_of.at(n.inputs[0]);
  const int y = L.slot_of.at(n.outputs[0]);
  const Tensor* sc =
      n.inputs.size() > 2 && !n.inputs[2].empty() ? &g.initializers.at(n.inputs[2]) : nullptr;
  const Tensor* sz =
      n.inputs.size() > 3 && !n.inputs[3].empty() ? &g.initializers.at(n.inputs[3]) : nullptr;
  auto pr = ParseResize(n, L.slots[x].shape, sc, sz);
  if (!pr.ok()) return pr.status();
  const ResizeParams p = *pr;
  L.pending.push_back({n.Describe(), {x}, {y}, [&L, x, y, p](Step* st) {
                         const Slot& xs = L.slots[x];
                         const Slot& ys = L.slots[y];
                         if (xs.dt != ys.dt || xs.blocked != ys.blocked)
                           throw std::runtime_error("layout mismatch");
                         const int64_t block = L.BlockOf(x);
                         const int64_t planes = xs.shape[0] * xs.shape[1] / block;
                         const void* src = L.Ptr(x);
                         void* dst = L.Ptr(y);
                         const DType dt = xs.dt;
                         const int64_t h = xs.shape[2], w = xs.shape[3];
                         const int64_t oh = ys.shape[2], ow = ys.shape[3];
                         st->run = [p, src, dst, dt, planes, block, h, w, oh, ow](dnnl::stream&) {
                           ResizeSpatial(p, src, dst, dt, planes, block, h, w, oh, ow);
                         };
                       }});
  return Status::Ok();
}

}  // namespace bgerase::engine::onednn
