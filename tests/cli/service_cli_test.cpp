// Running bgerase as a service (docs/deploy.md), through the built binary: `serve` settings from
// BGERASE_<FLAG> variables (a flag wins, a bad value is refused like the bad flag and named,
// secrets are masked by --print-config), the one version string, and `models install` of a model
// file carried by hand.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "cli_run.h"
#include "common/version.h"
#include "test_util.h"

namespace bgerase::store {
namespace {

using testutil::Bgerase;
using testutil::CliRun;
using testutil::TempDir;

// The --print-config line of `flag`: "--port  BGERASE_PORT  8080  default".
std::string ConfigLine(const std::string& config, const std::string& flag) {
  std::smatch m;
  const std::regex line("(^|\n)(" + flag + " [^\n]*)");
  return std::regex_search(config, m, line) ? m.str(2) : "";
}

// Value and source of `flag` in a --print-config output, e.g. {"8080", "default"}.
std::pair<std::string, std::string> Config(const std::string& config, const std::string& flag) {
  std::smatch m;
  const std::string l = ConfigLine(config, flag);
  const std::regex cols("^(\\S+) +(\\S+) +(.*\\S) +(\\S+)$");
  if (!std::regex_match(l, m, cols)) return {"<no line for " + flag + ">", ""};
  return {m.str(3), m.str(4)};
}

TEST(ServeEnvironment, EnvironmentIsReadAndFlagsWin) {
  CliRun r = Bgerase("serve --print-config --port 9292 --retention 30m", "",
                     "BGERASE_PORT=9191 BGERASE_RETENTION=2h BGERASE_WORKERS=3 "
                     "BGERASE_TRUSTED_PROXY='10.0.0.1, 10.1.0.0/16' BGERASE_QUIET=yes ");
  ASSERT_EQ(r.code, 0) << r.err;
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(Config(r.out, "--port"), P("9292", "flag")) << r.out;
  EXPECT_EQ(Config(r.out, "--retention"), P("30m", "flag"));
  EXPECT_EQ(Config(r.out, "--workers"), P("3", "env"));
  EXPECT_EQ(Config(r.out, "--trusted-proxy"), P("10.0.0.1,10.1.0.0/16", "env"));
  EXPECT_EQ(Config(r.out, "--quiet"), P("yes", "env"));
  EXPECT_EQ(Config(r.out, "--host"), P("127.0.0.1", "default"));
  EXPECT_EQ(Config(r.out, "--max-queue"), P("8", "default"));
  EXPECT_NE(ConfigLine(r.out, "--trusted-proxy").find("BGERASE_TRUSTED_PROXY"), std::string::npos);
  // An empty default says what it means; --print-config itself is no setting.
  EXPECT_EQ(Config(r.out, "--database"), P("(sqlite:./data/bgerase.db)", "default"));
  EXPECT_EQ(ConfigLine(r.out, "--print-config"), "");
}

// Not only printed: `serve` opens the store the environment names, then uses its host.
TEST(ServeEnvironment, ServeUsesTheEnvironment) {
  TempDir dir;
  const std::string env = "BGERASE_DATA='" + dir.path().string() + "' BGERASE_HOST=256.0.0.1 ";
  CliRun r = Bgerase("serve --port 0", "", env);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("256.0.0.1"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(dir.path() / "bgerase.db"));
  // The store's own checks apply to a value from the environment as to the flag, and the error
  // names the variable.
  CliRun ret = Bgerase("serve", "", env + "BGERASE_RETENTION=25h ");
  EXPECT_NE(ret.code, 0);
  EXPECT_NE(ret.err.find("invalid_retention: BGERASE_RETENTION=25h: "), std::string::npos)
      << ret.err;
  CliRun db = Bgerase("serve", "", env + "BGERASE_DATABASE=mysql://u:pw@db.example/bgerase ");
  EXPECT_NE(db.code, 0);
  EXPECT_NE(db.err.find("unsupported_database: BGERASE_DATABASE=mysql://u:***@db.example/"),
            std::string::npos)
      << db.err;
  EXPECT_EQ(db.err.find(":pw@"), std::string::npos) << "the store's message quotes the URL masked";
  CliRun db_flag = Bgerase("serve --database mysql://u:pw@db.example/bgerase", "", env);
  EXPECT_NE(db_flag.err.find("unsupported_database"), std::string::npos) << db_flag.err;
  EXPECT_EQ(db_flag.err.find(":pw@"), std::string::npos) << db_flag.err;
  CliRun by_flag = Bgerase("serve --retention 25h", "", env);
  EXPECT_NE(by_flag.err.find("invalid_retention: "), std::string::npos) << by_flag.err;
  EXPECT_EQ(by_flag.err.find("BGERASE_"), std::string::npos) << by_flag.err;
}

// `admin` and `dataset` open the store the service's variables name, so an operator command run
// with the service's environment acts on the service's store; a flag still wins.
TEST(StoreEnvironment, AdminAndDatasetReadTheStoreVariables) {
  TempDir dir, other;
  const std::string env = "BGERASE_DATA='" + dir.path().string() + "' ";
  CliRun created = Bgerase("admin create-account env@example.com", "", env);
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_TRUE(fs::exists(dir.path() / "bgerase.db"));
  CliRun listed = Bgerase("admin list-accounts", "", env);
  EXPECT_NE(listed.out.find("env@example.com"), std::string::npos) << listed.out;
  CliRun elsewhere = Bgerase("admin list-accounts --data '" + other.path().string() + "'", "", env);
  ASSERT_EQ(elsewhere.code, 0) << elsewhere.err;
  EXPECT_EQ(elsewhere.out.find("env@example.com"), std::string::npos) << elsewhere.out;
  CliRun ret = Bgerase("admin list-accounts", "", env + "BGERASE_RETENTION=2d ");
  EXPECT_NE(ret.err.find("BGERASE_RETENTION=2d: "), std::string::npos) << ret.err;
  CliRun exported = Bgerase("dataset export '" + (other.path() / "ds").string() + "'", "", env);
  EXPECT_EQ(exported.code, 0) << exported.err;
  EXPECT_NE(exported.out.find("exported 0 "), std::string::npos) << exported.out;
}

// A value the flag refuses is refused from the environment with the same message and exit status,
// naming the variable, before anything starts.
TEST(ServeEnvironment, BadValueGetsTheFlagsErrorNamingTheVariable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--port", "99999"}, {"--workers", "three"}, {"--rate-limit", "-1"}, {"--quiet", "maybe"}};
  for (const auto& [flag, value] : cases) {
    std::string var = "BGERASE_" + flag.substr(2);
    for (char& c : var) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
    CliRun by_flag = Bgerase("serve --print-config " + flag + "=" + value);
    CliRun by_env = Bgerase("serve --print-config", "", var + "=" + value + " ");
    ASSERT_NE(by_flag.code, 0) << flag;
    EXPECT_EQ(by_env.code, by_flag.code) << var << ": " << by_env.err;
    EXPECT_EQ(by_env.out, "");
    const std::string flag_message = by_flag.err.substr(0, by_flag.err.find('\n'));
    EXPECT_NE(flag_message.find(flag), std::string::npos) << by_flag.err;
    EXPECT_EQ(by_env.err.substr(0, by_env.err.find('\n')), var + "=" + value + ": " + flag_message)
        << by_env.err;
  }
}

TEST(ServeEnvironment, PrintConfigMasksSecrets) {
  const std::string url =
      "postgres://ops:s3cret-Pw@db.internal:5432/bgerase?sslmode=require&password=0ther-pw";
  for (const bool by_flag : {false, true}) {
    CliRun r = by_flag ? Bgerase("serve --print-config --database '" + url + "'")
                       : Bgerase("serve --print-config", "", "BGERASE_DATABASE='" + url + "' ");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.find("s3cret-Pw"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("0ther-pw"), std::string::npos) << r.out;
    EXPECT_EQ(Config(r.out, "--database").first,
              "postgres://ops:***@db.internal:5432/bgerase?sslmode=require&password=***");
  }
}

TEST(Version, OneVersionForVersionAndInfo) {
  const std::string expected = std::string("bgerase ") + kVersion + "\n";
  EXPECT_TRUE(std::regex_search(kVersion, std::regex("^[0-9]+\\.[0-9]+\\.[0-9]+")));
  CliRun v = Bgerase("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out, expected);
  CliRun info = Bgerase("info --model-dir /nonexistent");
  EXPECT_EQ(info.out.substr(0, info.out.find('\n') + 1), expected) << info.out << info.err;
}

// `models install FILE` checks what `models fetch` checks (size, sha256) before anything is in
// place. Uses the model setup fetched (as the CLI end-to-end tests do).
TEST(ModelsInstall, AcceptsTheModelAndRefusesACorruptedCopy) {
  const fs::path model = fs::path(BGERASE_SOURCE_DIR) / "models" / "isnet-general-fp16.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "no model at " << model << " (make setup fetches it)";
  TempDir dir;
  const fs::path corrupt = dir.path() / "corrupt.onnx", target = dir.path() / "models";
  fs::copy_file(model, corrupt);
  {
    std::fstream f(corrupt, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1'000'000);
    f.put('\x5a');  // same size, one byte changed
  }
  const std::string flags = "models --model-dir '" + target.string() + "' install ";
  CliRun bad = Bgerase(flags + "'" + corrupt.string() + "'");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("model_install_failed"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("sha256"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("refusing to install it"), std::string::npos) << bad.err;
  EXPECT_TRUE(fs::is_empty(target)) << "a refused model must leave nothing behind";

  std::ofstream(dir.path() / "short.onnx") << "not a model";
  CliRun short_file = Bgerase(flags + "'" + (dir.path() / "short.onnx").string() + "'");
  EXPECT_EQ(short_file.code, 1);
  EXPECT_NE(short_file.err.find("bytes, expected 88188479"), std::string::npos) << short_file.err;
  EXPECT_TRUE(fs::is_empty(target));

  CliRun good = Bgerase(flags + "'" + model.string() + "'");
  ASSERT_EQ(good.code, 0) << good.err;
  EXPECT_NE(good.out.find("sha256 verified"), std::string::npos) << good.out;
  CliRun verify = Bgerase("models --model-dir '" + target.string() + "' verify");
  EXPECT_EQ(verify.code, 0) << verify.err;
}

// `admin backup` and `admin restore` as an operator runs them, with the service's variables: a
// backup into a new folder, a refusal (exit 1, the code named) for a folder in use, and a restore
// that serves the same key. What a backup holds is tested in tests/store/backup_test.cpp.
TEST(AdminBackup, BacksUpAndRestoresThroughTheCommands) {
  TempDir dir;
  const fs::path data = dir.path() / "data", backup = dir.path() / "backup";
  const std::string env = "BGERASE_DATA='" + data.string() + "' ";
  ASSERT_EQ(Bgerase("admin create-account ops@example.com", "", env).code, 0);
  CliRun key = Bgerase("admin create-key ops@example.com", "", env);
  ASSERT_EQ(key.code, 0) << key.err;
  CliRun made = Bgerase("admin backup '" + backup.string() + "'", "", env);
  ASSERT_EQ(made.code, 0) << made.err;
  EXPECT_NE(made.out.find("1 accounts, 1 API keys"), std::string::npos) << made.out;
  EXPECT_NE(made.out.find("left out: processing objects"), std::string::npos) << made.out;
  CliRun again = Bgerase("admin backup '" + backup.string() + "'", "", env);
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("backup_dir_not_empty"), std::string::npos) << again.err;
  CliRun onto = Bgerase("admin restore '" + backup.string() + "'", "", env);
  EXPECT_EQ(onto.code, 1);
  EXPECT_NE(onto.err.find("restore_target_exists"), std::string::npos) << onto.err;

  const fs::path fresh = dir.path() / "fresh";
  CliRun restored =
      Bgerase("admin restore '" + backup.string() + "' --data '" + fresh.string() + "'");
  ASSERT_EQ(restored.code, 0) << restored.err;
  CliRun listed = Bgerase("admin list-accounts --data '" + fresh.string() + "'");
  EXPECT_NE(listed.out.find("ops@example.com"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("\t1\n"), std::string::npos) << "the key is active: " << listed.out;
  CliRun revoke = Bgerase("admin revoke-key " + key.out.substr(0, key.out.find('\n')) +
                          " --data '" + fresh.string() + "'");
  EXPECT_EQ(revoke.code, 0) << "the restored store knows the key: " << revoke.err;
}

}  // namespace
}  // namespace bgerase::store
