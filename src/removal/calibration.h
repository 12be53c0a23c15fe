// int8 for the model: static activation ranges measured on photographs, the quality guard that
// decides whether int8 may be used on this CPU class, and the file beside the model that keeps
// both. The photographs come from a Debian package (python3-skimage's data) at setup time;
// nothing generated is committed.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "removal/model_registry.h"

namespace bgerase::removal {

// The guard's limits: int8's masks against fp32's on the same inputs.
inline constexpr double kGuardMaxMeanDiff = 0.01;  // mean |int8 - fp32| on every image
inline constexpr double kGuardMaxMaeRatio = 1.02;  // set MAE vs true alpha: at most +2 %
inline constexpr double kGuardMaxIouDrop = 0.005;  // set IoU vs true alpha: at most 0.005 lower

// One guard run, for one CPU class (engine::Int8ClassName()).
struct GuardReport {
  struct Image {
    std::string name;
    bool has_truth = false;             // a composite with exact alpha
    double mean_diff = 0;               // mean |int8 - fp32|
    double mae_fp32 = 0, mae_int8 = 0;  // vs true alpha (composites)
    double iou_fp32 = 0, iou_int8 = 0;  // mask > 0.5 vs alpha > 0.5 (composites)
  };
  std::string cpu_class;
  std::vector<Image> images;
  double worst_mean_diff = 0;
  double mae_fp32 = 0, mae_int8 = 0;  // over the composites
  double iou_fp32 = 0, iou_int8 = 0;
  bool passed = false;
  std::string why;  // one line: the figures, or the limit that failed
};

struct ModelCalibration {
  std::string model_sha256;  // the model file it was measured on
  engine::Calibration table;
  std::map<std::string, GuardReport> guards;  // by CPU class
};

// `<model file>.calibration.json` in the model folder.
std::string CalibrationPath(const std::string& dir, const ModelSpec& spec);

// Reads the calibration. "not_calibrated" when there is none or it belongs to another model
// file (naming `bgerase models calibrate`).
Result<ModelCalibration> LoadCalibration(const std::string& dir, const ModelSpec& spec);
Status SaveCalibration(const std::string& dir, const ModelSpec& spec, const ModelCalibration& c);

// The precision a session of the model runs on this CPU for `requested`, with what it needs.
// auto: int8 where the model is calibrated and int8 passed the guard on this CPU class, else
// bf16 where the CPU has it natively, else fp32. Errors: "not_calibrated" for an explicit int8
// without a calibration.
struct PrecisionChoice {
  engine::Precision precision = engine::Precision::kFloat32;
  std::shared_ptr<const engine::Calibration> calibration;  // null when there is none
  std::string why;                                         // one line for `bgerase info`
};
Result<PrecisionChoice> ChoosePrecision(const std::string& dir, const ModelSpec& spec,
                                        engine::Precision requested);

// The folder of Debian's python3-skimage example data, where the photos below live.
const char* PhotoDataDir();
// Calibration photos and guard photos: disjoint sets.
const std::vector<std::string>& CalibrationPhotos();
const std::vector<std::string>& GuardPhotos();

// The share of each activation's values its int8 range covers (the rest saturate), chosen by
// the guard's figures (docs/design/performance.md).
inline constexpr double kCalibrationPercentile = 0.9999;

// Ranges of every convolution input of the model on the calibration photos (fp32), each clipped
// at `percentile`. Progress lines go to `log` (may be null).
Result<engine::Calibration> CalibrateModel(const std::string& model_path, int threads,
                                           double percentile, std::FILE* log);

// Runs fp32 and int8 on the guard photos and on composites with exact alpha built from them
// (each photo's subject, cut by fp32's own mask, over Debian's texture images), and checks the
// limits above. Errors only when the model cannot run.
Result<GuardReport> RunQualityGuard(const std::string& model_path,
                                    std::shared_ptr<const engine::Calibration> table, int threads,
                                    std::FILE* log);

}  // namespace bgerase::removal
