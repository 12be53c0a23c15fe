// Retention configuration: durations parse, the 24-hour ceiling is refused rather than clamped,
// and the zip/CRC helper used by exports is right.
#include <gtest/gtest.h>

#include "store/errors.h"
#include "store/retention_policy.h"
#include "store/store.h"
#include "store/zip_writer.h"

namespace bgerase::store {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(ParseDuration, AcceptsUnits) {
  EXPECT_EQ(*ParseDuration("45s"), seconds(45));
  EXPECT_EQ(*ParseDuration("30m"), minutes(30));
  EXPECT_EQ(*ParseDuration("2h"), hours(2));
  EXPECT_EQ(*ParseDuration("1h30m"), minutes(90));
  EXPECT_EQ(*ParseDuration("1d"), hours(24));
}

TEST(ParseDuration, RefusesGarbage) {
  for (const char* bad : {"", "30", "m", "-5m", "5x", "1.5h", " 5m", "5m ", "99999999999999h"}) {
    auto r = ParseDuration(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), errors::kInvalidRetention) << bad;
    }
  }
}

TEST(RetentionPolicy, DefaultIs24Hours) {
  EXPECT_EQ(RetentionPolicy().retention(), hours(24));
  EXPECT_EQ(StoreOptions().retention.retention(), hours(24));
}

TEST(RetentionPolicy, AcceptsUpTo24Hours) {
  EXPECT_TRUE(RetentionPolicy::Parse("24h").ok());
  EXPECT_TRUE(RetentionPolicy::Parse("1s").ok());
  EXPECT_EQ(RetentionPolicy::Parse("30m")->retention(), minutes(30));
}

TEST(RetentionPolicy, RefusesMoreThan24Hours) {
  for (const char* bad : {"24h1s", "25h", "2d", "1441m"}) {
    auto r = RetentionPolicy::Parse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), errors::kInvalidRetention);
    EXPECT_NE(r.status().message().find("24-hour"), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(RetentionPolicy::Create(seconds(0)).ok());
}

TEST(RetentionPolicy, FlagsRefuseLongRetentionAndUnknownDatabases) {
  auto r = StoreOptionsFromFlags("data", "", "48h");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), errors::kInvalidRetention);
  auto other = StoreOptionsFromFlags("data", "mysql://db/bgerase", "");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), errors::kUnsupportedDatabase);
  EXPECT_NE(other.status().message().find("postgres://"), std::string::npos);
  // PostgreSQL is served (docs/reference/operations.md), under both URI schemes libpq knows.
  auto pg = StoreOptionsFromFlags("data", "postgres://db/bgerase", "");
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  EXPECT_EQ(pg->database_url, "postgres://db/bgerase");
  EXPECT_TRUE(StoreOptionsFromFlags("data", "postgresql://db/bgerase", "30m").ok());
  EXPECT_FALSE(StoreOptionsFromFlags("data", "postgres://db/bgerase", "25h").ok());
  EXPECT_TRUE(StoreOptionsFromFlags("data", "sqlite:/tmp/x.db", "30m").ok());
}

TEST(Crc32, MatchesKnownValue) {
  // The standard check value of CRC-32/ISO-HDLC.
  EXPECT_EQ(Crc32(AsBytes("123456789")), 0xCBF43926u);
  EXPECT_EQ(Crc32(AsBytes("")), 0u);
}

}  // namespace
}  // namespace bgerase::store
