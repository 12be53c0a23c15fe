// Reference Identity: the input, shared (tensors are copy-on-write).
#include "engine/reference/reference.h"

namespace bgerase::engine::ref {

Result<Tensor> EvaluateIdentity(const Node& /*n*/, const Inputs& in) {
  return *in[0];
}

}  // namespace bgerase::engine::ref
