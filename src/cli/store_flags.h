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
  CLI::App* cmd = nullptr;  // the command AddStoreFlags gave them to
};

void AddStoreFlags(CLI::App* cmd, StoreFlags& f);

// Opens the store the flags name, each flag not on the command line read from BGERASE_DATA,
// BGERASE_DATABASE or BGERASE_RETENTION first (cli/environment.h), so `admin` and `dataset`
// find the store the service's environment names. A value from the environment that the store
// refuses is named in the error ("BGERASE_RETENTION=25h: ..."), and a password in a URL an error
// quotes is masked ("postgres://user:***@host"). Opening purges whatever has
// expired, so even a one-off command honours retention; `run_reaper` is for long-lived commands
// (`serve`).
// The options the flags (or their variables) name, without opening anything; errors as below.
Result<store::StoreOptions> StoreOptionsFromFlags(StoreFlags& f);

Result<std::unique_ptr<store::Store>> OpenStoreFromFlags(StoreFlags& f, bool run_reaper);

}  // namespace bgerase::cli
