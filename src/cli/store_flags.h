// The flags that name a store (--data, --database, --retention), written once for every command
// that opens one: `serve`, `admin`, `dataset`.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace bgerase::cli {

struct StoreFlags {
  std::string data = "./data";
  std::string database;
  std::string retention;
};

void AddStoreFlags(CLI::App* cmd, StoreFlags& f);

// Opens the store the flags name. Opening purges whatever has expired, so even a one-off command
// honours retention; `run_reaper` is for long-lived commands (`serve`).
Result<std::unique_ptr<store::Store>> OpenStoreFromFlags(const StoreFlags& f, bool run_reaper);

}  // namespace bgerase::cli
