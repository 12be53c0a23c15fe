// Settings from the environment: every long flag `--some-flag` of a command can also be given as
// BGERASE_SOME_FLAG, and a flag on the command line wins. Also what `serve --print-config` shows.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace bgerase::cli {

// The variable that sets `--some-flag`: "BGERASE_SOME_FLAG".
std::string EnvironmentName(const std::string& flag);

// One setting of a command as it will be used, and where its value came from.
struct Setting {
  std::string flag;    // "--port"
  std::string env;     // "BGERASE_PORT"
  std::string value;   // as given (repeated values joined by ","), or the default
  std::string source;  // "default", "env" or "flag"
};

// Reads BGERASE_<FLAG> for each long option of `cmd` that the command line did not give, and runs
// it through the option's own checks and conversion, so the value lands in the bound variable
// exactly as the flag's would. Options named in `skip` (e.g. "--print-config") are never read.
// A repeatable option takes a comma- or space-separated list. Call it first thing in the command's
// callback, once CLI11 has parsed the command line; calling it again changes nothing. A value the
// flag would refuse throws the CLI::ParseError the flag gets, with the same exit status and its
// message prefixed by "NAME=VALUE: ", which main() reports like any usage error. `only`, when not
// empty, limits it to those flags. Returns the settings it considered.
std::vector<Setting> ApplyEnvironment(CLI::App* cmd, const std::set<std::string>& skip,
                                      const std::set<std::string>& only = {});

// Whether ApplyEnvironment set `opt` from its variable.
bool FromEnvironment(const CLI::Option* opt);

// `value` with the password of any URL in it ("postgres://user:secret@host" ->
// "postgres://user:***@host") and any `password=...` parameter masked.
std::string MaskSecrets(const std::string& value);

// Prints the settings as a table, secrets masked. `defaults_meaning` gives, for a flag whose
// default is empty, what that default means (e.g. --database -> "sqlite:./data/bgerase.db").
void PrintSettings(std::ostream& out, const std::vector<Setting>& settings,
                   const std::map<std::string, std::string>& defaults_meaning);

}  // namespace bgerase::cli
