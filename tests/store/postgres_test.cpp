// The PostgreSQL backend's own promises, checked on a real server (the ctest `postgres` fixture)
// through a raw libpqxx connection: what is in the tables, what the database itself refuses, and
// what replicas sharing one database see. Behaviour shared with SQLite is tested for both
// backends in the other files.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/blob_cipher.h"
#include "store/errors.h"
#include "store/postgres/pg_schema.h"
#include "store/storage_policy.h"
#include "store_env.h"

namespace bgerase::store {
namespace {

using namespace std::chrono_literals;
using testutil::AsString;
using testutil::Backend;
using testutil::FakeImage;
using testutil::PgRaw;
using testutil::StoreEnv;
using testutil::T0;

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(env_.url().empty()) << "no test database";
    store_ = env_.Open(clock_);
    ASSERT_TRUE(store_);
    auto a = store_->accounts().Create("pg@example.com", std::nullopt);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    owner_ = a->id;
  }

  PgRaw Raw() const { return PgRaw(env_.url()); }

  ObjectInfo PutBytes(const std::string& bytes) {
    auto o = store_->objects().Put(
        {owner_, ObjectKind::kInput, "", "image/png", std::nullopt, AsBytes(bytes)});
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    return o.ok() ? *o : ObjectInfo{};
  }

  StoredUpload Upload(const std::string& marker, bool store = false) {
    StoragePolicy policy(*store_);
    const std::string in = FakeImage(marker);
    const std::string mask = FakeImage(marker + "-mask");
    auto r = policy.StoreUpload(
        {owner_, AsBytes(in), "image/jpeg", AsBytes(mask), "image/png", std::nullopt, store});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : StoredUpload{};
  }

  std::int64_t TrainingRows() {
    return Raw().Int("SELECT count(*) FROM objects WHERE purpose='training' AND owner='" + owner_ +
                     "'");
  }

  StoreEnv env_{Backend::kPostgres};
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(T0());
  std::unique_ptr<Store> store_;
  AccountId owner_;
};

TEST_F(PostgresStoreTest, SchemaIsVersionedAndOpeningAgainMigratesNothing) {
  PgRaw raw = Raw();
  const auto migrations = static_cast<std::int64_t>(postgres::Migrations().size());
  ASSERT_GE(migrations, 2);  // the first schema, then the server's secrets
  EXPECT_EQ(raw.Int("SELECT max(version) FROM schema_migrations"), migrations);
  // A second replica opening the same database applies nothing again and sees the same data.
  auto b = env_.Open(clock_);
  ASSERT_TRUE(b);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM schema_migrations"), migrations);
  EXPECT_EQ(b->accounts().FindByEmail("PG@example.com")->id, owner_);
  EXPECT_TRUE(b->Health().ok());
}

// Replicas starting together on an empty database: one creates the schema, the others wait for
// it (advisory lock) and find it done.
TEST_F(PostgresStoreTest, ReplicasStartingTogetherMigrateOnce) {
  testutil::PgTestDb fresh;
  ASSERT_FALSE(fresh.url().empty());
  StoreOptions o = env_.Options(clock_);
  o.database_url = fresh.url();
  std::vector<std::unique_ptr<Store>> replicas(4);
  std::vector<std::thread> threads;
  for (auto& r : replicas) {
    threads.emplace_back([&o, &r] {
      auto s = OpenStore(o);
      EXPECT_TRUE(s.ok()) << s.status().ToString();
      if (s.ok()) r = std::move(s.value());
    });
  }
  for (auto& t : threads) t.join();
  for (auto& r : replicas) ASSERT_TRUE(r);
  EXPECT_EQ(PgRaw(fresh.url()).Int("SELECT count(*) FROM schema_migrations"),
            static_cast<std::int64_t>(postgres::Migrations().size()));
  auto a = replicas[0]->accounts().Create("first@example.com", std::nullopt);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(replicas[3]->accounts().FindById(a->id)->email, "first@example.com");
  replicas.clear();  // close their connections before the database is dropped
}

// An unreachable server is an outage to retry (the API's 503), not an internal error.
TEST_F(PostgresStoreTest, UnreachableServerIsStoreUnavailable) {
  StoreOptions o = env_.Options(clock_);
  o.database_url = "postgresql://bgerase@127.0.0.1:1/nothing?connect_timeout=2";
  auto s = OpenStore(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), errors::kStoreUnavailable);
}

TEST_F(PostgresStoreTest, SecretsAreOnlyHashesInTheTables) {
  const std::string password = "pg-password-never-stored-4f1";
  auto pw = store_->accounts().Create("pw@example.com", password);
  ASSERT_TRUE(pw.ok());
  auto k = store_->api_keys().Create(owner_);
  ASSERT_TRUE(k.ok());
  auto s = store_->sessions().Create(owner_, 1h);
  ASSERT_TRUE(s.ok());
  std::string raw_key;
  const std::string hex = k->key.substr(4);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    raw_key.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  PgRaw raw = Raw();
  EXPECT_EQ(raw.Int("SELECT count(*) FROM accounts WHERE password_hash LIKE '$argon2id$%'"), 1);
  for (const std::string& secret : {password, k->key, hex.substr(8), raw_key, s->token}) {
    EXPECT_FALSE(raw.AnyTableContains(secret)) << secret;
  }
  // The scan can fail: the public prefix and the key's hash are there.
  EXPECT_TRUE(raw.TableContains("api_keys", k->info.prefix));
  EXPECT_EQ(raw.Int("SELECT octet_length(key_hash) FROM api_keys"), 32);
  EXPECT_EQ(raw.Int("SELECT octet_length(token_hash) FROM sessions"), 32);
  EXPECT_TRUE(store_->accounts().VerifyPassword("PW@example.com", password).ok());
  EXPECT_TRUE(store_->api_keys().Authenticate(k->key).ok());
  EXPECT_EQ(store_->sessions().Validate(s->token)->account, owner_);
}

TEST_F(PostgresStoreTest, LedgerAndDeletionLogRefuseUpdateDeleteAndTruncate) {
  ASSERT_TRUE(store_->consent().Grant(owner_, "v1", ConsentActor::kWeb).ok());
  ASSERT_TRUE(store_->consent().Withdraw(owner_, "v1", ConsentActor::kApi).ok());
  ObjectInfo o = PutBytes(FakeImage("logged"));
  ASSERT_TRUE(store_->objects().Delete(owner_, o.id).ok());

  PgRaw raw = Raw();
  ASSERT_EQ(raw.Int("SELECT count(*) FROM deletion_log"), 1);
  EXPECT_FALSE(raw.Exec("UPDATE consent_events SET action = 'grant'"));
  EXPECT_NE(raw.error().find("append-only"), std::string::npos) << raw.error();
  EXPECT_FALSE(raw.Exec("DELETE FROM consent_events"));
  EXPECT_FALSE(raw.Exec("TRUNCATE consent_events"));
  EXPECT_FALSE(raw.Exec("UPDATE deletion_log SET reason = 'x'"));
  EXPECT_NE(raw.error().find("append-only"), std::string::npos) << raw.error();
  EXPECT_FALSE(raw.Exec("DELETE FROM deletion_log"));
  EXPECT_FALSE(raw.Exec("TRUNCATE deletion_log"));
  EXPECT_EQ(raw.Int("SELECT count(*) FROM consent_events WHERE action = 'withdraw'"), 1);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM consent_events"), 2);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM deletion_log WHERE reason = 'owner_request'"), 1);
  // Appending still works: the ledger is append-only, not read-only.
  EXPECT_TRUE(
      raw.Exec("INSERT INTO consent_events (account_id, action, policy_version, actor, at) "
               "VALUES ('acc_x', 'grant', 'v', 'api', 0)"));
}

TEST_F(PostgresStoreTest, ObjectsAreImmutableAndChecked) {
  ObjectInfo o = PutBytes(FakeImage("immutable"));
  PgRaw raw = Raw();
  // Nothing may extend an expiry or turn processing data into training data.
  EXPECT_FALSE(raw.Exec("UPDATE objects SET expires_at = expires_at + 86400000"));
  EXPECT_NE(raw.error().find("immutable"), std::string::npos) << raw.error();
  // The purpose/expiry CHECK: a processing object without expiry is refused.
  const std::string key = "'\\x" + std::string(64, '0') + "'::bytea";
  EXPECT_FALSE(
      raw.Exec("INSERT INTO objects (id, owner, item_id, kind, purpose, mime, size, created_at, "
               "object_key) VALUES ('obj_2', '" +
               owner_ + "', 'itm_2', 'input', 'processing', 'image/png', 1, 0, " + key + ")"));
  EXPECT_NE(raw.error().find("check"), std::string::npos) << raw.error();
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects"), 1);
  EXPECT_TRUE(store_->objects().Get(owner_, o.id).ok());
}

TEST_F(PostgresStoreTest, DatabaseRefusesTrainingRowWithoutActiveConsent) {
  PgRaw raw = Raw();
  const std::string key = "'\\x" + std::string(64, '0') + "'::bytea";
  ASSERT_TRUE(raw.Exec(
      "INSERT INTO consent_events (account_id, action, policy_version, actor, at) VALUES ('" +
      owner_ + "', 'grant', 'v', 'api', 0)"));
  const std::int64_t grant_id =
      raw.Int("SELECT min(id) FROM consent_events WHERE account_id='" + owner_ + "'");
  auto insert = [&](const std::string& id) {
    return "INSERT INTO objects (id, owner, item_id, kind, purpose, mime, size, created_at, "
           "consent_event_id, object_key) VALUES ('" +
           id + "', '" + owner_ + "', 'itm_1', 'input', 'training', 'image/png', 1, 0, " +
           std::to_string(grant_id) + ", " + key + ")";
  };
  // The control: while the grant is the latest event, such a row is accepted...
  ASSERT_TRUE(raw.Exec(insert("obj_1"))) << raw.error();
  ASSERT_TRUE(raw.Exec(
      "INSERT INTO consent_events (account_id, action, policy_version, actor, at) VALUES ('" +
      owner_ + "', 'withdraw', 'v', 'api', 1)"));
  // ...and after a withdrawal, even code that bypassed TrainingPool cannot insert one.
  EXPECT_FALSE(raw.Exec(insert("obj_2")));
  EXPECT_NE(raw.error().find("consent_not_active"), std::string::npos) << raw.error();
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects WHERE id = 'obj_2'"), 0);
}

TEST_F(PostgresStoreTest, GrantAdmitsTrainingItemsAndWithdrawalDeletesThemAtomically) {
  auto grant = store_->consent().Grant(owner_, "2024-05", ConsentActor::kWeb);
  ASSERT_TRUE(grant.ok());
  StoredUpload u = Upload("pg-train", /*store=*/true);
  ASSERT_TRUE(u.training);
  EXPECT_EQ(u.training->input.consent_event_id, grant->event_id);
  PgRaw raw = Raw();
  EXPECT_EQ(TrainingRows(), 2);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects o JOIN blobs b ON b.object_id = o.id "
                    "WHERE o.purpose = 'training' AND o.consent_event_id = " +
                    std::to_string(*grant->event_id)),
            2);

  clock_->Advance(1h);
  auto w = store_->consent().Withdraw(owner_, "2024-05", ConsentActor::kWeb);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->training_objects_deleted, 2u);
  EXPECT_EQ(TrainingRows(), 0);
  // Keys (object rows) and ciphertext (blob rows) of the training objects are gone; the
  // processing copies are untouched and keep their blobs.
  EXPECT_EQ(raw.Int("SELECT count(*) FROM blobs"), 2);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects WHERE purpose = 'processing'"), 2);
  const std::int64_t withdrawn_at =
      raw.Int("SELECT at FROM consent_events WHERE action = 'withdraw'");
  EXPECT_EQ(raw.Int("SELECT count(*) FROM deletion_log WHERE reason = 'consent_withdrawn' AND "
                    "at = " +
                    std::to_string(withdrawn_at)),
            2);
  // A stale grant no longer admits anything.
  const std::string img = FakeImage("late");
  EXPECT_EQ(store_->training()
                .AddItem({owner_, *grant->event_id, std::nullopt, AsBytes(img), "image/png",
                          std::nullopt, ""})
                .status()
                .code(),
            errors::kConsentNotActive);
}

TEST_F(PostgresStoreTest, WithdrawalIsAllOrNothing) {
  ASSERT_TRUE(store_->consent().Grant(owner_, "v1", ConsentActor::kWeb).ok());
  Upload("atomic");
  PgRaw raw = Raw();
  // Force a failure inside the withdrawal's transaction: the deletion log refuses inserts.
  ASSERT_TRUE(raw.Exec(
      "CREATE FUNCTION fail_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "RAISE EXCEPTION 'injected failure'; END $$; "
      "CREATE TRIGGER fail_log BEFORE INSERT ON deletion_log FOR EACH ROW EXECUTE FUNCTION "
      "fail_log()"))
      << raw.error();
  auto w = store_->consent().Withdraw(owner_, "v1", ConsentActor::kWeb);
  EXPECT_FALSE(w.ok());
  EXPECT_TRUE(store_->consent().Current(owner_)->opted_in);  // ledger row rolled back
  EXPECT_EQ(TrainingRows(), 2);                              // objects kept
  EXPECT_EQ(raw.Int("SELECT count(*) FROM blobs"), 2);
  ASSERT_TRUE(raw.Exec("DROP TRIGGER fail_log ON deletion_log"));
  ASSERT_TRUE(store_->consent().Withdraw(owner_, "v1", ConsentActor::kWeb).ok());
  EXPECT_EQ(TrainingRows(), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM blobs"), 0);
}

TEST_F(PostgresStoreTest, ExpiredDataIsPurgedBeforeOpenReturns) {
  // A replica stores objects and goes away; the next one to open, later than their expiry, finds
  // them gone before it gets its handle — without a reaper thread.
  for (int i = 0; i < 3; ++i) PutBytes(FakeImage("gone-" + std::to_string(i)));
  store_.reset();
  auto later = env_.Open(std::make_shared<ManualClock>(T0() + 25h), kMaxRetention,
                         /*run_reaper=*/false);
  ASSERT_TRUE(later);
  PgRaw raw = Raw();
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM blobs"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM deletion_log WHERE reason='expired'"), 3);
}

TEST_F(PostgresStoreTest, HealthPingsTheServer) {
  EXPECT_TRUE(store_->Health().ok());
  env_.DropDatabase();  // every connection of the pool is closed by the server
  const Status st = store_->Health();
  EXPECT_EQ(st.code(), errors::kStoreUnavailable) << st.ToString();
  EXPECT_FALSE(store_->objects().Get(owner_, "obj_00000000000000000000000000000000").ok());
}

TEST_F(PostgresStoreTest, BlobRowsHoldOnlyCiphertextUnderThePerObjectKey) {
  const std::string marker = "PG-PLAINTEXT-MARKER-91c2";
  const std::string img = FakeImage(marker, 200 * 1024);  // several cipher chunks
  ObjectInfo o = PutBytes(img);
  ObjectInfo tiny = PutBytes(marker);
  PgRaw raw = Raw();
  EXPECT_FALSE(raw.TableContains("blobs", marker));
  EXPECT_FALSE(raw.TableContains("blobs", "\x89PNG"));
  EXPECT_FALSE(raw.TableContains("objects", marker));
  // The scan can fail: a plaintext row is found.
  ASSERT_TRUE(raw.Exec("CREATE TABLE control (data bytea); INSERT INTO control VALUES ('" + marker +
                       "'::bytea)"));
  EXPECT_TRUE(raw.TableContains("control", marker));

  const std::string saved =
      raw.Bytea("SELECT data FROM blobs WHERE object_id = '" + o.id + "'");  // the "backup"
  const std::string key_bytes =
      raw.Bytea("SELECT object_key FROM objects WHERE id = '" + o.id + "'");
  ASSERT_EQ(key_bytes.size(), 32u);
  ObjectKey key;
  std::copy(key_bytes.begin(), key_bytes.end(), key.begin());
  // With the key the backup opens, so the test can tell the difference...
  auto opened = OpenBlob(key, o.id, AsBytes(saved));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(AsString(*opened), img);
  // ...and each object has its own key.
  EXPECT_NE(raw.Bytea("SELECT object_key FROM objects WHERE id = '" + tiny.id + "'"), key_bytes);

  ASSERT_TRUE(store_->objects().Delete(owner_, o.id).ok());
  // The key row and the blob row went in one transaction; the store no longer serves it.
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects WHERE id = '" + o.id + "'"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM blobs WHERE object_id = '" + o.id + "'"), 0);
  EXPECT_FALSE(raw.AnyTableContains(key_bytes));
  EXPECT_EQ(store_->objects().Get(owner_, o.id).status().code(), errors::kNotFound);
  // A restored backup of the ciphertext is useless without the key: no other key opens it, nor
  // does the right key under another object id.
  EXPECT_FALSE(OpenBlob(GenerateObjectKey(), o.id, AsBytes(saved)).ok());
  ObjectKey zero{};
  EXPECT_FALSE(OpenBlob(zero, o.id, AsBytes(saved)).ok());
  EXPECT_FALSE(OpenBlob(key, tiny.id, AsBytes(saved)).ok());
}

TEST_F(PostgresStoreTest, DeleteAccountLeavesNoRowNamingThePerson) {
  const std::string email = "leaving-pg-person@example.com";
  auto a = store_->accounts().Create(email, "a-long-password");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(store_->api_keys().Create(a->id).ok());
  ASSERT_TRUE(store_->consent().Grant(a->id, "v1", ConsentActor::kWeb).ok());
  const std::string img = FakeImage("leaving-pg");
  auto o = store_->objects().Put(
      {a->id, ObjectKind::kInput, "", "image/png", "Rights Holder Pg Ltd", AsBytes(img)});
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(store_->jobs().Create(a->id, o->id, "{}").ok());
  ASSERT_TRUE(store_->usage().Record(a->id, 2).ok());
  ASSERT_TRUE(store_->sessions().Create(a->id, 1h).ok());

  ASSERT_TRUE(store_->data_rights().DeleteAccount(a->id, ConsentActor::kWeb).ok());
  PgRaw raw = Raw();
  EXPECT_FALSE(raw.AnyTableContains(email));
  EXPECT_FALSE(raw.AnyTableContains("Rights Holder Pg Ltd"));
  for (const char* table : {"api_keys", "sessions", "jobs", "usage_daily"}) {
    EXPECT_EQ(raw.Int(std::string("SELECT count(*) FROM ") + table), 0) << table;
  }
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects WHERE owner = '" + a->id + "'"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM blobs"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM consent_events WHERE account_id = '" + a->id + "'"), 2);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM deletion_log WHERE reason = 'account_deleted'"), 1);
  // The other account is untouched.
  EXPECT_TRUE(store_->accounts().FindById(owner_).ok());
}

// Two handles are two replicas: each has its own connection pool on the same database.
TEST_F(PostgresStoreTest, ReplicasShareAccountsObjectsAndConsent) {
  auto replica = env_.Open(clock_);
  ASSERT_TRUE(replica);
  const std::string img = FakeImage("shared");
  ObjectInfo o = PutBytes(img);
  auto got = replica->objects().Get(owner_, o.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(AsString(got->bytes), img);
  ASSERT_TRUE(replica->consent().Grant(owner_, "v1", ConsentActor::kApi).ok());
  EXPECT_TRUE(store_->consent().Current(owner_)->opted_in);
  ASSERT_TRUE(store_->objects().Delete(owner_, o.id).ok());
  EXPECT_EQ(replica->objects().Get(owner_, o.id).status().code(), errors::kNotFound);
}

}  // namespace
}  // namespace bgerase::store
