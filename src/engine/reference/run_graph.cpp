// Reference evaluation of a whole graph: every node through its reference kernel, in
// dependency order, with no passes. The oracle for plan-level tests.
#include <map>

#include "engine/passes.h"
#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Result<std::vector<Tensor>> RunGraph(Graph g, const std::vector<Tensor>& inputs) {
  BGERASE_RETURN_IF_ERROR(TopologicalSort(g));
  if (inputs.size() != g.inputs.size()) return Status("shape_mismatch", "wrong number of inputs");
  std::map<std::string, Tensor> values = g.initializers;
  for (size_t i = 0; i < inputs.size(); ++i) values[g.inputs[i]] = inputs[i];
  for (const Node& n : g.nodes) {
    std::vector<const Tensor*> in;
    for (const auto& name : n.inputs) in.push_back(name.empty() ? nullptr : &values.at(name));
    for (const auto& f : n.fused) {
      if (f.kind == FusedOp::Kind::kAdd) in.push_back(&values.at(f.operand));
    }
    auto out = Evaluate(n, in);
    if (!out.ok()) return out.status();
    for (size_t i = 0; i < out->size(); ++i) values[n.outputs[i]] = std::move((*out)[i]);
  }
  std::vector<Tensor> outs;
  for (const auto& o : g.outputs) outs.push_back(values.at(o).CastTo(DType::kFloat32));
  return outs;
}

}  // namespace bgerase::engine::ref
