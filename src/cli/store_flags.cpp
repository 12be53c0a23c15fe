#include "cli/store_flags.h"

namespace bgerase::cli {

void AddStoreFlags(CLI::App* cmd, StoreFlags& f) {
  cmd->add_option("--data", f.data, "data folder (database and encrypted blobs)")
      ->capture_default_str();
  cmd->add_option(
      "--database", f.database,
      "database URL: sqlite:PATH (default DATA/bgerase.db) or postgres://... (shared by replicas)");
  cmd->add_option("--retention", f.retention,
                  "retention of processing data, e.g. 30m or 2h (at most and by default 24h)");
}

Result<std::unique_ptr<store::Store>> OpenStoreFromFlags(const StoreFlags& f, bool run_reaper) {
  auto options = store::StoreOptionsFromFlags(f.data, f.database, f.retention);
  if (!options.ok()) return options.status();
  options->run_reaper = run_reaper;
  return store::OpenStore(*options);
}

}  // namespace bgerase::cli
