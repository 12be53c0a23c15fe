// The subcommands of `bgerase`. Each lives in its own file and adds itself to the app;
// main.cpp only wires them together.
#pragma once

#include <CLI/CLI.hpp>

namespace bgerase::cli {

void RegisterModelsCommand(CLI::App& app);
void RegisterInfoCommand(CLI::App& app);
void RegisterEngineCommand(CLI::App& app);
void RegisterRemoveCommand(CLI::App& app);
void RegisterAdminCommand(CLI::App& app);
void RegisterDatasetCommand(CLI::App& app);
void RegisterServeCommand(CLI::App& app);

// Exit code to return from main when a subcommand's callback failed; set by the callbacks.
int& ExitCode();

}  // namespace bgerase::cli
