// Runs the built `bgerase` binary (BGERASE_BINARY) through the shell for the CLI tests.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "test_util.h"

namespace bgerase::store::testutil {

struct CliRun {
  int code = -1;
  std::string out;  // stdout only; stderr goes to err
  std::string err;
};

// Runs `ENV bgerase ARGS` through the shell, with `input` on stdin. `env` is shell text put before
// the command, e.g. "BGERASE_PORT=1 " (the caller quotes it).
inline CliRun Bgerase(const std::string& args, const std::string& input = "",
                      const std::string& env = "") {
  TempDir io;
  const fs::path in = io.path() / "in", out = io.path() / "out", err = io.path() / "err";
  std::ofstream(in) << input;
  const std::string cmd = env + "'" + BGERASE_BINARY + "' " + args + " <'" + in.string() + "' >'" +
                          out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFileBytes(out);
  r.err = ReadFileBytes(err);
  return r;
}

}  // namespace bgerase::store::testutil
