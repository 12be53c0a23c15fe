// promises 2 and 4 (docs/design/privacy.md): only uploads made while opted in reach the training pool, each with
// the grant that allowed it; withdrawal deletes them in the same transaction as the ledger row;
// the ledger is append-only; dataset export holds only consented items, re-checked per item.
#include <gtest/gtest.h>

#include "store/errors.h"
#include "store/storage_policy.h"
#include "store_env.h"

namespace bgerase::store {
namespace {

using namespace std::chrono_literals;
using testutil::Backend;
using testutil::RawDb;
using testutil::StoreEnv;
using testutil::T0;
using testutil::TempDir;

class ConsentTestBase : public ::testing::Test {
 protected:
  explicit ConsentTestBase(Backend backend) : env_(backend) {}
  void SetUp() override {
    store_ = env_.Open(clock_);
    ASSERT_TRUE(store_);
    alice_ = store_->accounts().Create("alice@example.com", std::nullopt)->id;
    bob_ = store_->accounts().Create("bob@example.com", std::nullopt)->id;
  }

  StoredUpload Upload(const AccountId& who, const std::string& marker, bool store = false) {
    StoragePolicy policy(*store_);
    const std::string in = testutil::FakeImage(marker);
    const std::string mask = testutil::FakeImage(marker + "-mask");
    auto r = policy.StoreUpload(
        {who, AsBytes(in), "image/jpeg", AsBytes(mask), "image/png", std::nullopt, store});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : StoredUpload{};
  }

  std::int64_t TrainingRows(const AccountId& who) {
    return env_.Int("SELECT count(*) FROM objects WHERE purpose='training' AND owner='" + who +
                    "'");
  }

  StoreEnv env_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(T0());
  std::unique_ptr<Store> store_;
  AccountId alice_, bob_;
};

// The consent promises on both backends.
class ConsentTest : public ConsentTestBase, public ::testing::WithParamInterface<Backend> {
 protected:
  ConsentTest() : ConsentTestBase(GetParam()) {}
};

// What only SQLite's files can show; the PostgreSQL twins are in postgres_test.cpp.
class SqliteConsentTest : public ConsentTestBase {
 protected:
  SqliteConsentTest() : ConsentTestBase(Backend::kSqlite) {}
  const fs::path& dir() const { return env_.data(); }
};

TEST_P(ConsentTest, AccountsStartOptedOut) {
  auto s = store_->consent().Current(alice_);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->opted_in);
  EXPECT_FALSE(s->event_id);
}

TEST_P(ConsentTest, OptedOutUploadCreatesNoTrainingObject) {
  StoredUpload u = Upload(alice_, "optout", /*store=*/true);
  EXPECT_FALSE(u.training);
  EXPECT_EQ(u.processing.size(), 2u);
  EXPECT_EQ(TrainingRows(alice_), 0);
  auto held = store_->data_rights().ListHeldData(alice_);
  ASSERT_TRUE(held.ok());
  for (const auto& o : *held) {
    EXPECT_EQ(o.purpose, Purpose::kProcessing);
    EXPECT_TRUE(o.expires_at);
  }
}

TEST_P(ConsentTest, OptedInUploadBecomesTrainingItemWithConsentEvent) {
  auto grant = store_->consent().Grant(alice_, "2024-05", ConsentActor::kWeb);
  ASSERT_TRUE(grant.ok());
  ASSERT_TRUE(grant->opted_in);
  StoredUpload u = Upload(alice_, "optin");
  EXPECT_TRUE(u.processing.empty());  // not asked to store: only the training copy
  ASSERT_TRUE(u.training);
  EXPECT_EQ(u.training->input.consent_event_id, grant->event_id);
  ASSERT_TRUE(u.training->mask);
  EXPECT_EQ(u.training->mask->item_id, u.training->item_id);
  EXPECT_FALSE(u.training->input.expires_at);
  EXPECT_EQ(TrainingRows(alice_), 2);
  StoreEnv& raw = env_;
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects WHERE purpose='training' AND consent_event_id=" +
                    std::to_string(*grant->event_id)),
            2);
  // Bob never opted in; his upload at the same moment stays out.
  Upload(bob_, "bob");
  EXPECT_EQ(TrainingRows(bob_), 0);
}

// An image that arrived opted out and waited (an async job, a slow inference) while its owner
// opted in stays out of the pool: consent does not reach back to earlier uploads.
TEST_P(ConsentTest, ConsentGrantedAfterTheUploadArrivedDoesNotReachBack) {
  StoragePolicy policy(*store_);
  const std::string in = testutil::FakeImage("waited");
  const std::string mask = testutil::FakeImage("waited-mask");
  const Time arrived = clock_->Now();
  auto job_input = policy.StoreInput(alice_, AsBytes(in), "image/jpeg", std::nullopt);
  ASSERT_TRUE(job_input.ok());
  clock_->Advance(std::chrono::seconds(5));
  ASSERT_TRUE(store_->consent().Grant(alice_, "2024-05", ConsentActor::kWeb).ok());
  clock_->Advance(std::chrono::seconds(5));

  ::bgerase::store::Upload sync{alice_,      AsBytes(in),  "image/jpeg", AsBytes(mask),
                                "image/png", std::nullopt, false};
  sync.received_at = arrived;
  auto a = policy.StoreUpload(sync);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_FALSE(a->training);

  ::bgerase::store::Upload job{alice_,      AsBytes(in),  "image/jpeg", AsBytes(mask),
                               "image/png", std::nullopt, true};
  job.stored_input = *job_input;  // received when it was stored, before the grant
  auto b = policy.StoreUpload(job);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_FALSE(b->training);
  EXPECT_EQ(TrainingRows(alice_), 0);

  // Uploads arriving after the grant do enter the pool.
  sync.received_at = clock_->Now();
  auto c = policy.StoreUpload(sync);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->training);
  EXPECT_EQ(TrainingRows(alice_), 2);
}

TEST_P(ConsentTest, AddItemRefusesStaleOrForeignConsent) {
  auto grant = store_->consent().Grant(alice_, "2024-05", ConsentActor::kApi);
  ASSERT_TRUE(grant.ok());
  const std::string img = testutil::FakeImage("stale");
  NewTrainingItem item{
      bob_, *grant->event_id, std::nullopt, AsBytes(img), "image/png", std::nullopt, ""};
  EXPECT_EQ(store_->training().AddItem(item).status().code(), errors::kConsentNotActive);
  ASSERT_TRUE(store_->consent().Withdraw(alice_, "2024-05", ConsentActor::kApi).ok());
  item.owner = alice_;
  EXPECT_EQ(store_->training().AddItem(item).status().code(), errors::kConsentNotActive);
  EXPECT_EQ(TrainingRows(alice_), 0);
  // No blob is left behind by refused items.
  EXPECT_EQ(env_.BlobCount(), 0u);
}

TEST_F(SqliteConsentTest, DatabaseRefusesTrainingRowWithoutActiveConsent) {
  // Even code that bypassed TrainingPool could not insert a training row for an opted-out owner.
  RawDb raw(dir());
  const std::string key = "x'" + std::string(64, '0') + "'";
  raw.Exec("INSERT INTO consent_events (account_id, action, policy_version, actor, at) VALUES ('" +
           alice_ + "', 'grant', 'v', 'api', 0)");
  raw.Exec("INSERT INTO consent_events (account_id, action, policy_version, actor, at) VALUES ('" +
           alice_ + "', 'withdraw', 'v', 'api', 1)");
  const std::int64_t grant_id =
      raw.Int("SELECT min(id) FROM consent_events WHERE account_id='" + alice_ + "'");
  const int rc = raw.Exec(
      "INSERT INTO objects (id, owner, item_id, kind, purpose, mime, size, created_at, "
      "consent_event_id, object_key) VALUES ('obj_1', '" +
      alice_ +
      "', 'itm_1', 'input', "
      "'training', 'image/png', 1, 0, " +
      std::to_string(grant_id) + ", " + key + ")");
  EXPECT_NE(rc, SQLITE_OK);
  EXPECT_NE(raw.error().find("consent_not_active"), std::string::npos) << raw.error();
}

TEST_P(ConsentTest, WithdrawalDeletesTrainingObjectsAtomically) {
  auto grant = store_->consent().Grant(alice_, "2024-05", ConsentActor::kWeb);
  ASSERT_TRUE(grant.ok());
  std::vector<ObjectId> ids;
  for (int i = 0; i < 3; ++i) {
    StoredUpload u = Upload(alice_, "w" + std::to_string(i), /*store=*/i == 0);
    ASSERT_TRUE(u.training);
    ids.push_back(u.training->input.id);
    ids.push_back(u.training->mask->id);
  }
  ASSERT_TRUE(store_->consent().Grant(bob_, "2024-05", ConsentActor::kApi).ok());
  Upload(bob_, "bob-keeps");
  EXPECT_EQ(TrainingRows(alice_), 6);

  clock_->Advance(1h);
  auto w = store_->consent().Withdraw(alice_, "2024-05", ConsentActor::kWeb);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_FALSE(w->state.opted_in);
  EXPECT_EQ(w->training_objects_deleted, 6u);
  EXPECT_EQ(TrainingRows(alice_), 0);
  EXPECT_EQ(TrainingRows(bob_), 2);  // only the withdrawing account is affected
  for (const auto& id : ids) {
    EXPECT_FALSE(env_.BlobExists(id)) << id;
  }
  StoreEnv& raw = env_;
  // Same transaction: the withdrawal row and the deletion-log rows carry the same instant.
  const std::int64_t withdrawn_at = raw.Int(
      "SELECT at FROM consent_events WHERE action='withdraw' AND account_id='" + alice_ + "'");
  EXPECT_EQ(raw.Int("SELECT count(*) FROM deletion_log WHERE reason='consent_withdrawn' AND at=" +
                    std::to_string(withdrawn_at)),
            6);
  // Alice's processing copy (store=true) is untouched: it still expires on its own schedule.
  EXPECT_EQ(
      raw.Int("SELECT count(*) FROM objects WHERE owner='" + alice_ + "' AND purpose='processing'"),
      2);
}

TEST_F(SqliteConsentTest, WithdrawalIsAllOrNothing) {
  // If the ledger row cannot be written, no training object may be deleted either, and vice
  // versa. Force a failure inside the transaction with a temporary trigger on deletion_log.
  ASSERT_TRUE(store_->consent().Grant(alice_, "2024-05", ConsentActor::kWeb).ok());
  Upload(alice_, "atomic");
  {
    RawDb raw(dir());
    ASSERT_EQ(raw.Exec("CREATE TRIGGER fail_log BEFORE INSERT ON deletion_log BEGIN "
                       "SELECT RAISE(ABORT, 'injected failure'); END"),
              SQLITE_OK);
  }
  auto w = store_->consent().Withdraw(alice_, "2024-05", ConsentActor::kWeb);
  EXPECT_FALSE(w.ok());
  EXPECT_TRUE(store_->consent().Current(alice_)->opted_in);  // ledger row rolled back
  EXPECT_EQ(TrainingRows(alice_), 2);                        // objects kept
  RawDb(dir()).Exec("DROP TRIGGER fail_log");
  ASSERT_TRUE(store_->consent().Withdraw(alice_, "2024-05", ConsentActor::kWeb).ok());
  EXPECT_EQ(TrainingRows(alice_), 0);
}

TEST_P(ConsentTest, LedgerHasEveryTransitionAndRefusesUpdateAndDelete) {
  ASSERT_TRUE(store_->consent().Grant(alice_, "v1", ConsentActor::kWeb).ok());
  ASSERT_TRUE(store_->consent().Grant(alice_, "v1", ConsentActor::kWeb).ok());  // no-op
  clock_->Advance(1min);
  ASSERT_TRUE(store_->consent().Withdraw(alice_, "v1", ConsentActor::kApi).ok());
  ASSERT_TRUE(store_->consent().Withdraw(alice_, "v1", ConsentActor::kApi).ok());  // no-op
  clock_->Advance(1min);
  ASSERT_TRUE(store_->consent().Grant(alice_, "v2", ConsentActor::kCli).ok());
  auto h = store_->consent().History(alice_);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 3u);
  EXPECT_TRUE((*h)[0].granted);
  EXPECT_EQ((*h)[0].actor, ConsentActor::kWeb);
  EXPECT_FALSE((*h)[1].granted);
  EXPECT_EQ((*h)[1].actor, ConsentActor::kApi);
  EXPECT_EQ((*h)[1].at, T0() + 1min);
  EXPECT_TRUE((*h)[2].granted);
  EXPECT_EQ((*h)[2].policy_version, "v2");
  EXPECT_EQ(store_->consent().Current(alice_)->event_id, (*h)[2].id);

  // Give the deletion log a row too, so its triggers have something to refuse.
  StoredUpload u = Upload(alice_, "logged", /*store=*/true);
  ASSERT_EQ(u.processing.size(), 2u);
  ASSERT_TRUE(store_->objects().Delete(alice_, u.processing[0].id).ok());

  StoreEnv& raw = env_;
  ASSERT_EQ(raw.Int("SELECT count(*) FROM deletion_log"), 1);
  EXPECT_FALSE(raw.Exec("UPDATE consent_events SET action='grant'"));
  EXPECT_NE(raw.error().find("append-only"), std::string::npos) << raw.error();
  EXPECT_FALSE(raw.Exec("DELETE FROM consent_events"));
  EXPECT_FALSE(raw.Exec("UPDATE deletion_log SET reason='x'"));
  EXPECT_FALSE(raw.Exec("DELETE FROM deletion_log"));
  EXPECT_EQ(raw.Int("SELECT count(*) FROM consent_events"), 3);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM consent_events WHERE action='withdraw'"), 1);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM deletion_log WHERE reason='owner_request'"), 1);
}

TEST_P(ConsentTest, DatasetExportHasOnlyConsentedItems) {
  ASSERT_TRUE(store_->consent().Grant(alice_, "v1", ConsentActor::kWeb).ok());
  Upload(alice_, "alice-1");
  Upload(alice_, "alice-2");
  Upload(bob_, "bob-never");  // opted out
  TempDir out;
  auto r = store_->training().ExportDataset(out.path() / "ds");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->items_written, 2u);
  const std::string manifest = testutil::ReadFileBytes(out.path() / "ds" / "manifest.jsonl");
  EXPECT_EQ(std::count(manifest.begin(), manifest.end(), '\n'), 2);
  EXPECT_EQ(testutil::CountFiles(out.path() / "ds"), 5u);  // 2 images + 2 masks + manifest
  EXPECT_TRUE(testutil::AnyFileContains(out.path() / "ds", "alice-1"));
  EXPECT_TRUE(testutil::AnyFileContains(out.path() / "ds", "alice-2-mask"));
  EXPECT_FALSE(testutil::AnyFileContains(out.path() / "ds", "bob-never"));
  EXPECT_NE(manifest.find("\"consent_event_id\""), std::string::npos);
  // An existing export is never mixed into.
  EXPECT_EQ(store_->training().ExportDataset(out.path() / "ds").status().code(),
            errors::kExportDirNotEmpty);

  // After withdrawal the export is empty.
  ASSERT_TRUE(store_->consent().Withdraw(alice_, "v1", ConsentActor::kWeb).ok());
  auto after = store_->training().ExportDataset(out.path() / "after");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->items_written, 0u);
  EXPECT_EQ(testutil::ReadFileBytes(out.path() / "after" / "manifest.jsonl"), "");
}

TEST_P(ConsentTest, DatasetExportRechecksConsentPerItem) {
  ASSERT_TRUE(store_->consent().Grant(alice_, "v1", ConsentActor::kWeb).ok());
  ASSERT_TRUE(store_->consent().Grant(bob_, "v1", ConsentActor::kWeb).ok());
  Upload(alice_, "alice-first");
  clock_->Advance(1s);
  Upload(bob_, "bob-second");
  clock_->Advance(1s);
  Upload(bob_, "bob-third");
  TempDir out;
  // Bob's withdrawal lands in the ledger after the export has started (written by another
  // process: a raw append, so his objects are still there and only the re-check can stop them).
  int calls = 0;
  auto r = store_->training().ExportDataset(out.path() / "ds", [&](const ItemId&) {
    if (++calls == 1) {
      StoreEnv& raw = env_;
      EXPECT_TRUE(
          raw.Exec("INSERT INTO consent_events (account_id, action, policy_version, actor, "
                   "at) VALUES ('" +
                   bob_ + "', 'withdraw', 'v1', 'web', 0)"));
    }
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->items_written, 1u);
  EXPECT_EQ(r->items_skipped, 2u);
  EXPECT_TRUE(testutil::AnyFileContains(out.path() / "ds", "alice-first"));
  EXPECT_FALSE(testutil::AnyFileContains(out.path() / "ds", "bob-second"));
  EXPECT_FALSE(testutil::AnyFileContains(out.path() / "ds", "bob-third"));
}

INSTANTIATE_TEST_SUITE_P(Backends, ConsentTest, testutil::AllBackends(), testutil::BackendName);

}  // namespace
}  // namespace bgerase::store
