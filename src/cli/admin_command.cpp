// `bgerase admin`: operator commands on accounts and API keys, against the same store (--data /
// --database) that `serve` uses. Secrets are printed once and never logged.
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/store_flags.h"
#include "store/backup.h"
#include "store/store.h"

namespace bgerase::cli {
namespace {

int Fail(const Status& st) {
  std::cerr << "bgerase: error: " << st.ToString() << "\n";
  ExitCode() = 1;
  return 1;
}

// Opening purges whatever has expired, so even a one-off admin command honours retention.
std::unique_ptr<store::Store> Open(StoreFlags& f) {
  auto s = OpenStoreFromFlags(f, /*run_reaper=*/false);  // short-lived; `serve` runs the reaper
  if (!s.ok()) {
    Fail(s.status());
    return nullptr;
  }
  return std::move(s.value());
}

// "unlimited", or a number of credits that is a multiple of 0.25 (remove.bg's smallest price),
// as quarter credits. nullopt inside: unlimited; no value at all: malformed.
std::optional<std::optional<std::int64_t>> ParseAllowance(const std::string& text) {
  if (text == "unlimited") return std::optional<std::int64_t>();
  char* end = nullptr;
  const double credits = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(credits >= 0) || credits > 1e12) return std::nullopt;
  const double quarters = credits * store::kQuartersPerCredit;
  if (quarters != std::floor(quarters)) return std::nullopt;
  return std::optional<std::int64_t>(static_cast<std::int64_t>(quarters));
}

// The account with this email; nullopt (the failure printed) when there is none.
std::optional<store::Account> FindAccount(store::Store& s, const std::string& email) {
  auto account = s.accounts().FindByEmail(email);
  if (!account.ok()) {
    Fail(account.status());
    return std::nullopt;
  }
  return std::move(account).value();
}

std::string Counts(const store::BackupReport& r) {
  return std::to_string(r.accounts) + " accounts, " + std::to_string(r.api_keys) + " API keys, " +
         std::to_string(r.consent_events) + " consent events, " + std::to_string(r.usage_days) +
         " days of usage, " + std::to_string(r.training_objects) + " training objects";
}

// `admin backup` and `admin restore`: a folder and the store flags, handed to `run`.
void AddBackupCommand(CLI::App* admin, const char* name, const char* help, const char* dir_help,
                      std::function<int(const store::StoreOptions&, const std::string&)> run) {
  auto flags = std::make_shared<StoreFlags>();
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = admin->add_subcommand(name, help);
  cmd->add_option("dir", *dir, dir_help)->required();
  AddStoreFlags(cmd, *flags);
  cmd->callback([flags, dir, run] {
    auto options = StoreOptionsFromFlags(*flags);
    if (!options.ok()) {
      Fail(options.status());
      return;
    }
    run(*options, *dir);
  });
}

std::string ReadPasswordFromStdin() {
  std::string line;
  std::getline(std::cin, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

}  // namespace

void RegisterAdminCommand(CLI::App& app) {
  CLI::App* admin = app.add_subcommand("admin", "manage accounts and API keys");
  admin->require_subcommand(1);

  {
    auto flags = std::make_shared<StoreFlags>();
    auto email = std::make_shared<std::string>();
    auto password_stdin = std::make_shared<bool>(false);
    CLI::App* cmd = admin->add_subcommand("create-account",
                                          "create an account (API-only unless --password-stdin)");
    cmd->add_option("email", *email, "the account's email")->required();
    cmd->add_flag("--password-stdin", *password_stdin, "read the web password from stdin");
    AddStoreFlags(cmd, *flags);
    cmd->callback([flags, email, password_stdin] {
      std::optional<std::string> password;
      if (*password_stdin) {
        password = ReadPasswordFromStdin();
        if (password->empty()) {
          Fail(Status("weak_password", "no password on stdin"));
          return;
        }
      }
      auto s = Open(*flags);
      if (!s) return;
      std::optional<std::string_view> pw;
      if (password) pw = *password;
      auto account = s->accounts().Create(*email, pw);
      if (!account.ok()) {
        Fail(account.status());
        return;
      }
      std::cout << "created account " << account->email << " (" << account->id << ")"
                << (account->has_password ? "" : ", API-only") << "\n";
    });
  }

  {
    auto flags = std::make_shared<StoreFlags>();
    auto email = std::make_shared<std::string>();
    CLI::App* cmd =
        admin->add_subcommand("create-key", "create an API key for an account; printed once");
    cmd->add_option("email", *email, "the account's email")->required();
    AddStoreFlags(cmd, *flags);
    cmd->callback([flags, email] {
      auto s = Open(*flags);
      if (!s) return;
      auto account = FindAccount(*s, *email);
      if (!account) return;
      auto key = s->api_keys().Create(account->id);
      if (!key.ok()) {
        Fail(key.status());
        return;
      }
      // The key alone on stdout, so scripts can capture it; the advice goes to stderr.
      std::cout << key->key << "\n";
      std::cerr << "API key " << key->info.prefix << " created for " << account->email
                << ". It is shown only now: bgerase keeps only its hash.\n";
    });
  }

  {
    auto flags = std::make_shared<StoreFlags>();
    auto which = std::make_shared<std::string>();
    CLI::App* cmd = admin->add_subcommand("revoke-key", "revoke an API key");
    cmd->add_option("key", *which, "the key, or its public prefix")->required();
    AddStoreFlags(cmd, *flags);
    cmd->callback([flags, which] {
      auto s = Open(*flags);
      if (!s) return;
      Status st = s->api_keys().Revoke(*which, std::nullopt);
      if (!st.ok()) {
        Fail(st);
        return;
      }
      std::string shown = *which;
      if (shown.starts_with("bge_")) shown = shown.substr(4);
      std::cout << "revoked key " << shown.substr(0, 8) << "\n";
    });
  }

  {
    auto flags = std::make_shared<StoreFlags>();
    auto email = std::make_shared<std::string>();
    auto amount = std::make_shared<std::string>();
    CLI::App* cmd = admin->add_subcommand(
        "set-credits", "set an account's monthly credit allowance (1 per image, 0.25 at 0.25 MP)");
    cmd->add_option("email", *email, "the account's email")->required();
    cmd->add_option("credits", *amount, "credits per UTC month (a multiple of 0.25), or unlimited")
        ->required();
    AddStoreFlags(cmd, *flags);
    cmd->callback([flags, email, amount] {
      const auto allowance = ParseAllowance(*amount);
      if (!allowance) {
        std::cerr << "bgerase: error: credits must be a number of credits that is a multiple of "
                     "0.25 (0 or more), or unlimited; got '"
                  << *amount << "'\n";
        ExitCode() = 2;
        return;
      }
      auto s = Open(*flags);
      if (!s) return;
      auto account = FindAccount(*s, *email);
      if (!account) return;
      if (Status st = s->usage().SetAllowance(account->id, *allowance); !st.ok()) {
        Fail(st);
        return;
      }
      auto state = s->usage().Credits(account->id);
      if (!state.ok()) {
        Fail(state.status());
        return;
      }
      const auto credits = [](std::int64_t quarters) {
        return static_cast<double>(quarters) / store::kQuartersPerCredit;
      };
      std::cout << account->email << ": ";
      if (*allowance) {
        std::cout << credits(**allowance) << " credits a month";
      } else {
        std::cout << "unlimited";
      }
      std::cout << ", " << credits(state->spent) << " spent this month\n";
    });
  }

  AddBackupCommand(
      admin, "backup",
      "back up what may outlive retention (accounts, key hashes, consent, usage, consented "
      "training items) into a new folder; never processing data",
      "a new or empty folder for the backup",
      [](const store::StoreOptions& options, const std::string& dir) {
        auto report = store::BackupStore(options, dir);
        if (!report.ok()) return Fail(report.status());
        std::cout << "backed up to " << dir << ": " << Counts(*report) << " (" << report->bytes
                  << " bytes); left out: processing objects, jobs, sessions\n";
        if (report->skipped_objects) {
          std::cout << report->skipped_objects
                    << " training objects deleted while the backup ran were left out\n";
        }
        return 0;
      });
  AddBackupCommand(
      admin, "restore",
      "restore a backup into a new store (--data DIR, --database sqlite:PATH or an empty "
      "PostgreSQL database)",
      "a folder written by `bgerase admin backup`",
      [](const store::StoreOptions& options, const std::string& dir) {
        auto report = store::RestoreStore(dir, options);
        if (!report.ok()) return Fail(report.status());
        std::cout << "restored " << dir << ": " << Counts(*report)
                  << "; users sign in again (sessions are not backed up)\n";
        // Consent as it stood then: a withdrawal or deletion made since is not in the backup.
        std::cout << "the backup was made at "
                  << store::FormatTime(store::FromMillis(report->created_at_ms))
                  << "; re-apply any training opt-out or deletion requested since then\n";
        return 0;
      });

  {
    auto flags = std::make_shared<StoreFlags>();
    CLI::App* cmd = admin->add_subcommand("list-accounts", "list accounts");
    AddStoreFlags(cmd, *flags);
    cmd->callback([flags] {
      auto s = Open(*flags);
      if (!s) return;
      auto accounts = s->accounts().List();
      if (!accounts.ok()) {
        Fail(accounts.status());
        return;
      }
      std::cout << "email\tid\tcreated_at\tpassword\ttraining_opt_in\tactive_keys\n";
      for (const auto& a : *accounts) {
        auto consent = s->consent().Current(a.id);
        auto keys = s->api_keys().List(a.id);
        std::size_t active = 0;
        if (keys.ok()) {
          for (const auto& k : *keys) active += k.revoked_at ? 0 : 1;
        }
        std::cout << a.email << "\t" << a.id << "\t" << store::FormatTime(a.created_at) << "\t"
                  << (a.has_password ? "yes" : "no") << "\t"
                  << (consent.ok() && consent->opted_in ? "yes" : "no") << "\t" << active << "\n";
      }
    });
  }
}

}  // namespace bgerase::cli
