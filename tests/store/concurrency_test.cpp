// Many threads creating, reading and deleting objects while the reaper runs and time moves:
// no object is lost or resurrected, and no read ever fails to decrypt.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "store/errors.h"
#include "store/sqlite/sqlite_db.h"
#include "store/storage_policy.h"
#include "store_env.h"

namespace bgerase::store {
namespace {

using namespace std::chrono_literals;
using namespace testutil;  // StoreEnv, Backend, T0 and the backends' instantiation

// On both backends (a PostgreSQL store serves its threads from a pool of connections).
class Concurrency : public ::testing::TestWithParam<Backend> {
 protected:
  StoreEnv env_{GetParam()};
};

TEST_P(Concurrency, NoLostResurrectedOrCorruptObjects) {
  auto clock = std::make_shared<ManualClock>(T0());
  StoreOptions o = env_.Options(clock, 10min, /*run_reaper=*/true);
  o.reaper_max_interval = 1ms;
  auto opened = OpenStore(o);
  ASSERT_TRUE(opened.ok());
  Store& store = **opened;
  auto account = store.accounts().Create("busy@example.com", std::nullopt);
  ASSERT_TRUE(account.ok());
  const AccountId owner = account->id;

  constexpr int kThreads = 6;
  constexpr int kPerThread = 60;
  struct Record {
    ObjectId id;
    std::string bytes;
    Time expires_at;
    bool deleted = false;
  };
  std::mutex mu;
  std::vector<Record> records;
  std::atomic<int> bad_reads{0};
  std::atomic<int> resurrected{0};
  std::atomic<bool> stop{false};

  // Time moves while everything runs, so objects expire mid-flight and the reaper works.
  std::thread ticker([&] {
    while (!stop.load()) {
      clock->Advance(2s);
      std::this_thread::sleep_for(100us);
    }
  });

  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string bytes =
            testutil::FakeImage("t" + std::to_string(t) + "-" + std::to_string(i), 2000 + 97 * i);
        auto put = store.objects().Put(
            {owner, ObjectKind::kInput, "", "image/png", std::nullopt, AsBytes(bytes)});
        if (!put.ok()) {
          ++bad_reads;
          continue;
        }
        auto got = store.objects().Get(owner, put->id);
        // Either the exact bytes, or gone because time passed its expiry; never anything else.
        if (got.ok()) {
          if (testutil::AsString(got->bytes) != bytes) ++bad_reads;
        } else if (got.status().code() != errors::kNotFound || clock->Now() < *put->expires_at) {
          ++bad_reads;
        }
        bool deleted = false;
        if (i % 3 == 0) {
          Status st = store.objects().Delete(owner, put->id);
          deleted = st.ok();
          if (!st.ok() && st.code() != errors::kNotFound) ++bad_reads;
          if (store.objects().Get(owner, put->id).ok()) ++resurrected;
        }
        std::lock_guard lock(mu);
        records.push_back({put->id, bytes, *put->expires_at, deleted});
      }
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  ticker.join();

  EXPECT_EQ(bad_reads.load(), 0);
  EXPECT_EQ(resurrected.load(), 0);
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kThreads * kPerThread));
  // Freeze time and check every object against what its history says it must be.
  const Time now = clock->Now();
  std::size_t live = 0;
  for (const Record& r : records) {
    auto got = store.objects().Get(owner, r.id);
    if (!r.deleted && now < r.expires_at) {
      ++live;
      ASSERT_TRUE(got.ok()) << "lost " << r.id << ": " << got.status().ToString();
      EXPECT_EQ(testutil::AsString(got->bytes), r.bytes);
    } else {
      EXPECT_EQ(got.status().code(), errors::kNotFound) << "resurrected " << r.id;
    }
  }
  // Let everything expire; the reaper (not us) must empty the store, logging each object once.
  clock->Advance(11min);
  StoreEnv& raw = env_;
  // Rows go first (commit), files right after; wait for both.
  for (int i = 0;
       i < 2000 && (raw.Int("SELECT count(*) FROM objects") != 0 || env_.BlobCount() != 0); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM deletion_log"), kThreads * kPerThread);
  EXPECT_EQ(raw.Int("SELECT count(DISTINCT object_id) FROM deletion_log"), kThreads * kPerThread);
  EXPECT_EQ(env_.BlobCount(), 0u);
  std::cout << "live at freeze: " << live << " of " << records.size() << "\n";
}

TEST_P(Concurrency, UploadsRacingWithdrawalNeverOutliveIt) {
  auto store = env_.Open(DefaultClock());
  ASSERT_TRUE(store);
  const AccountId owner = store->accounts().Create("racer@example.com", std::nullopt)->id;
  std::atomic<bool> stop{false};
  std::atomic<int> errors_seen{0};
  std::vector<std::thread> uploaders;
  for (int t = 0; t < 4; ++t) {
    uploaders.emplace_back([&, t] {
      StoragePolicy policy(*store);
      for (int i = 0; !stop.load(); ++i) {
        const std::string img =
            testutil::FakeImage("race-" + std::to_string(t) + "-" + std::to_string(i), 1024);
        auto r = policy.StoreUpload(
            {owner, AsBytes(img), "image/png", std::nullopt, "", std::nullopt, false});
        if (!r.ok()) ++errors_seen;
      }
    });
  }
  StoreEnv& raw = env_;
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(store->consent().Grant(owner, "v1", ConsentActor::kApi).ok());
    // Let at least one upload land in the pool before withdrawing (bounded: a slow disk under
    // load must not turn the race into one where nothing was ever granted in time).
    for (int i = 0;
         i < 400 && raw.Int("SELECT count(*) FROM objects WHERE purpose='training'") == 0; ++i) {
      std::this_thread::sleep_for(5ms);
    }
    auto w = store->consent().Withdraw(owner, "v1", ConsentActor::kApi);
    ASSERT_TRUE(w.ok());
    // Right after each withdrawal, while uploads keep coming, the pool holds nothing of theirs.
    EXPECT_EQ(raw.Int("SELECT count(*) FROM objects WHERE purpose='training'"), 0) << round;
  }
  stop = true;
  for (auto& u : uploaders) u.join();
  EXPECT_EQ(errors_seen.load(), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects WHERE purpose='training'"), 0);
  EXPECT_GT(raw.Int("SELECT count(*) FROM deletion_log WHERE reason='consent_withdrawn'"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM consent_events"), 40);
}

// Two replicas on one database, both authenticating (each authentication records the key's last
// use): no authentication fails because the other replica wrote meanwhile. On SQLite a read left
// open across the write made a third of them fail at once with "database is locked".
TEST_P(Concurrency, KeysAuthenticateWhileAnotherReplicaWrites) {
  auto clock = std::make_shared<ManualClock>(T0());
  auto front = env_.Open(clock);
  auto worker = env_.Open(clock);
  ASSERT_TRUE(front && worker);
  auto account = front->accounts().Create("replicas@example.com", std::nullopt);
  ASSERT_TRUE(account.ok());
  auto key = front->api_keys().Create(account->id);
  ASSERT_TRUE(key.ok());

  std::atomic<bool> stop{false};
  std::atomic<int> worker_failures{0};
  std::thread other([&] {
    while (!stop.load()) {
      clock->Advance(1ms);  // every write changes the row
      if (!worker->api_keys().Authenticate(key->key).ok()) ++worker_failures;
    }
  });
  int failures = 0;
  std::string first_failure;
  for (int i = 0; i < 600; ++i) {
    auto info = front->api_keys().Authenticate(key->key);
    if (!info.ok() && failures++ == 0) first_failure = info.status().ToString();
  }
  stop = true;
  other.join();
  EXPECT_EQ(failures, 0) << first_failure;
  EXPECT_EQ(worker_failures.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, Concurrency, testutil::AllBackends(), testutil::BackendName);

// Another connection holding the SQLite file's write lock: a statement waits for it up to the
// busy wait, and past it fails as store_unavailable (answered 503 with Retry-After), not as a
// database_error (500); a lock released within the wait is simply waited for.
TEST(SqliteBusy, ALockHeldPastTheWaitIsStoreUnavailableAndOneReleasedInTimeIsWaitedFor) {
  TempDir dir;
  const auto path = dir.path() / "busy.db";
  auto db = sqlite::SqliteDb::Open(path, 300ms);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  const auto t0 = std::chrono::steady_clock::now();
  std::string code;
  try {
    sqlite::Transaction tx(*db);
  } catch (const DbError& e) {
    code = e.status().code();
  }
  EXPECT_EQ(code, errors::kStoreUnavailable);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);  // it waited before giving up
  auto insert = [&] {
    auto q = db->Prepare("CREATE TABLE IF NOT EXISTS t (v INTEGER)");
    q.Run();
  };
  EXPECT_THROW(insert(), DbError);  // an autocommit write outside a transaction too

  std::thread release([&] {
    std::this_thread::sleep_for(100ms);
    sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  });
  EXPECT_NO_THROW(insert());  // waits the 100 ms, then writes
  release.join();
  sqlite3_close(other);
}

}  // namespace
}  // namespace bgerase::store
