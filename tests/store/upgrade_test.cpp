// Upgrades: a database left at every earlier schema version the migrations define is opened by
// the current store, which must bring it to the latest version with its data intact. Each
// database is built the way an older bgerase left it — that version's migrations only, then rows
// written with that version's columns — on both backends (real SQLite files, a real PostgreSQL
// server).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <pqxx/pqxx>
#include <string>

#include "pg_test_util.h"
#include "store/errors.h"
#include "store/postgres/pg_schema.h"
#include "store/sqlite/schema.h"
#include "store_env.h"

namespace bgerase::store {
namespace {

using testutil::Backend;
using testutil::T0;

constexpr char kAccount[] = "acc_upgrade0000000000000000000001";
constexpr char kEmail[] = "old@example.com";

// The rows an older version wrote: an account with a grant in the consent ledger, and from the
// version that has usage (SQLite 2, PostgreSQL 1) three images counted on T0's day.
std::string SeedRows(bool with_usage) {
  const std::string t0 = std::to_string(ToMillis(T0()));
  std::string sql = "INSERT INTO accounts (id, email, password_hash, created_at) VALUES ('" +
                    std::string(kAccount) + "', '" + kEmail + "', NULL, " + t0 + ");" +
                    "INSERT INTO consent_events (account_id, action, policy_version, actor, at) "
                    "VALUES ('" +
                    kAccount + "', 'grant', 'v1', 'cli', " + t0 + ");";
  if (with_usage)
    sql += "INSERT INTO usage_daily (account_id, day, images) VALUES ('" + std::string(kAccount) +
           "', '" + UtcDay(T0()) + "', 3);";
  return sql;
}

void BuildSqliteAt(const fs::path& data, std::size_t version) {
  fs::create_directories(data);
  fs::permissions(data, fs::perms::owner_all);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((data / "bgerase.db").c_str(), &db), SQLITE_OK);
  std::string sql = "BEGIN;";
  for (std::size_t i = 0; i < version; ++i) sql += sqlite::Migrations()[i];
  sql += SeedRows(version >= 2);
  sql += "PRAGMA user_version=" + std::to_string(version) + "; COMMIT;";
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
  fs::permissions(data / "bgerase.db", fs::perms::owner_read | fs::perms::owner_write);
}

void BuildPostgresAt(const std::string& url, std::size_t version) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  tx.exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT "
      "NULL DEFAULT now())");
  for (std::size_t i = 0; i < version; ++i) {
    tx.exec(postgres::Migrations()[i]);
    tx.exec("INSERT INTO schema_migrations (version) VALUES (" + std::to_string(i + 1) + ")");
  }
  tx.exec(SeedRows(true));
  tx.commit();
}

struct UpgradeCase {
  Backend backend;
  std::size_t version;
};

class UpgradeTest : public ::testing::TestWithParam<UpgradeCase> {};

TEST_P(UpgradeTest, AnOlderDatabaseOpensUpgradedWithItsDataIntact) {
  const UpgradeCase c = GetParam();
  testutil::StoreEnv env(c.backend);
  if (env.sqlite()) {
    BuildSqliteAt(env.data(), c.version);
  } else {
    const std::string url = env.Options(std::make_shared<ManualClock>(T0())).database_url;
    ASSERT_FALSE(url.empty());
    BuildPostgresAt(url, c.version);
  }
  auto clock = std::make_shared<ManualClock>(T0());
  auto store = env.Open(clock);
  ASSERT_TRUE(store) << "version " << c.version;
  // What the old version wrote is all there.
  auto account = store->accounts().FindByEmail(kEmail);
  ASSERT_TRUE(account.ok()) << account.status().ToString();
  EXPECT_EQ(account->id, kAccount);
  auto consent = store->consent().Current(kAccount);
  ASSERT_TRUE(consent.ok());
  EXPECT_TRUE(consent->opted_in);
  const bool had_usage = !env.sqlite() || c.version >= 2;
  EXPECT_EQ(*store->usage().Total(kAccount), had_usage ? 3u : 0u);
  // And what later versions added works on it: keys, jobs' usage, the form key, credits.
  auto key = store->api_keys().Create(kAccount);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_TRUE(store->api_keys().Authenticate(key->key).ok());
  EXPECT_TRUE(store->sessions().FormKey().ok());
  ASSERT_TRUE(store->usage().SetAllowance(kAccount, 4).ok());
  EXPECT_TRUE(store->usage().Charge(kAccount, 4).ok());
  EXPECT_EQ(store->usage().Charge(kAccount, 1).code(), errors::kInsufficientCredits);
  // Opened again, nothing is migrated twice.
  store.reset();
  store = env.Open(clock);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->usage().Credits(kAccount)->spent, 4);
}

std::vector<UpgradeCase> EveryEarlierVersion() {
  std::vector<UpgradeCase> cases;
  for (std::size_t v = 1; v < sqlite::Migrations().size(); ++v)
    cases.push_back({Backend::kSqlite, v});
  for (std::size_t v = 1; v < postgres::Migrations().size(); ++v)
    cases.push_back({Backend::kPostgres, v});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(EveryEarlierVersion, UpgradeTest,
                         ::testing::ValuesIn(EveryEarlierVersion()),
                         [](const ::testing::TestParamInfo<UpgradeCase>& info) {
                           return std::string(info.param.backend == Backend::kSqlite ? "Sqlite"
                                                                                     : "Postgres") +
                                  "V" + std::to_string(info.param.version);
                         });

}  // namespace
}  // namespace bgerase::store
