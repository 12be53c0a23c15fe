// oneDNN lowering of Relu and Sigmoid (reference: reference/relu.cpp, reference/sigmoid.cpp)
// where FuseConvPostOps left them standalone.
#include "engine/onednn/lowering.h"

namespace bgerase::engine::onednn {

Status LowerEltwise(Lowering& L, const Node& n) {
  const int x = L.slot_of.at(n.inputs[0]);
  const int y = L.slot_of.at(n.outputs[0]);
  const auto alg =
      n.op == "Relu" ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_logistic;
  L.pending.push_back({n.Describe(), {x}, {y}, [&L, x, y, alg](Step* st) {
                         dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, alg,
                                                       L.Md(x), 0.f, 0.f);
                         dnnl::eltwise_forward::primitive_desc pd(d, Lowering::Attr(), L.eng);
                         st->run = L.Bind(dnnl::eltwise_forward(pd), pd.scratchpad_desc(),
                                          {{DNNL_ARG_SRC, L.Mem(x)}, {DNNL_ARG_DST, L.Mem(y)}});
                       }});
  return Status::Ok();
}

}  // namespace bgerase::engine::onednn
