// Migrations, applied in order. Migration 1: accounts, keys, sessions, the append-only consent
// ledger, objects, the append-only deletion log and jobs. Times are integer milliseconds since the
// Unix epoch (UTC).
#include "store/sqlite/schema.h"

namespace bgerase::store::sqlite {
namespace {

constexpr const char* kMigration1 = R"sql(
CREATE TABLE accounts (
  id            TEXT PRIMARY KEY,
  email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
  password_hash TEXT,              -- argon2id string from crypto_pwhash_str; NULL = API-only
  created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
  prefix       TEXT PRIMARY KEY,   -- public, 8 hex digits of the key, for lookup
  account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  key_hash     BLOB NOT NULL,      -- BLAKE2b-256 of the whole key
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at   INTEGER
) STRICT;
CREATE INDEX api_keys_by_account ON api_keys(account_id);

CREATE TABLE sessions (
  token_hash BLOB PRIMARY KEY,     -- BLAKE2b-256 of the cookie token
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

-- Append-only. No foreign key on purpose: rows outlive the account and then carry only its
-- opaque id.
CREATE TABLE consent_events (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id     TEXT NOT NULL,
  action         TEXT NOT NULL CHECK (action IN ('grant', 'withdraw')),
  policy_version TEXT NOT NULL,
  actor          TEXT NOT NULL CHECK (actor IN ('web', 'api', 'cli')),
  at             INTEGER NOT NULL
) STRICT;
CREATE INDEX consent_events_by_account ON consent_events(account_id, id);
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent ledger is append-only'); END;
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent ledger is append-only'); END;

CREATE TABLE objects (
  id               TEXT PRIMARY KEY,
  owner            TEXT NOT NULL REFERENCES accounts(id),  -- no cascade: deletion goes through
                                                           -- code that logs and unlinks
  item_id          TEXT NOT NULL,
  kind             TEXT NOT NULL CHECK (kind IN ('input', 'result', 'mask')),
  purpose          TEXT NOT NULL CHECK (purpose IN ('processing', 'training')),
  on_behalf_of     TEXT,
  mime             TEXT NOT NULL,
  size             INTEGER NOT NULL,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER,
  consent_event_id INTEGER REFERENCES consent_events(id),
  object_key       BLOB NOT NULL CHECK (length(object_key) = 32),
  CHECK ((purpose = 'processing' AND expires_at IS NOT NULL AND consent_event_id IS NULL) OR
         (purpose = 'training' AND expires_at IS NULL AND consent_event_id IS NOT NULL))
) STRICT;
CREATE INDEX objects_by_owner ON objects(owner, created_at);
CREATE INDEX objects_by_expiry ON objects(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX objects_by_item ON objects(item_id);
-- Objects are immutable: nothing may extend an expiry or turn processing data into training data.
CREATE TRIGGER objects_immutable BEFORE UPDATE ON objects
BEGIN SELECT RAISE(ABORT, 'objects are immutable'); END;
-- The training promise, enforced by the database too: a training object needs the owner's latest
-- ledger event to be the grant it names.
CREATE TRIGGER objects_training_needs_consent BEFORE INSERT ON objects
WHEN NEW.purpose = 'training'
BEGIN
  SELECT RAISE(ABORT, 'consent_not_active')
  WHERE NOT EXISTS (
    SELECT 1 FROM consent_events c
    WHERE c.id = NEW.consent_event_id AND c.account_id = NEW.owner AND c.action = 'grant'
      AND c.id = (SELECT max(id) FROM consent_events WHERE account_id = NEW.owner));
END;

-- Append-only record of every deletion: never content, never a key.
CREATE TABLE deletion_log (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  object_id TEXT NOT NULL,
  owner     TEXT NOT NULL,
  purpose   TEXT NOT NULL,
  reason    TEXT NOT NULL,
  at        INTEGER NOT NULL
) STRICT;
CREATE TRIGGER deletion_log_no_update BEFORE UPDATE ON deletion_log
BEGIN SELECT RAISE(ABORT, 'deletion log is append-only'); END;
CREATE TRIGGER deletion_log_no_delete BEFORE DELETE ON deletion_log
BEGIN SELECT RAISE(ABORT, 'deletion log is append-only'); END;

CREATE TABLE jobs (
  id               TEXT PRIMARY KEY,
  owner            TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  result_object_id TEXT,
  error            TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX jobs_by_expiry ON jobs(expires_at);
)sql";

// Migration 2: jobs any replica can claim (input object, options, claim lease) and persistent
// usage counts per account and UTC day.
constexpr const char* kMigration2 = R"sql(
ALTER TABLE jobs ADD COLUMN input_object_id TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE jobs ADD COLUMN claimed_at INTEGER;
CREATE INDEX jobs_claimable ON jobs(status, created_at);

CREATE TABLE usage_daily (
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  day        TEXT NOT NULL,        -- YYYY-MM-DD, UTC
  images     INTEGER NOT NULL,
  PRIMARY KEY (account_id, day)
) STRICT;
)sql";

// Migration 3: the deployment's own secrets (the web pages' form key, SessionStore::FormKey).
constexpr const char* kMigration3 = R"sql(
CREATE TABLE server_secrets (
  name   TEXT PRIMARY KEY,
  secret BLOB NOT NULL
) STRICT;
)sql";

// Migration 4: credits — what each day's requests were charged (in quarter credits) and the
// monthly allowance an operator may give an account (none: unlimited).
constexpr const char* kMigration4 = R"sql(
ALTER TABLE usage_daily ADD COLUMN quarter_credits INTEGER NOT NULL DEFAULT 0;
CREATE TABLE credit_allowances (
  account_id       TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  monthly_quarters INTEGER NOT NULL CHECK (monthly_quarters >= 0)
) STRICT;
)sql";

constexpr const char* kAll[] = {kMigration1, kMigration2, kMigration3, kMigration4};

}  // namespace

std::span<const char* const> Migrations() {
  return kAll;
}

}  // namespace bgerase::store::sqlite
