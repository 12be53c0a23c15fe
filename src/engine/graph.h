// The engine's graph IR: what the ONNX loader produces and every pass rewrites. Values are
// named by strings (as in ONNX); constants live in `initializers`. Passes are in passes.h.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/tensor.h"

namespace bgerase::engine {

struct Attribute {
  enum class Kind { kInt, kFloat, kString, kInts, kFloats, kTensor };
  Kind kind = Kind::kInt;
  int64_t i = 0;
  float f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  Tensor t;
};

// An element-wise operation fused onto the end of a producing node (a oneDNN post-op).
struct FusedOp {
  enum class Kind { kRelu, kSigmoid, kAdd };
  Kind kind;
  std::string operand;  // the other addend for kAdd; same shape as the node's output
};

struct Node {
  std::string name;
  std::string op;
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;
  std::vector<FusedOp> fused;  // applied in order to outputs[0]; set by FuseConvPostOps

  bool HasAttr(const std::string& key) const { return attrs.count(key) != 0; }
  int64_t Int(const std::string& key, int64_t fallback) const;
  float Float(const std::string& key, float fallback) const;
  std::string String(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> Ints(const std::string& key, std::vector<int64_t> fallback = {}) const;
  // "Conv '/stage1/conv'" for error messages.
  std::string Describe() const { return op + " '" + name + "'"; }
};

struct ValueType {
  DType dtype = DType::kFloat32;
  Shape shape;  // -1 marks a dimension unknown until the graph is specialised
};

struct Graph {
  std::vector<Node> nodes;
  std::map<std::string, Tensor> initializers;
  std::vector<std::string> inputs;  // graph inputs that are not initializers
  std::vector<std::string> outputs;
  std::map<std::string, ValueType> declared;  // types of graph inputs/outputs as declared

  bool IsConstant(const std::string& v) const { return initializers.count(v) != 0; }
  // Index of the node producing `value`, or -1 (graph input, initializer or unknown).
  int Producer(const std::string& value) const;
  // How many node inputs (including fused operands) and graph outputs read `value`.
  int UseCount(const std::string& value) const;
};

}  // namespace bgerase::engine
