#include "cli/store_flags.h"

#include "cli/environment.h"
#include "store/errors.h"

namespace bgerase::cli {

void AddStoreFlags(CLI::App* cmd, StoreFlags& f) {
  f.cmd = cmd;
  cmd->add_option("--data", f.data, "data folder (database and encrypted blobs)")
      ->capture_default_str();
  cmd->add_option(
      "--database", f.database,
      "database URL: sqlite:PATH (default DATA/bgerase.db) or postgres://... (shared by replicas)");
  cmd->add_option("--retention", f.retention,
                  "retention of processing data, e.g. 30m or 2h (at most and by default 24h)");
}

Result<store::StoreOptions> StoreOptionsFromFlags(StoreFlags& f) {
  if (f.cmd) ApplyEnvironment(f.cmd, {}, {"--data", "--database", "--retention"});
  auto options = store::StoreOptionsFromFlags(f.data, f.database, f.retention);
  if (!options.ok()) {
    // Name the variable behind the refused value, as a bad flag's message names the flag.
    const std::string flag =
        options.status().code() == store::errors::kInvalidRetention      ? "--retention"
        : options.status().code() == store::errors::kUnsupportedDatabase ? "--database"
                                                                         : "";
    const CLI::Option* opt = f.cmd && !flag.empty() ? f.cmd->get_option_no_throw(flag) : nullptr;
    // Messages may quote a URL; its password is masked as --print-config masks it.
    const std::string message = MaskSecrets(options.status().message());
    if (opt && FromEnvironment(opt)) {
      return Status(
          options.status().code(),
          EnvironmentName(flag) + "=" + MaskSecrets(opt->results().at(0)) + ": " + message);
    }
    return Status(options.status().code(), message);
  }
  return options;
}

Result<std::unique_ptr<store::Store>> OpenStoreFromFlags(StoreFlags& f, bool run_reaper) {
  auto options = StoreOptionsFromFlags(f);
  if (!options.ok()) return options.status();
  options->run_reaper = run_reaper;
  auto opened = store::OpenStore(*options);
  if (!opened.ok()) {
    return Status(opened.status().code(), MaskSecrets(opened.status().message()));
  }
  return opened;
}

}  // namespace bgerase::cli
