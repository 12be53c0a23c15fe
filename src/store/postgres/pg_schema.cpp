// Migration 1: the same tables as the SQLite schema (migrations 1 and 2 there), plus `blobs`, which
// holds each object's ciphertext because replicas share no filesystem. Times are BIGINT
// milliseconds since the Unix epoch (UTC), as in SQLite. What SQLite enforces with triggers is
// enforced here with plpgsql triggers; ids and other keys compare bytewise (COLLATE "C") so that
// orderings match SQLite's whatever the database's locale.
#include "store/postgres/pg_schema.h"

namespace bgerase::store::postgres {
namespace {

constexpr const char* kMigration1 = R"sql(
CREATE TABLE accounts (
  id            TEXT COLLATE "C" PRIMARY KEY,
  email         TEXT NOT NULL,
  password_hash TEXT,              -- argon2id string from crypto_pwhash_str; NULL = API-only
  created_at    BIGINT NOT NULL
);
-- Emails are unique case-insensitively, like SQLite's COLLATE NOCASE.
CREATE UNIQUE INDEX accounts_by_email ON accounts (lower(email));

CREATE TABLE api_keys (
  prefix       TEXT COLLATE "C" PRIMARY KEY,  -- public, 8 hex digits of the key, for lookup
  account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  key_hash     BYTEA NOT NULL,      -- BLAKE2b-256 of the whole key
  created_at   BIGINT NOT NULL,
  last_used_at BIGINT,
  revoked_at   BIGINT
);
CREATE INDEX api_keys_by_account ON api_keys(account_id);

CREATE TABLE sessions (
  token_hash BYTEA PRIMARY KEY,     -- BLAKE2b-256 of the cookie token
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

-- Raised by the triggers that keep the ledger and the deletion log append-only and objects
-- immutable; the argument is the message.
CREATE FUNCTION bgerase_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END $$;

-- Append-only. No foreign key on purpose: rows outlive the account and then carry only its
-- opaque id.
CREATE TABLE consent_events (
  id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id     TEXT COLLATE "C" NOT NULL,
  action         TEXT NOT NULL CHECK (action IN ('grant', 'withdraw')),
  policy_version TEXT NOT NULL,
  actor          TEXT NOT NULL CHECK (actor IN ('web', 'api', 'cli')),
  at             BIGINT NOT NULL
);
CREATE INDEX consent_events_by_account ON consent_events(account_id, id);
CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events
  FOR EACH ROW EXECUTE FUNCTION bgerase_refuse_change('consent ledger is append-only');
CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events
  FOR EACH STATEMENT EXECUTE FUNCTION bgerase_refuse_change('consent ledger is append-only');

CREATE TABLE objects (
  id               TEXT COLLATE "C" PRIMARY KEY,
  owner            TEXT NOT NULL REFERENCES accounts(id),  -- no cascade: deletion goes through
                                                           -- code that logs it
  item_id          TEXT COLLATE "C" NOT NULL,
  kind             TEXT COLLATE "C" NOT NULL CHECK (kind IN ('input', 'result', 'mask')),
  purpose          TEXT NOT NULL CHECK (purpose IN ('processing', 'training')),
  on_behalf_of     TEXT,
  mime             TEXT NOT NULL,
  size             BIGINT NOT NULL,
  created_at       BIGINT NOT NULL,
  expires_at       BIGINT,
  consent_event_id BIGINT REFERENCES consent_events(id),
  object_key       BYTEA NOT NULL CHECK (octet_length(object_key) = 32),
  CHECK ((purpose = 'processing' AND expires_at IS NOT NULL AND consent_event_id IS NULL) OR
         (purpose = 'training' AND expires_at IS NULL AND consent_event_id IS NOT NULL))
);
CREATE INDEX objects_by_owner ON objects(owner, created_at);
CREATE INDEX objects_by_expiry ON objects(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX objects_by_item ON objects(item_id);
CREATE INDEX objects_training ON objects(created_at) WHERE purpose = 'training';
-- Objects are immutable: nothing may extend an expiry or turn processing data into training data.
CREATE TRIGGER objects_immutable BEFORE UPDATE ON objects
  FOR EACH ROW EXECUTE FUNCTION bgerase_refuse_change('objects are immutable');

-- The training promise, enforced by the database too: a training object needs the owner's latest
-- ledger event to be the grant it names. The account row lock orders this check against a
-- withdrawal (which locks the row before appending), so an insert can never slip in between a
-- withdrawal's ledger row and its deletion of the training objects.
CREATE FUNCTION bgerase_training_needs_consent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.purpose = 'training' THEN
    PERFORM 1 FROM accounts WHERE id = NEW.owner FOR SHARE;
    IF NOT EXISTS (
        SELECT 1 FROM consent_events c
        WHERE c.id = NEW.consent_event_id AND c.account_id = NEW.owner AND c.action = 'grant'
          AND c.id = (SELECT max(id) FROM consent_events WHERE account_id = NEW.owner)) THEN
      RAISE EXCEPTION 'consent_not_active' USING ERRCODE = 'check_violation';
    END IF;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER objects_training_needs_consent BEFORE INSERT ON objects
  FOR EACH ROW EXECUTE FUNCTION bgerase_training_needs_consent();

-- One row per object: its ciphertext (blob_cipher.h), sealed under the key in the object's row.
-- Deleting the object row deletes this row in the same transaction.
CREATE TABLE blobs (
  object_id TEXT COLLATE "C" PRIMARY KEY REFERENCES objects(id) ON DELETE CASCADE,
  data      BYTEA NOT NULL
);
-- Ciphertext does not compress; store it out of line without trying.
ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL;

-- Append-only record of every deletion: never content, never a key.
CREATE TABLE deletion_log (
  id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  object_id TEXT NOT NULL,
  owner     TEXT NOT NULL,
  purpose   TEXT NOT NULL,
  reason    TEXT NOT NULL,
  at        BIGINT NOT NULL
);
CREATE TRIGGER deletion_log_append_only BEFORE UPDATE OR DELETE ON deletion_log
  FOR EACH ROW EXECUTE FUNCTION bgerase_refuse_change('deletion log is append-only');
CREATE TRIGGER deletion_log_no_truncate BEFORE TRUNCATE ON deletion_log
  FOR EACH STATEMENT EXECUTE FUNCTION bgerase_refuse_change('deletion log is append-only');

CREATE TABLE jobs (
  id               TEXT COLLATE "C" PRIMARY KEY,
  owner            TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL,
  expires_at       BIGINT NOT NULL,
  input_object_id  TEXT NOT NULL,
  options          TEXT NOT NULL,
  result_object_id TEXT,
  error            TEXT NOT NULL DEFAULT '',
  attempts         INTEGER NOT NULL DEFAULT 0,
  claimed_by       TEXT,
  claimed_at       BIGINT
);
CREATE INDEX jobs_by_expiry ON jobs(expires_at);
CREATE INDEX jobs_claimable ON jobs(status, created_at);

CREATE TABLE usage_daily (
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  day        TEXT COLLATE "C" NOT NULL,   -- YYYY-MM-DD, UTC
  images     BIGINT NOT NULL,
  PRIMARY KEY (account_id, day)
);
)sql";

// Migration 2: the deployment's own secrets (the web pages' form key, SessionStore::FormKey).
constexpr const char* kMigration2 = R"sql(
CREATE TABLE server_secrets (
  name   TEXT COLLATE "C" PRIMARY KEY,
  secret BYTEA NOT NULL
);
)sql";

// Migration 3: credits — what each day's requests were charged (in quarter credits) and the
// monthly allowance an operator may give an account (none: unlimited).
constexpr const char* kMigration3 = R"sql(
ALTER TABLE usage_daily ADD COLUMN quarter_credits BIGINT NOT NULL DEFAULT 0;
CREATE TABLE credit_allowances (
  account_id       TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  monthly_quarters BIGINT NOT NULL CHECK (monthly_quarters >= 0)
);
)sql";

constexpr const char* kAll[] = {kMigration1, kMigration2, kMigration3};

}  // namespace

std::span<const char* const> Migrations() {
  return kAll;
}

}  // namespace bgerase::store::postgres
