// The retention contract and encryption at rest, checked on the real SQLite file and blob folder
// and, where no file is inspected, on PostgreSQL too.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "store/blob_cipher.h"
#include "store/errors.h"
#include "store/storage_policy.h"
#include "store_env.h"

namespace bgerase::store {
namespace {

using namespace std::chrono_literals;
using testutil::AnyFileContains;
using testutil::Backend;
using testutil::CountFiles;
using testutil::FakeImage;
using testutil::RawDb;
using testutil::StoreEnv;
using testutil::T0;

class ObjectStoreTestBase : public ::testing::Test {
 protected:
  explicit ObjectStoreTestBase(Backend backend) : env_(backend) {}
  void SetUp() override {
    store_ = env_.Open(clock_);
    ASSERT_TRUE(store_);
    auto a = store_->accounts().Create("owner@example.com", std::nullopt);
    ASSERT_TRUE(a.ok());
    owner_ = a->id;
  }

  ObjectInfo PutBytes(const std::string& bytes, const std::string& mime = "image/png") {
    auto o =
        store_->objects().Put({owner_, ObjectKind::kInput, "", mime, std::nullopt, AsBytes(bytes)});
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    return o.ok() ? *o : ObjectInfo{};
  }

  fs::path Blobs() const { return env_.data() / "blobs"; }

  StoreEnv env_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(T0());
  std::unique_ptr<Store> store_;
  AccountId owner_;
};

// On both backends.
class ObjectStoreTest : public ObjectStoreTestBase, public ::testing::WithParamInterface<Backend> {
 protected:
  ObjectStoreTest() : ObjectStoreTestBase(GetParam()) {}
};

// What only the SQLite file and the blob folder can show; the PostgreSQL twins (blob rows) are
// in postgres_test.cpp.
class SqliteObjectStoreTest : public ObjectStoreTestBase {
 protected:
  SqliteObjectStoreTest() : ObjectStoreTestBase(Backend::kSqlite) {}
  const fs::path& dir() const { return env_.data(); }
};

TEST_P(ObjectStoreTest, PutGetRoundTripsExactBytes) {
  const std::string img = FakeImage("roundtrip", 300 * 1024);  // several cipher chunks
  ObjectInfo o = PutBytes(img);
  EXPECT_EQ(o.purpose, Purpose::kProcessing);
  EXPECT_EQ(o.size, img.size());
  ASSERT_TRUE(o.expires_at);
  EXPECT_EQ(*o.expires_at, T0() + 24h);
  auto got = store_->objects().Get(owner_, o.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(testutil::AsString(got->bytes), img);
  EXPECT_EQ(got->info.mime, "image/png");
}

TEST_P(ObjectStoreTest, ExistsAt23h59mGoneAt24hRowKeyAndFile) {
  ObjectInfo o = PutBytes(FakeImage("expiry"));
  StoreEnv& raw = env_;

  clock_->Set(T0() + 23h + 59min);
  ASSERT_TRUE(store_->PurgeExpired().ok());
  EXPECT_TRUE(store_->objects().Get(owner_, o.id).ok());
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects WHERE id='" + o.id + "'"), 1);
  EXPECT_TRUE(env_.BlobExists(o.id));

  clock_->Set(T0() + 24h);
  // Even before the reaper runs, an expired object is neither served nor listed.
  auto got = store_->objects().Get(owner_, o.id);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), errors::kNotFound);
  EXPECT_TRUE(store_->data_rights().ListHeldData(owner_)->empty());

  auto purged = store_->PurgeExpired();
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(purged->objects, 1u);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects WHERE id='" + o.id + "'"), 0);  // row + key
  EXPECT_FALSE(env_.BlobExists(o.id));  // ciphertext: the file, or the blob row
  // Logged without content, and counted.
  EXPECT_EQ(raw.Int("SELECT count(*) FROM deletion_log WHERE object_id='" + o.id +
                    "' AND reason='expired' AND purpose='processing' AND owner='" + owner_ + "'"),
            1);
  EXPECT_EQ((*store_->DeletionCounts())["expired"], 1u);
}

// A result joining its upload's item late (an async job run near the end of the retention) must
// not outlive the upload; and an item deleted meanwhile is not brought back.
TEST_P(ObjectStoreTest, ObjectsJoiningAnItemNeverOutliveItNorResurrectIt) {
  const ObjectInfo input = PutBytes(FakeImage("upload"));
  clock_->Advance(23h);
  const std::string late = FakeImage("late-result");
  auto result = store_->objects().Put(
      {owner_, ObjectKind::kResult, input.item_id, "image/png", std::nullopt, AsBytes(late)});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->expires_at, input.expires_at);  // not 23 h + 24 h after the upload

  const ObjectInfo other = PutBytes(FakeImage("other"));
  ASSERT_TRUE(store_->objects().Delete(owner_, other.id).ok());
  auto resurrected = store_->objects().Put(
      {owner_, ObjectKind::kResult, other.item_id, "image/png", std::nullopt, AsBytes(late)});
  EXPECT_EQ(resurrected.status().code(), errors::kNotFound);
  clock_->Advance(1h);  // the first item has expired now
  auto expired = store_->objects().Put(
      {owner_, ObjectKind::kResult, input.item_id, "image/png", std::nullopt, AsBytes(late)});
  EXPECT_EQ(expired.status().code(), errors::kNotFound);
}

TEST_P(ObjectStoreTest, ShorterRetentionIsHonoured) {
  store_.reset();
  store_ = env_.Open(clock_, 30min);
  ObjectInfo o = PutBytes(FakeImage("short"));
  EXPECT_EQ(*o.expires_at, T0() + 30min);
  clock_->Advance(29min);
  EXPECT_TRUE(store_->objects().Get(owner_, o.id).ok());
  clock_->Advance(1min);
  EXPECT_FALSE(store_->objects().Get(owner_, o.id).ok());
}

// The database holds every object's key. In a data folder the operator made (0755 here), and
// under a permissive umask, bgerase.db and its -wal and -shm still come out 0600.
TEST(SqliteFiles, DatabaseFilesAreOwnerOnlyInAnExistingFolder) {
  testutil::TempDir dir;
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  const mode_t old_umask = umask(0);
  auto store = testutil::OpenAt(dir.path(), std::make_shared<ManualClock>(testutil::T0()));
  umask(old_umask);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->accounts().Create("modes@example.com", "correct horse battery").ok());
  int seen = 0;
  for (const char* name : {"bgerase.db", "bgerase.db-wal", "bgerase.db-shm"}) {
    SCOPED_TRACE(name);
    struct stat sb {};
    if (stat((dir.path() / name).c_str(), &sb) != 0) continue;
    ++seen;
    EXPECT_EQ(sb.st_mode & 0777, 0600u);
  }
  EXPECT_EQ(seen, 3) << "WAL mode keeps all three while the store is open";
}

TEST_F(SqliteObjectStoreTest, RetentionOver24HoursIsRefusedAtOpen) {
  auto r = RetentionPolicy::Create(24h + 1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), errors::kInvalidRetention);
}

TEST_P(ObjectStoreTest, ReaperThreadDeletesWhenTimeComes) {
  store_.reset();
  StoreOptions o = env_.Options(clock_, kMaxRetention, /*run_reaper=*/true);
  o.reaper_max_interval = 5ms;
  auto s = OpenStore(o);
  ASSERT_TRUE(s.ok());
  store_ = std::move(s.value());
  ObjectInfo obj = PutBytes(FakeImage("reaped"));
  ASSERT_TRUE(env_.BlobExists(obj.id));
  clock_->Advance(24h);
  // The reaper runs on its own; wait (bounded) for it rather than calling PurgeExpired ourselves.
  for (int i = 0; i < 2000 && env_.BlobExists(obj.id); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(env_.BlobExists(obj.id));
  StoreEnv& raw = env_;
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects"), 0);
}

TEST_F(SqliteObjectStoreTest, BlobsNeverContainPlaintext) {
  const std::string marker = "PLAINTEXT-MARKER-7f3a9c";
  PutBytes(FakeImage(marker, 200 * 1024));
  PutBytes(marker);  // tiny object: one chunk
  ASSERT_GE(CountFiles(Blobs()), 2u);
  EXPECT_FALSE(AnyFileContains(Blobs(), marker));
  EXPECT_FALSE(AnyFileContains(Blobs(), "\x89PNG"));
  // The check itself can fail: the marker is findable when it is on disk in the clear.
  std::ofstream(dir() / "control.bin") << marker;
  EXPECT_TRUE(AnyFileContains(dir() / "control.bin", marker));
}

TEST_F(SqliteObjectStoreTest, SavedBlobIsUndecryptableOnceRowIsDeleted) {
  const std::string img = FakeImage("shredded");
  ObjectInfo o = PutBytes(img);
  const fs::path blob = Blobs() / o.id.substr(4, 2) / o.id;
  const std::string saved = testutil::ReadFileBytes(blob);  // the "backup" of the blob folder
  std::string key_bytes;
  {
    RawDb raw(dir());
    key_bytes = raw.Blob("SELECT object_key FROM objects WHERE id='" + o.id + "'");
  }
  ASSERT_EQ(key_bytes.size(), 32u);
  ObjectKey key;
  std::copy(key_bytes.begin(), key_bytes.end(), key.begin());
  // With the key (while the row exists) the backup opens: the test can tell the difference.
  auto opened = OpenBlob(key, o.id, AsBytes(saved));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(testutil::AsString(*opened), img);

  ASSERT_TRUE(store_->objects().Delete(owner_, o.id).ok());
  EXPECT_FALSE(fs::exists(blob));
  // The key is gone from the database file and its WAL (secure_delete + checkpoint).
  for (const char* f : {"bgerase.db", "bgerase.db-wal"}) {
    if (fs::exists(dir() / f)) {
      EXPECT_FALSE(AnyFileContains(dir() / f, key_bytes)) << f;
    }
  }
  // Restoring the backup does not bring the object back...
  fs::create_directories(blob.parent_path());
  std::ofstream(blob, std::ios::binary) << saved;
  EXPECT_EQ(store_->objects().Get(owner_, o.id).status().code(), errors::kNotFound);
  // ...and no other key opens it, nor does the right key under another object id.
  EXPECT_FALSE(OpenBlob(GenerateObjectKey(), o.id, AsBytes(saved)).ok());
  ObjectKey zero{};
  EXPECT_FALSE(OpenBlob(zero, o.id, AsBytes(saved)).ok());
  EXPECT_FALSE(OpenBlob(key, "obj_00000000000000000000000000000000", AsBytes(saved)).ok());
}

TEST_F(SqliteObjectStoreTest, TamperedOrTruncatedBlobIsRefused) {
  const std::string img = FakeImage("tamper", 150 * 1024);
  ObjectKey key = GenerateObjectKey();
  Bytes sealed = SealBlob(key, "obj_x", AsBytes(img));
  ASSERT_TRUE(OpenBlob(key, "obj_x", sealed).ok());
  Bytes truncated(sealed.begin(), sealed.end() - 100);
  EXPECT_FALSE(OpenBlob(key, "obj_x", truncated).ok());
  Bytes chunk_dropped(sealed.begin(), sealed.begin() + 29 + (64 * 1024 + 17));
  EXPECT_FALSE(OpenBlob(key, "obj_x", chunk_dropped).ok());
  Bytes flipped = sealed;
  flipped[flipped.size() / 2] ^= 1;
  EXPECT_FALSE(OpenBlob(key, "obj_x", flipped).ok());
}

TEST_P(ObjectStoreTest, OtherOwnersAndTrainingObjectsAreNotServed) {
  ObjectInfo o = PutBytes(FakeImage("mine"));
  auto other = store_->accounts().Create("other@example.com", std::nullopt);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(store_->objects().Get(other->id, o.id).status().code(), errors::kNotFound);
  EXPECT_EQ(store_->objects().Delete(other->id, o.id).code(), errors::kNotFound);

  auto grant = store_->consent().Grant(owner_, "2024-05", ConsentActor::kApi);
  ASSERT_TRUE(grant.ok());
  StoragePolicy policy(*store_);
  const std::string img = FakeImage("training-only");
  auto stored = policy.StoreUpload(
      {owner_, AsBytes(img), "image/png", std::nullopt, "", std::nullopt, false});
  ASSERT_TRUE(stored.ok());
  ASSERT_TRUE(stored->training);
  EXPECT_EQ(store_->objects().Get(owner_, stored->training->input.id).status().code(),
            errors::kNotFound);
}

TEST_P(ObjectStoreTest, NothingIsStoredWithoutStoreFlagOrConsent) {
  StoragePolicy policy(*store_);
  const std::string img = FakeImage("ephemeral");
  auto stored = policy.StoreUpload(
      {owner_, AsBytes(img), "image/png", std::nullopt, "", std::nullopt, false});
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->processing.empty());
  EXPECT_FALSE(stored->training);
  EXPECT_EQ(env_.Int("SELECT count(*) FROM objects"), 0);
  EXPECT_EQ(env_.BlobCount(), 0u);
}

TEST_P(ObjectStoreTest, StoreFlagKeepsInputAndResultAsOneItem) {
  StoragePolicy policy(*store_);
  const std::string in = FakeImage("in");
  const std::string out = FakeImage("out");
  auto stored = policy.StoreUpload(
      {owner_, AsBytes(in), "image/jpeg", AsBytes(out), "image/png", "Studio X", true});
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->processing.size(), 2u);
  EXPECT_EQ(stored->processing[0].item_id, stored->processing[1].item_id);
  EXPECT_EQ(stored->processing[1].kind, ObjectKind::kResult);
  EXPECT_EQ(stored->processing[0].on_behalf_of, "Studio X");
  EXPECT_FALSE(stored->training);  // opted out by default
  auto got = store_->objects().Get(owner_, stored->processing[1].id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(testutil::AsString(got->bytes), out);
}

TEST_P(ObjectStoreTest, JobsFollowRetention) {
  ObjectInfo input = PutBytes(FakeImage("job-input"));
  auto job = store_->jobs().Create(owner_, input.id, R"({"format":"png"})");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->input_object_id, input.id);
  EXPECT_EQ(job->status, JobStatus::kQueued);
  EXPECT_EQ(job->expires_at, T0() + 24h);
  ObjectInfo result = PutBytes(FakeImage("job-result"));
  ASSERT_TRUE(store_->jobs().Update(job->id, JobStatus::kSucceeded, result.id, "").ok());
  auto got = store_->jobs().Get(owner_, job->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, JobStatus::kSucceeded);
  EXPECT_EQ(got->result_object_id, result.id);
  clock_->Advance(24h);
  EXPECT_EQ(store_->jobs().Get(owner_, job->id).status().code(), errors::kNotFound);
  auto purged = store_->PurgeExpired();
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(purged->jobs, 1u);
  EXPECT_EQ(purged->objects, 2u);
}

TEST_F(SqliteObjectStoreTest, OrphanBlobsAreSweptAtOpen) {
  // A blob without a row: what a crash between writing a blob and committing its row leaves.
  const fs::path orphan = Blobs() / "ab" / "obj_ab000000000000000000000000000000";
  fs::create_directories(orphan.parent_path());
  std::ofstream(orphan) << "ciphertext";
  fs::last_write_time(orphan, fs::file_time_type::clock::now() - std::chrono::hours(1));
  ObjectInfo live = PutBytes(FakeImage("live"));
  store_.reset();
  store_ = env_.Open(clock_);
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_TRUE(store_->objects().Get(owner_, live.id).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, ObjectStoreTest, testutil::AllBackends(), testutil::BackendName);

}  // namespace
}  // namespace bgerase::store
