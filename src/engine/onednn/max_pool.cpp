// oneDNN lowering of MaxPool (reference: reference/max_pool.cpp), in the slot's layout.
#include "engine/onednn/lowering.h"
#include "engine/op_params.h"

namespace bgerase::engine::onednn {

Status LowerMaxPool(Lowering& L, const Node& n) {
  const int x = L.slot_of.at(n.inputs[0]);
  const int y = L.slot_of.at(n.outputs[0]);
  auto pr = ParseMaxPool(n, L.slots[x].shape);
  if (!pr.ok()) return pr.status();
  const PoolParams p = *pr;
  L.pending.push_back({n.Describe(), {x}, {y}, [&L, x, y, p](Step* st) {
                         dnnl::pooling_forward::desc d(
                             dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max,
                             L.Md(x), L.Md(y), {p.stride_h, p.stride_w}, {p.kh, p.kw},
                             {p.pad_t, p.pad_l}, {p.pad_b, p.pad_r});
                         dnnl::pooling_forward::primitive_desc pd(d, Lowering::Attr(), L.eng);
                         st->run = L.Bind(dnnl::pooling_forward(pd), pd.scratchpad_desc(),
                                          {{DNNL_ARG_SRC, L.Mem(x)}, {DNNL_ARG_DST, L.Mem(y)}});
                       }});
  return Status::Ok();
}

}  // namespace bgerase::engine::onednn
