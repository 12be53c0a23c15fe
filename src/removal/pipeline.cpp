// See pipeline.h. The model sees a 1024x1024 squash of the image; the mask comes back to full
// resolution, and every later step (crop, size cap, background) works at output resolution.
#include "removal/pipeline.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "matting/foreground.h"
#include "matting/refine.h"
#include "removal/calibration.h"
#include "removal/model_registry.h"

namespace bgerase::removal {
namespace {

constexpr uint8_t kForegroundThreshold = 10;  // alpha above this counts as subject

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Mirrors every row of an NCHW float tensor in place (left becomes right).
void MirrorRows(engine::Tensor& t) {
  const int64_t w = t.shape().back();
  float* p = t.data<float>();
  for (int64_t row = 0; row < t.size() / w; ++row) std::reverse(p + row * w, p + (row + 1) * w);
}

// balanced and best, unless refine=off: unsure alpha re-estimated from the photo
// (matting/refine.h), at the model's resolution.
bool Refines(const RemovalOptions& options) {
  return options.refine && options.quality_mode != RemovalOptions::QualityMode::kFast;
}

// The subject's own colour where alpha is soft (quality_mode balanced and best), so the old
// background does not show through on a new one: the multi-level solve (matting/foreground.h),
// block by block over the soft area. `rgb` is the photo (3-band uchar), `alpha` its final alpha
// (1-band uchar in memory, the same size). Opaque and clear pixels keep the photo's colour.
// docs/design/quality.md has the numbers that chose it over blur-fusion.
vips::VImage SubjectColour(const vips::VImage& rgb, const vips::VImage& alpha) {
  const int w = rgb.width(), h = rgb.height();
  const size_t n = static_cast<size_t>(w) * h;
  const vips::VImage photo = rgb.copy_memory();
  const auto* px = static_cast<const uint8_t*>(vips_image_get_data(photo.get_image()));
  const auto* a = static_cast<const uint8_t*>(vips_image_get_data(alpha.get_image()));
  std::unique_ptr<uint8_t, decltype(&g_free)> out(static_cast<uint8_t*>(g_malloc(n * 3)), &g_free);
  matting::EstimateForegroundTiled(px, a, w, h, out.get());
  return vips::VImage::new_from_memory_steal(out.release(), n * 3, w, h, 3, VIPS_FORMAT_UCHAR);
}

}  // namespace

Result<std::unique_ptr<Pipeline>> Pipeline::Create(const PipelineConfig& config) {
  BGERASE_RETURN_IF_ERROR(imaging::InitVips());
  const ModelSpec& spec = DefaultModel();
  const std::string dir = ModelDir(config.model_dir);
  BGERASE_RETURN_IF_ERROR(VerifyModel(dir, spec));
  auto choice = ChoosePrecision(dir, spec, config.precision);
  if (!choice.ok()) return choice.status();
  engine::SessionOptions opts;
  opts.precision = choice->precision;
  opts.calibration = choice->calibration;
  opts.threads = config.threads;
  opts.outputs = {spec.output};
  auto session = engine::Session::Load(ModelPath(dir, spec), opts);
  if (!session.ok()) return session.status();
  auto plan = (*session)->Prepare({{1, 3, kModelSize, kModelSize}});
  if (!plan.ok()) return plan.status();
  return std::unique_ptr<Pipeline>(
      new Pipeline(std::move(session).value(), config, ModelPath(dir, spec)));
}

Result<PreparedImage> Pipeline::Prepare(std::string_view bytes) const {
  return Prepare(bytes, config_.limits);
}

Result<PreparedImage> Pipeline::Prepare(std::string_view bytes,
                                        const imaging::DecodeLimits& limits) {
  const auto t0 = std::chrono::steady_clock::now();
  auto image = imaging::Decode(bytes, limits);
  if (!image.ok()) return image.status();
  PreparedImage p;
  p.input = imaging::ModelInput(*image, kModelSize);
  if (p.input.size() == 0) {  // libvips could not scale it: a defined 400, never a 500
    return Status("unsupported_image", "the " + std::to_string(image->width) + "x" +
                                           std::to_string(image->height) +
                                           " image could not be scaled to the model's input");
  }
  p.image = std::move(image).value();
  p.limits = limits;
  p.decode_ms = MsSince(t0);
  return p;
}

Result<InferredImage> Pipeline::Infer(PreparedImage prepared, const RemovalOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  auto out = session_->Run({prepared.input});
  if (!out.ok()) return out.status();
  InferredImage inferred;
  inferred.mask = std::move((*out)[0]);
  if (options.quality_mode == RemovalOptions::QualityMode::kBest) {
    // Test-time augmentation: the mirror image's mask, mirrored back, averaged in. The model is
    // not exactly symmetric, so where it hesitates the two disagree and the mean is steadier.
    MirrorRows(prepared.input);
    auto mirrored = session_->Run({prepared.input});
    if (!mirrored.ok()) return mirrored.status();
    MirrorRows(prepared.input);  // the photo as it was, for the refinement
    MirrorRows((*mirrored)[0]);
    float* m = inferred.mask.data<float>();
    const float* n = (*mirrored)[0].data<float>();
    for (int64_t i = 0; i < inferred.mask.size(); ++i) m[i] = 0.5f * (m[i] + n[i]);
  }
  inferred.inference_ms = MsSince(t0);
  // The model's view of the photo (12 MB): the refinement reads its colours, nothing else does.
  if (!Refines(options)) prepared.input = engine::Tensor();
  inferred.prepared = std::move(prepared);
  return inferred;
}

Result<RemovalResult> Pipeline::Finish(PreparedImage prepared, const RemovalOptions& options) {
  auto inferred = Infer(std::move(prepared), options);
  if (!inferred.ok()) return inferred.status();
  return Render(std::move(inferred).value(), options);
}

Result<RemovalResult> Pipeline::Render(InferredImage inferred, const RemovalOptions& options) {
  RemovalResult r;
  r.decode_ms = inferred.prepared.decode_ms;
  r.inference_ms = inferred.inference_ms;
  const auto t0 = std::chrono::steady_clock::now();
  const imaging::DecodedImage& im = inferred.prepared.image;
  const int w = im.width, h = im.height;
  try {
    const size_t model_plane = static_cast<size_t>(kModelSize) * kModelSize;
    // Only with the model's view of the photo (an InferredImage made without Infer has none).
    const bool refine =
        Refines(options) && static_cast<size_t>(inferred.prepared.input.size()) == 3 * model_plane;
    if (refine) {
      // At the model's resolution, against the photo as the model saw it, before upsampling.
      const float* in = inferred.prepared.input.data<float>();
      const float* const planes[3] = {in, in + model_plane, in + 2 * model_plane};
      matting::RefineAlpha(planes, inferred.mask.data<float>(), kModelSize, kModelSize);
      inferred.prepared.input = engine::Tensor();
    }
    // One full-resolution alpha plane, kept in memory: the box needs all of it, and compose
    // reuses it instead of upsampling twice. Above the mask's size the photo guides the
    // upsampling of an unrefined mask so the cut follows its edges (imaging::UpsamplingFor); a
    // refined one is upsampled bilinearly, since on real photos (icm54) the guided filter on top
    // of the refinement made the edge band 3.5 % worse (docs/design/quality.md).
    const imaging::MaskUpsampling upsampling =
        refine ? imaging::MaskUpsampling::kBilinear
               : imaging::UpsamplingFor(w, h, kModelSize, kModelSize);
    vips::VImage alpha = imaging::MaskToAlpha(inferred.mask.data<float>(), kModelSize, kModelSize,
                                              im.rgb, upsampling)
                             .copy_memory();
    if (im.alpha)
      alpha = (alpha.cast(VIPS_FORMAT_FLOAT) * im.alpha->cast(VIPS_FORMAT_FLOAT) / 255)
                  .cast(VIPS_FORMAT_UCHAR)
                  .copy_memory();
    if (options.roi) {
      // Foreground only inside the region: everything outside it is background.
      auto roi = RoiBox(*options.roi, w, h);
      if (!roi.ok()) return roi.status();
      if (*roi != Box{0, 0, w, h})
        alpha = alpha.extract_area(roi->left, roi->top, roi->width, roi->height)
                    .embed(roi->left, roi->top, w, h)
                    .copy_memory();
    }
    imaging::DecodedImage base = im;
    base.alpha.reset();  // folded into `alpha`
    if (options.quality_mode != RemovalOptions::QualityMode::kFast &&
        options.channels != Channels::kAlpha)
      base.rgb = SubjectColour(base.rgb, alpha);
    bool despill = options.despill;
    if (options.scale || options.position) {
      // remove.bg's scale and position: the subject's box moves on the same canvas; what it
      // leaves is background. Despill first, while the real background is still around the edges.
      const auto* found = static_cast<const uint8_t*>(vips_image_get_data(alpha.get_image()));
      if (const Box box = ForegroundBox(found, w, h, kForegroundThreshold); !box.empty()) {
        if (despill) base.rgb = imaging::Despill(base.rgb, alpha).copy_memory();
        despill = false;
        const Placement at = PlaceOnCanvas(box, w, h, options.scale, options.position);
        auto placed = imaging::PlaceSubject(base.rgb, alpha, box.left, box.top, box.width,
                                            box.height, at.factor, at.left, at.top);
        base.rgb = std::move(placed.rgb);
        alpha = std::move(placed.alpha);
      }
    }
    const auto* plane = static_cast<const uint8_t*>(vips_image_get_data(alpha.get_image()));
    const Box subject = ForegroundBox(plane, w, h, kForegroundThreshold);
    const Box crop = options.crop ? CropRect(subject, options.crop_margin, w, h) : Box{0, 0, w, h};
    const auto [ow, oh] = CapSize(crop.width, crop.height, options.max_pixels);

    imaging::ComposeSpec spec;
    if (options.bg_color) {
      spec.background = std::array<uint8_t, 4>{options.bg_color->r, options.bg_color->g,
                                               options.bg_color->b, options.bg_color->a};
    }
    spec.crop_left = crop.left;
    spec.crop_top = crop.top;
    spec.crop_width = crop.width;
    spec.crop_height = crop.height;
    spec.out_width = ow;
    spec.out_height = oh;
    spec.alpha_only = options.channels == Channels::kAlpha;
    std::optional<imaging::DecodedImage> background;
    if (options.bg_image && !spec.alpha_only) {
      auto decoded = imaging::Decode(*options.bg_image, inferred.prepared.limits);
      if (!decoded.ok())
        return Status(decoded.status().code(),
                      "The background image: " + decoded.status().message());
      background = std::move(decoded).value();
      spec.background_image = &*background;
      spec.background.reset();
    }
    spec.despill = despill;
    if (options.add_shadow && !subject.empty()) {
      using T = RemovalOptions::ShadowType;
      imaging::ShadowSpec shadow;
      shadow.type = options.shadow_type == T::kCar      ? imaging::ShadowType::kCar
                    : options.shadow_type == T::kThreeD ? imaging::ShadowType::kThreeD
                                                        : imaging::ShadowType::kDrop;
      shadow.opacity = options.shadow_opacity / 100.0;
      shadow.subject_left = subject.left;
      shadow.subject_top = subject.top;
      shadow.subject_width = subject.width;
      shadow.subject_height = subject.height;
      spec.shadow = shadow;
    }
    vips::VImage composed = imaging::Compose(base, alpha, spec);

    imaging::EncodeSpec enc;
    enc.format = spec.alpha_only ? ImageFormat::kPng : options.format;
    if (background && options.format_auto)
      enc.format = background->alpha ? ImageFormat::kPng : ImageFormat::kJpeg;
    enc.quality = options.quality;
    enc.keep_metadata = options.keep_metadata;
    auto bytes = imaging::Encode(composed, im.metadata, enc, &r.mime);
    if (!bytes.ok()) return bytes.status();
    r.bytes = std::move(bytes).value();
    r.width = ow;
    r.height = oh;
    if (!subject.empty()) {
      // The subject box in output coordinates: relative to the crop, scaled with the output.
      const double sx = static_cast<double>(ow) / crop.width,
                   sy = static_cast<double>(oh) / crop.height;
      const int l = std::max(subject.left, crop.left), t = std::max(subject.top, crop.top);
      const int rr = std::min(subject.left + subject.width, crop.left + crop.width);
      const int b = std::min(subject.top + subject.height, crop.top + crop.height);
      r.foreground.left = static_cast<int>(std::floor((l - crop.left) * sx));
      r.foreground.top = static_cast<int>(std::floor((t - crop.top) * sy));
      r.foreground.width =
          std::max(1, static_cast<int>(std::ceil((rr - crop.left) * sx)) - r.foreground.left);
      r.foreground.height =
          std::max(1, static_cast<int>(std::ceil((b - crop.top) * sy)) - r.foreground.top);
      r.foreground.width = std::min(r.foreground.width, ow - r.foreground.left);
      r.foreground.height = std::min(r.foreground.height, oh - r.foreground.top);
    }
  } catch (const vips::VError& e) {
    return Status("corrupt_image", std::string("the image could not be processed: ") + e.what());
  }
  r.encode_ms = MsSince(t0);
  return r;
}

Result<RemovalResult> Pipeline::Run(std::string_view bytes, const RemovalOptions& options) {
  auto p = Prepare(bytes);
  if (!p.ok()) return p.status();
  return Finish(std::move(p).value(), options);
}

}  // namespace bgerase::removal
