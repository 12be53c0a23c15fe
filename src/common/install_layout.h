// Where an installed bgerase finds what it ships and keeps. One binary runs in two layouts: from
// its build tree (the source tree's web/ and models/), or installed under a prefix, where
// PREFIX/bin/bgerase finds PREFIX/share/bgerase beside it (any prefix; nothing compiled in).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <optional>
#include <system_error>

namespace bgerase {

// The model folder of an installed bgerase (the package's state directory, which its systemd
// unit also names), unless --model-dir or BGERASE_MODEL_DIR says otherwise.
inline constexpr char kInstalledModelDir[] = "/var/lib/bgerase/models";

// PREFIX/share/bgerase when the running binary is PREFIX/bin/bgerase and that folder exists;
// nullopt in a build tree (or when /proc/self/exe cannot be read).
inline std::optional<std::filesystem::path> InstalledShareDir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec || exe.parent_path().filename() != "bin") return std::nullopt;
  std::filesystem::path share = exe.parent_path().parent_path() / "share" / "bgerase";
  if (!std::filesystem::is_directory(share / "web", ec)) return std::nullopt;
  return share;
}

}  // namespace bgerase
