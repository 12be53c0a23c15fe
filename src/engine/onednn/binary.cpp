// oneDNN lowering of Add and Mul (reference: reference/binary.cpp), numpy broadcasting: the
// full-shape operand goes first, the other (a slot or a constant) is padded to its rank.
#include <utility>

#include "engine/onednn/lowering.h"

namespace bgerase::engine::onednn {

Status LowerBinary(Lowering& L, const Node& n) {
  const Graph& g = *L.graph;
  const int y = L.slot_of.at(n.outputs[0]);
  std::string a = n.inputs[0], b = n.inputs[1];
  // oneDNN broadcasts only the second source: put the full-shape operand first.
  if (L.types->at(a).shape != L.types->at(n.outputs[0]).shape) std::swap(a, b);
  if (!L.slot_of.count(a))
    return Status("unsupported_op", n.Describe() + ": both operands constant");
  const int xa = L.slot_of.at(a);
  const bool b_const = g.IsConstant(b);
  const int xb = b_const ? -1 : L.slot_of.at(b);
  Tensor bt = b_const ? g.initializers.at(b) : Tensor();
  const auto alg = n.op == "Add" ? dnnl::algorithm::binary_add : dnnl::algorithm::binary_mul;
  std::vector<int> reads{xa};
  if (xb >= 0) reads.push_back(xb);
  L.pending.push_back(
      {n.Describe(), reads, {y}, [&L, xa, xb, bt, y, alg](Step* st) {
         const size_t rank = L.slots[y].shape.size();
         auto padded = [rank](Shape s) {
           while (s.size() < rank) s.insert(s.begin(), 1);
           return s;
         };
         memory mb;
         if (xb >= 0) {
           mb = L.Mem(xb);
           if (L.slots[xb].shape.size() != rank) {
             mb = memory(L.Md(xb).reshape(Dims(padded(L.slots[xb].shape))), L.eng, L.Ptr(xb));
           }
         } else {
           const Shape s = padded(bt.shape());
           mb = L.Constant(bt, Dims(s), PlainTag(s.size()));
         }
         dnnl::binary::desc d(alg, L.Md(xa), mb.get_desc(), L.Md(y));
         dnnl::binary::primitive_desc pd(d, Lowering::Attr(), L.eng);
         st->run =
             L.Bind(dnnl::binary(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_SRC_0, L.Mem(xa)}, {DNNL_ARG_SRC_1, mb}, {DNNL_ARG_DST, L.Mem(y)}});
       }});
  return Status::Ok();
}

}  // namespace bgerase::engine::onednn
