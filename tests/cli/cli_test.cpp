// End to end through the built `bgerase` binary: admin commands against a fresh data folder.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>

#include "cli_run.h"
#include "pg_test_util.h"
#include "test_util.h"

namespace bgerase::store {
namespace {

using testutil::RawDb;
using testutil::TempDir;

using testutil::Bgerase;
using testutil::CliRun;

TEST(AdminCli, CreateAccountKeyAndList) {
  TempDir dir;
  const std::string data = " --data '" + dir.path().string() + "'";
  CliRun created = Bgerase("admin create-account ops@example.com" + data);
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_NE(created.out.find("ops@example.com"), std::string::npos);

  CliRun dup = Bgerase("admin create-account OPS@example.com" + data);
  EXPECT_NE(dup.code, 0);
  EXPECT_NE(dup.err.find("account_exists"), std::string::npos) << dup.err;

  CliRun key = Bgerase("admin create-key ops@example.com" + data);
  ASSERT_EQ(key.code, 0) << key.err;
  const std::regex key_re("bge_[0-9a-f]{64}");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(key.out, m, key_re)) << key.out;
  const std::string the_key = m.str();
  EXPECT_EQ(key.out, the_key + "\n");  // printed once, alone on stdout
  EXPECT_EQ(key.err.find(the_key), std::string::npos);

  CliRun list = Bgerase("admin list-accounts" + data);
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("ops@example.com"), std::string::npos);
  EXPECT_EQ(list.out.find(the_key), std::string::npos);  // never shown again
  EXPECT_EQ(list.out.find(the_key.substr(4)), std::string::npos);

  // What the binary wrote is a working store: the key authenticates, then revoke-key kills it.
  {
    auto s = testutil::OpenAt(dir.path(), DefaultClock());
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->api_keys().Authenticate(the_key).ok());
  }
  CliRun revoke = Bgerase("admin revoke-key " + the_key.substr(0, 12) + data);
  ASSERT_EQ(revoke.code, 0) << revoke.err;
  {
    auto s = testutil::OpenAt(dir.path(), DefaultClock());
    EXPECT_FALSE(s->api_keys().Authenticate(the_key).ok());
  }
  EXPECT_FALSE(testutil::AnyFileContains(dir.path(), the_key));
}

TEST(AdminCli, PasswordFromStdinIsHashed) {
  TempDir dir;
  const std::string data = " --data '" + dir.path().string() + "'";
  const std::string password = "stdin-password-5c1e";
  CliRun r =
      Bgerase("admin create-account pw@example.com --password-stdin" + data, password + "\n");
  ASSERT_EQ(r.code, 0) << r.err;
  auto s = testutil::OpenAt(dir.path(), DefaultClock());
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->accounts().VerifyPassword("pw@example.com", password).ok());
  EXPECT_FALSE(testutil::AnyFileContains(dir.path(), password));
}

TEST(AdminCli, RefusesUnknownDatabasesAndLongRetention) {
  TempDir dir;
  CliRun other = Bgerase("admin list-accounts --database mysql://db.example/bgerase");
  EXPECT_NE(other.code, 0);
  EXPECT_NE(other.err.find("unsupported_database"), std::string::npos) << other.err;
  CliRun ret = Bgerase("admin list-accounts --retention 25h --data '" + dir.path().string() + "'");
  EXPECT_NE(ret.code, 0);
  EXPECT_NE(ret.err.find("invalid_retention"), std::string::npos) << ret.err;
  CliRun sqlite = Bgerase("admin create-account db@example.com --data '" + dir.path().string() +
                          "' --database 'sqlite:" + (dir.path() / "other.db").string() + "'");
  EXPECT_EQ(sqlite.code, 0) << sqlite.err;
  EXPECT_TRUE(fs::exists(dir.path() / "other.db"));
}

TEST(DatasetCli, ExportWritesManifestOfConsentedItemsOnly) {
  TempDir dir;
  {
    auto s = testutil::OpenAt(dir.path(), DefaultClock());
    ASSERT_TRUE(s);
    auto in = s->accounts().Create("in@example.com", std::nullopt);
    auto out = s->accounts().Create("out@example.com", std::nullopt);
    auto grant = s->consent().Grant(in->id, "v1", ConsentActor::kCli);
    const std::string img = testutil::FakeImage("cli-consented");
    ASSERT_TRUE(s->training()
                    .AddItem({in->id, *grant->event_id, std::nullopt, AsBytes(img), "image/png",
                              AsBytes(img), "image/png"})
                    .ok());
    const std::string other = testutil::FakeImage("cli-not-consented");
    ASSERT_TRUE(
        s->objects()
            .Put({out->id, ObjectKind::kInput, "", "image/png", std::nullopt, AsBytes(other)})
            .ok());
  }
  const fs::path ds = dir.path() / "dataset";
  CliRun r = Bgerase("dataset export '" + ds.string() + "' --data '" + dir.path().string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("exported 1 "), std::string::npos) << r.out;
  EXPECT_TRUE(testutil::AnyFileContains(ds, "cli-consented"));
  EXPECT_FALSE(testutil::AnyFileContains(ds, "cli-not-consented"));
  EXPECT_EQ(testutil::CountFiles(ds), 3u);
}

// docs/reference/operations.md: `admin` takes --database postgres://... like `serve`; what one
// command writes the next one (another process, as another replica would be) reads.
TEST(PostgresCli, CreateAccountKeyAndListOnSharedDatabase) {
  testutil::PgTestDb db;
  ASSERT_FALSE(db.url().empty());
  TempDir unused;  // --data is ignored with PostgreSQL: nothing may be written there
  const std::string flags =
      " --database '" + db.url() + "' --data '" + (unused.path() / "data").string() + "'";
  CliRun created = Bgerase("admin create-account pg-ops@example.com" + flags);
  ASSERT_EQ(created.code, 0) << created.err;
  CliRun dup = Bgerase("admin create-account PG-OPS@example.com" + flags);
  EXPECT_NE(dup.code, 0);
  EXPECT_NE(dup.err.find("account_exists"), std::string::npos) << dup.err;
  CliRun key = Bgerase("admin create-key pg-ops@example.com" + flags);
  ASSERT_EQ(key.code, 0) << key.err;
  const std::regex key_re("bge_[0-9a-f]{64}");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(key.out, m, key_re)) << key.out;
  const std::string the_key = m.str();

  CliRun list = Bgerase("admin list-accounts" + flags);
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("pg-ops@example.com"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find(the_key), std::string::npos);
  EXPECT_FALSE(fs::exists(unused.path() / "data"));

  testutil::PgRaw raw(db.url());
  EXPECT_EQ(raw.Int("SELECT count(*) FROM accounts"), 1);
  EXPECT_FALSE(raw.AnyTableContains(the_key));
  StoreOptions o;
  o.database_url = db.url();
  o.run_reaper = false;
  auto s = OpenStore(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE((*s)->api_keys().Authenticate(the_key).ok());
}

}  // namespace
}  // namespace bgerase::store
