// Pipeline: bytes and RemovalOptions in, the encoded result and its facts out. Pure: it never
// touches the store (what is kept is decided in store/, called by api/). One Pipeline holds one
// loaded model; runs are thread-safe (inference is serialised inside the engine session).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/session.h"
#include "imaging/imaging.h"
#include "removal/options.h"

namespace bgerase::removal {

struct PipelineConfig {
  std::string model_dir;  // empty: ModelDir("")
  engine::Precision precision = engine::Precision::kAuto;
  int threads = 0;  // inference threads; 0: all cores
  imaging::DecodeLimits limits;
};

struct RemovalResult {
  std::string bytes;
  std::string mime;
  int width = 0, height = 0;  // of the output image
  Box foreground;             // subject box in output pixel coordinates
  double decode_ms = 0, inference_ms = 0, encode_ms = 0;
};

// A decoded image and its model input, ready for inference (the first stage).
// The model's square input and mask side.
inline constexpr int kModelSize = 1024;

struct PreparedImage {
  imaging::DecodedImage image;
  engine::Tensor input;
  imaging::DecodeLimits limits;  // the photo's, for a background image too
  double decode_ms = 0;
};

// The model's mask for a prepared image (the second stage).
struct InferredImage {
  PreparedImage prepared;
  engine::Tensor mask;  // 1x1xkModelSizexkModelSize float32 in [0, 1]
  double inference_ms = 0;
};

class Pipeline {
 public:
  // Loads and verifies the model. Errors: "model_missing", "model_corrupt" (naming
  // `bgerase models fetch`), "unsupported_precision".
  static Result<std::unique_ptr<Pipeline>> Create(const PipelineConfig& config);

  // Everything: Prepare, then Finish.
  Result<RemovalResult> Run(std::string_view bytes, const RemovalOptions& options);

  // Stage 1 (CPU, no model): decode with limits, orient, sRGB, model input. Batches overlap
  // this for the next image with Finish of the current one.
  Result<PreparedImage> Prepare(std::string_view bytes) const;
  // The same before any pipeline exists (after imaging::InitVips): a one-photo run decodes its
  // photo while Create loads the model.
  static Result<PreparedImage> Prepare(std::string_view bytes, const imaging::DecodeLimits& limits);
  // Stage 2: inference (serialised: one at a time per Pipeline). quality_mode best runs the
  // model twice, on the photo and on its mirror image, and averages the two masks.
  Result<InferredImage> Infer(PreparedImage prepared, const RemovalOptions& options);
  // Stage 3 (CPU, no model): mask at full resolution, the subject's colour under soft alpha
  // (quality_mode balanced and best), foreground box, crop, size cap, compose, encode. Batches run
  // it for one image while the next is inferred.
  static Result<RemovalResult> Render(InferredImage inferred, const RemovalOptions& options);
  // Infer, then Render.
  Result<RemovalResult> Finish(PreparedImage prepared, const RemovalOptions& options);

  engine::Precision precision() const { return session_->precision(); }
  const std::string& model_path() const { return model_path_; }

 private:
  Pipeline(std::unique_ptr<engine::Session> s, PipelineConfig c, std::string path)
      : session_(std::move(s)), config_(std::move(c)), model_path_(std::move(path)) {}
  std::unique_ptr<engine::Session> session_;
  PipelineConfig config_;
  std::string model_path_;
};

}  // namespace bgerase::removal
