// Backups keep promise 3 (nothing processed is kept past the retention window): a backup holds
// accounts, key hashes, consent, usage and consented training items, and no trace of processing
// data — checked on the bytes of every file it writes, not through the API.
#include "store/backup.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store/storage_policy.h"
#include "store_env.h"

namespace bgerase::store {
namespace {

using namespace std::chrono_literals;
using namespace testutil;

// Every byte under `root` as one string per file, to search.
std::vector<std::string> AllFiles(const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out.push_back(ReadFileBytes(e.path()));
  }
  return out;
}

bool AnyContains(const std::vector<std::string>& files, std::string_view needle) {
  for (const auto& f : files) {
    if (f.find(needle) != std::string::npos) return true;
  }
  return false;
}

// The live store and the restore's target are of the test's backend; a backup folder is the same
// for both.
class BackupTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    live_ = env_.Open(clock_, 2h);
    ASSERT_TRUE(live_);
    owner_ = live_->accounts().Create("backup@example.com", "correct horse battery")->id;
    key_ = live_->api_keys().Create(owner_)->key;
    ASSERT_TRUE(live_->usage().Record(owner_, 3).ok());
    ASSERT_TRUE(live_->usage().SetAllowance(owner_, 400).ok());
    session_ = live_->sessions().Create(owner_, 1h)->token;
    ASSERT_FALSE(live_->sessions().FormKey()->empty());

    // An upload the customer asked to keep (processing, 2 h) while opted in: the training pool
    // gets its own copy of the input and result.
    ASSERT_TRUE(live_->consent().Grant(owner_, "v1", ConsentActor::kWeb).ok());
    StoragePolicy policy(*live_);
    training_in_ = FakeImage("consented-input");
    training_mask_ = FakeImage("consented-mask");
    auto stored = policy.StoreUpload({owner_, AsBytes(training_in_), "image/jpeg",
                                      AsBytes(training_mask_), "image/png", std::nullopt, true});
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    ASSERT_TRUE(stored->training);
    training_item_ = stored->training->item_id;
    processing_ = stored->processing;
    ASSERT_EQ(processing_.size(), 2u);

    // A processing-only object and a job on it.
    processing_in_ = FakeImage("processing-only-input");
    auto obj = live_->objects().Put(
        {owner_, ObjectKind::kInput, "", "image/png", std::nullopt, AsBytes(processing_in_)});
    ASSERT_TRUE(obj.ok());
    processing_.push_back(*obj);
    auto job = live_->jobs().Create(owner_, obj->id, R"({"size":"auto"})");
    ASSERT_TRUE(job.ok());
    job_id_ = job->id;
  }

  StoreOptions Live() const { return env_.Options(clock_, 2h); }
  StoreOptions Target() const { return target_.Options(clock_, 2h); }

  StoreEnv env_{GetParam()};
  StoreEnv target_{GetParam()};
  TempDir tmp_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(T0());
  std::unique_ptr<Store> live_;
  AccountId owner_;
  std::string key_, session_;
  std::string training_in_, training_mask_, processing_in_;
  ItemId training_item_;
  std::vector<ObjectInfo> processing_;
  JobId job_id_;
};

TEST_P(BackupTest, HoldsTrainingItemsAndNoTraceOfProcessingData) {
  const fs::path dir = tmp_.path() / "backup";
  auto report = BackupStore(Live(), dir);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->accounts, 1u);
  EXPECT_EQ(report->api_keys, 1u);
  EXPECT_EQ(report->consent_events, 1u);
  EXPECT_EQ(report->training_objects, 2u);  // the item's input and mask
  EXPECT_EQ(report->skipped_objects, 0u);

  // What the live store holds for processing, read raw: each object's id, key and ciphertext.
  const std::vector<std::string> files = AllFiles(dir);
  ASSERT_GE(files.size(), 4u);  // database, manifest, two training blobs
  for (const auto& o : processing_) {
    SCOPED_TRACE(o.id);
    const std::string key = env_.Bytes("SELECT object_key FROM objects WHERE id = '" + o.id + "'");
    ASSERT_EQ(key.size(), 32u);
    const std::string cipher = env_.Ciphertext(o.id);
    ASSERT_GT(cipher.size(), 128u);
    EXPECT_FALSE(AnyContains(files, o.id)) << "processing object id in the backup";
    EXPECT_FALSE(AnyContains(files, key)) << "processing object key in the backup";
    EXPECT_FALSE(AnyContains(files, cipher.substr(cipher.size() / 2, 64)))
        << "processing ciphertext in the backup";
  }
  EXPECT_FALSE(AnyContains(files, "processing-only-input"));  // plaintext, never anywhere
  EXPECT_FALSE(AnyContains(files, job_id_)) << "a job in the backup";
  EXPECT_FALSE(AnyContains(files, env_.Bytes("SELECT token_hash FROM sessions")))
      << "a session in the backup";
  EXPECT_FALSE(AnyContains(files, env_.Bytes("SELECT secret FROM server_secrets")))
      << "the form key in the backup";
  // The training objects' keys and ciphertext are there: they may outlive 24 hours.
  const std::string training_key =
      env_.Bytes("SELECT object_key FROM objects WHERE purpose = 'training' LIMIT 1");
  EXPECT_TRUE(AnyContains(files, training_key));

  // The backup's own database: no processing row anywhere, by SQL too.
  {
    RawDb b(dir);
    EXPECT_EQ(b.Int("SELECT count(*) FROM objects WHERE purpose = 'processing'"), 0);
    EXPECT_EQ(b.Int("SELECT count(*) FROM jobs"), 0);
    EXPECT_EQ(b.Int("SELECT count(*) FROM sessions"), 0);
    EXPECT_EQ(b.Int("SELECT count(*) FROM server_secrets"), 0);
    EXPECT_EQ(b.Int("SELECT count(*) FROM objects WHERE purpose = 'training'"), 2);
    EXPECT_EQ(b.Blob("PRAGMA integrity_check"), "ok");
  }
  EXPECT_FALSE(fs::exists(dir / "bgerase.db-wal"));
  EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all);

  // Restored into a new folder: the account signs in, the key works, the consent and usage are
  // there and the training item exports with its exact bytes; the processing data is gone.
  auto restored_report = RestoreStore(dir, Target());
  ASSERT_TRUE(restored_report.ok()) << restored_report.status().ToString();
  EXPECT_EQ(restored_report->training_objects, 2u);
  auto restored = target_.Open(clock_, 2h);
  ASSERT_TRUE(restored);
  EXPECT_TRUE(
      restored->accounts().VerifyPassword("backup@example.com", "correct horse battery").ok());
  auto key = restored->api_keys().Authenticate(key_);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->account, owner_);
  EXPECT_TRUE(restored->consent().Current(owner_)->opted_in);
  EXPECT_EQ(*restored->usage().Total(owner_), 3u);
  EXPECT_EQ(restored->usage().Credits(owner_)->allowance, std::optional<std::int64_t>(400));
  EXPECT_FALSE(restored->sessions().Validate(session_).ok());
  for (const auto& o : processing_) {
    EXPECT_EQ(restored->objects().Get(owner_, o.id).status().code(), "not_found") << o.id;
  }
  EXPECT_EQ(restored->jobs().Get(owner_, job_id_).status().code(), "not_found");
  const fs::path exported = tmp_.path() / "dataset";
  auto exp = restored->training().ExportDataset(exported);
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  EXPECT_EQ(exp->items_written, 1u);
  bool found_input = false, found_mask = false;
  for (const auto& e : fs::directory_iterator(exported)) {
    const std::string bytes = ReadFileBytes(e.path());
    found_input |= bytes == training_in_;
    found_mask |= bytes == training_mask_;
  }
  EXPECT_TRUE(found_input);
  EXPECT_TRUE(found_mask);
  // The restored store holds no processing ciphertext either, and new consent events follow the
  // restored ones.
  for (const auto& o : processing_) EXPECT_FALSE(target_.BlobExists(o.id)) << o.id;
  EXPECT_EQ(target_.BlobCount(), 2u);
  ASSERT_TRUE(restored->consent().Withdraw(owner_, "v1", ConsentActor::kWeb).ok());
  EXPECT_EQ(target_.Int("SELECT count(*) FROM consent_events"), 2);
  EXPECT_EQ(target_.BlobCount(), 0u);  // the withdrawal deleted the restored training item
}

// A backup of one backend restores into the other: the way from the embedded store to a shared
// PostgreSQL one (and back). ("Postgres" in the name: both instances need the server.)
TEST_P(BackupTest, RestoresAcrossSqliteAndPostgres) {
  const fs::path dir = tmp_.path() / "backup";
  ASSERT_TRUE(BackupStore(Live(), dir).ok());
  StoreEnv other(GetParam() == Backend::kSqlite ? Backend::kPostgres : Backend::kSqlite);
  auto r = RestoreStore(dir, other.Options(clock_, 2h));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto restored = other.Open(clock_, 2h);
  ASSERT_TRUE(restored);
  EXPECT_TRUE(restored->api_keys().Authenticate(key_).ok());
  EXPECT_EQ(*restored->usage().Total(owner_), 3u);
  auto exp = restored->training().ExportDataset(tmp_.path() / "dataset");
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  EXPECT_EQ(exp->items_written, 1u);
  EXPECT_EQ(other.BlobCount(), 2u);
}

TEST_P(BackupTest, ATableWithoutARuleFailsTheBackupAndLeavesNothing) {
  ASSERT_TRUE(env_.Exec("CREATE TABLE uploads_cache (id TEXT PRIMARY KEY, bytes TEXT)"))
      << env_.error();
  const fs::path dir = tmp_.path() / "backup";
  auto report = BackupStore(Live(), dir);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), "backup_unclassified_table");
  EXPECT_NE(report.status().message().find("uploads_cache"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir));
}

TEST_P(BackupTest, ADamagedBackupIsRefusedAndRestoresNothing) {
  const fs::path dir = tmp_.path() / "backup";
  ASSERT_TRUE(BackupStore(Live(), dir).ok());
  // Flip one byte of a training blob.
  fs::path blob;
  for (const auto& e : fs::recursive_directory_iterator(dir / "blobs")) {
    if (e.is_regular_file()) blob = e.path();
  }
  ASSERT_FALSE(blob.empty());
  std::string bytes = ReadFileBytes(blob);
  bytes[bytes.size() / 2] ^= 1;
  std::ofstream(blob, std::ios::binary | std::ios::trunc) << bytes;

  auto r = RestoreStore(dir, Target());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "backup_invalid");
  EXPECT_NE(r.status().message().find("does not match"), std::string::npos) << r.status().message();
  auto target = target_.Open(clock_, 2h);  // nothing restored: an empty store
  ASSERT_TRUE(target);
  EXPECT_TRUE(target->accounts().List()->empty());
  EXPECT_EQ(target_.BlobCount(), 0u);
  target.reset();

  fs::remove(dir / "manifest.json");  // a backup that did not finish
  r = RestoreStore(dir, Target());
  EXPECT_EQ(r.status().code(), "backup_invalid");
}

TEST_P(BackupTest, NeitherOverwritesAnything) {
  const fs::path dir = tmp_.path() / "backup";
  fs::create_directories(dir);
  std::ofstream(dir / "keep.txt") << "operator's file";
  auto r = BackupStore(Live(), dir);
  EXPECT_EQ(r.status().code(), "backup_dir_not_empty");
  EXPECT_EQ(ReadFileBytes(dir / "keep.txt"), "operator's file");

  const fs::path good = tmp_.path() / "good";
  ASSERT_TRUE(BackupStore(Live(), good).ok());
  auto restored = RestoreStore(good, Live());  // the live store is there
  EXPECT_EQ(restored.status().code(), "restore_target_exists");
  EXPECT_TRUE(live_->objects().Get(owner_, processing_.back().id).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, BackupTest, AllBackends(), BackendName);

}  // namespace
}  // namespace bgerase::store
