// Attribute accessors and small graph queries.
#include "engine/graph.h"

namespace bgerase::engine {

int64_t Node::Int(const std::string& key, int64_t fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.i;
}

float Node::Float(const std::string& key, float fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.f;
}

std::string Node::String(const std::string& key, const std::string& fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.s;
}

std::vector<int64_t> Node::Ints(const std::string& key, std::vector<int64_t> fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.ints;
}

int Graph::Producer(const std::string& value) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& o : nodes[i].outputs) {
      if (o == value) return static_cast<int>(i);
    }
  }
  return -1;
}

int Graph::UseCount(const std::string& value) const {
  int n = 0;
  for (const auto& node : nodes) {
    for (const auto& in : node.inputs) n += in == value;
    for (const auto& f : node.fused) n += f.operand == value;
  }
  for (const auto& o : outputs) n += o == value;
  return n;
}

}  // namespace bgerase::engine
