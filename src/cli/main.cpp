// Entry point of the single `bgerase` binary: parses the command line and dispatches.
#include <cstdio>

#include "cli/commands.h"
#include "common/version.h"

namespace bgerase::cli {
int& ExitCode() {
  static int code = 0;
  return code;
}
}  // namespace bgerase::cli

int main(int argc, char** argv) {
  CLI::App app{"bgerase: self-hosted, privacy-first background removal"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("bgerase ") + bgerase::kVersion);
  bgerase::cli::RegisterRemoveCommand(app);
  bgerase::cli::RegisterModelsCommand(app);
  bgerase::cli::RegisterInfoCommand(app);
  bgerase::cli::RegisterEngineCommand(app);
  bgerase::cli::RegisterAdminCommand(app);
  bgerase::cli::RegisterDatasetCommand(app);
  bgerase::cli::RegisterServeCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return bgerase::cli::ExitCode();
}
