// Reading ONNX models into the engine's Graph, and a float32 copy of a model for peers.
#pragma once

#include <string>

#include "common/status.h"
#include "engine/graph.h"

namespace bgerase::engine {

// Parses an ONNX model. A missing, malformed or truncated file, external tensor data, a tensor
// whose dims multiply past 64 bits or whose data does not match them, or a value used before it
// is defined yields an error (code "invalid_model") naming the file and the offending node or
// tensor. Never crashes on bad bytes; tensors are allocated only for data the file holds.
Result<Graph> LoadOnnxFile(const std::string& path);
Result<Graph> LoadOnnxBytes(const std::string& bytes, const std::string& origin);

// Writes a copy of the model at `in_path` with every float16 initializer, Cast target and
// declared type widened to float32. Used to give ONNX Runtime the same model in fp32 for parity
// tests and benchmarks.
Status WriteFloat32Model(const std::string& in_path, const std::string& out_path);

}  // namespace bgerase::engine
