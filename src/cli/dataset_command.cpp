// `bgerase dataset export DIR`: the only way training data leaves the store. Writes image + mask
// pairs and manifest.jsonl for items whose owners' consent is active, re-checked per item.
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/store_flags.h"
#include "store/store.h"

namespace bgerase::cli {

void RegisterDatasetCommand(CLI::App& app) {
  CLI::App* dataset = app.add_subcommand("dataset", "training data (consented items only)");
  dataset->require_subcommand(1);

  struct Flags {
    StoreFlags store;
    std::string dir;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = dataset->add_subcommand(
      "export", "write consented training items (image + mask) and manifest.jsonl to DIR");
  cmd->add_option("dir", f->dir, "an empty or new folder")->required();
  AddStoreFlags(cmd, f->store);
  cmd->callback([f] {
    auto fail = [](const Status& st) {
      std::cerr << "bgerase: error: " << st.ToString() << "\n";
      ExitCode() = 1;
    };
    auto s = OpenStoreFromFlags(f->store, /*run_reaper=*/false);
    if (!s.ok()) return fail(s.status());
    auto report = (*s)->training().ExportDataset(f->dir);
    if (!report.ok()) return fail(report.status());
    std::cout << "exported " << report->items_written << " training items to " << f->dir;
    if (report->items_skipped > 0) {
      std::cout << " (" << report->items_skipped << " skipped: consent no longer active)";
    }
    std::cout << "\n";
  });
}

}  // namespace bgerase::cli
