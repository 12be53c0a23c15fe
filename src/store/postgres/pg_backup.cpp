// Backup and restore of the shared store (pg_backup.h): the allowed rows and the training
// objects' ciphertext read in one REPEATABLE READ, READ ONLY transaction into a backup folder;
// restored in one transaction, in the order of the rules.
#include "store/postgres/pg_backup.h"

#include <sodium.h>

#include <string>
#include <system_error>
#include <vector>

#include "store/errors.h"
#include "store/postgres/pg_db.h"
#include "store/sqlite/backup_folder.h"
#include "store/sqlite/sqlite_db.h"

namespace bgerase::store::postgres {
namespace fs = std::filesystem;
using sqlite::BackupRules;
using sqlite::TableColumns;

namespace {

// PostgreSQL's type oids for the column types the schema uses besides text.
constexpr unsigned kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23;

std::string QuotedList(const std::vector<std::string>& cols, const std::string& prefix) {
  std::string out;
  for (const auto& c : cols) out += (out.empty() ? "" : ", ") + prefix + "\"" + c + "\"";
  return out;
}

// One PostgreSQL row into the backup's table, each value bound as its type.
void InsertRow(sqlite::SqliteDb& db, const std::string& insert, const pqxx::row& row) {
  auto st = db.Prepare(insert);
  for (pqxx::row::size_type i = 0; i < row.size(); ++i) {
    const int at = static_cast<int>(i) + 1;
    const pqxx::field f = row[i];
    if (f.is_null()) {
      st.BindNull(at);
      continue;
    }
    switch (static_cast<unsigned>(f.type())) {
      case kByteaOid: {
        const pqxx::binarystring b(f);
        st.Bind(at, ByteView(b.data(), b.size()));
        break;
      }
      case kInt2Oid:
      case kInt4Oid:
      case kInt8Oid:
        st.Bind(at, f.as<std::int64_t>());
        break;
      case kBoolOid:
        st.Bind(at, static_cast<std::int64_t>(f.as<bool>() ? 1 : 0));
        break;
      default:
        st.Bind(at, f.as<std::string>());
    }
  }
  st.Run();
}

}  // namespace

Result<BackupReport> Backup(const std::string& url, const fs::path& dir) {
  auto writer = sqlite::BackupWriter::Create(dir);
  if (!writer.ok()) return writer.status();
  sqlite::BackupWriter& w = **writer;
  BGERASE_RETURN_IF_ERROR(PgGuard([&]() -> Status {
    pqxx::connection conn(url);
    Migrate(conn);  // as opening the store would
    pqxx::work tx(conn);
    tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    std::vector<std::string> tables;
    for (const auto& row :
         tx.exec("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")) {
      tables.push_back(row[0].as<std::string>());
    }
    BGERASE_RETURN_IF_ERROR(sqlite::CheckEveryTableClassified(tables));
    sqlite::SqliteDb& db = w.db();
    db.Exec("BEGIN");
    for (const auto& rule : BackupRules()) {
      if (!rule.where) continue;
      const auto cols = TableColumns(db, rule.table);
      std::string params;
      for (std::size_t i = 1; i <= cols.size(); ++i) {
        params += (i > 1 ? ", ?" : "?") + std::to_string(i);
      }
      const std::string insert = "INSERT INTO main." + std::string(rule.table) + " (" +
                                 QuotedList(cols, "") + ") VALUES (" + params + ")";
      const auto rows = tx.exec("SELECT " + QuotedList(cols, "t.") + " FROM " + rule.table +
                                " t WHERE " + sqlite::RuleCondition(rule, ""));
      for (const auto& row : rows) InsertRow(db, insert, row);
    }
    db.Exec("COMMIT");
    // The ciphertext from the same snapshot: every object in the backup has its blob.
    for (const ObjectId& id : w.ObjectIds()) {
      const auto r = tx.exec_params("SELECT data FROM blobs WHERE object_id = $1", id);
      if (r.empty()) return Status(errors::kDatabaseError, "object " + id + " has no blob row");
      const pqxx::binarystring b(r[0][0]);
      BGERASE_RETURN_IF_ERROR(w.AddBlob(id, ByteView(b.data(), b.size())));
    }
    tx.commit();
    return Status::Ok();
  }));
  return w.Finish(0);
}

Result<BackupReport> Restore(const fs::path& dir, const std::string& url) {
  auto reader = sqlite::BackupReader::Open(dir);
  if (!reader.ok()) return reader.status();
  // The database is read from a private copy, which opening migrates when the backup is from an
  // older bgerase; each blob is checked as it is read, and nothing is committed unless all are.
  char tmpl[] = "/tmp/bgerase-restore-XXXXXX";
  if (!mkdtemp(tmpl)) return Status(errors::kStorageError, "cannot create a temporary folder");
  const fs::path tmp = tmpl;
  struct RemoveTmp {
    fs::path p;
    ~RemoveTmp() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } remove_tmp{tmp};
  for (const auto& file : reader->files()) {
    if (file.object.empty())
      BGERASE_RETURN_IF_ERROR(reader->CopyVerified(file, tmp / "bgerase.db"));
  }
  return PgGuard([&]() -> Result<BackupReport> {
    auto db = sqlite::SqliteDb::Open(tmp / "bgerase.db");
    pqxx::connection conn(url);
    Migrate(conn);
    pqxx::work tx(conn);
    const auto held = tx.exec1(
        "SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM consent_events) + "
        "(SELECT count(*) FROM objects)");
    if (held[0].as<std::int64_t>() != 0) {
      return Status("restore_target_exists",
                    "the database already holds accounts, consent or objects; restore into a new, "
                    "empty database");
    }
    for (const auto& rule : BackupRules()) {
      if (!rule.where) continue;
      const auto cols = TableColumns(*db, rule.table);
      std::string params;
      for (std::size_t i = 1; i <= cols.size(); ++i) {
        params += (i > 1 ? ", $" : "$") + std::to_string(i);
      }
      const std::string insert = "INSERT INTO " + std::string(rule.table) + " (" +
                                 QuotedList(cols, "") + ") OVERRIDING SYSTEM VALUE VALUES (" +
                                 params + ")";
      auto st = db->Prepare("SELECT " + QuotedList(cols, "") + " FROM main." + rule.table);
      std::vector<std::string> values(cols.size());
      std::vector<const char*> args(cols.size());
      while (st.Step()) {
        for (std::size_t i = 0; i < cols.size(); ++i) {
          const int c = static_cast<int>(i);
          if (st.IsNull(c)) {
            args[i] = nullptr;
            continue;
          }
          if (st.IsBlob(c)) {
            const Bytes b = st.Blob(c);
            std::string hex(b.size() * 2 + 1, '\0');
            sodium_bin2hex(hex.data(), hex.size(), b.data(), b.size());
            hex.pop_back();
            values[i] = "\\x" + hex;
          } else {
            values[i] = st.Text(c);  // integers as their decimal text
          }
          args[i] = values[i].c_str();
        }
        tx.exec_params(insert, pqxx::prepare::make_dynamic_params(args));
      }
      // Identity columns continue after the restored ids.
      for (const auto& row :
           tx.exec_params("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                          "current_schema() AND table_name = $1 AND is_identity = 'YES'",
                          std::string(rule.table))) {
        const std::string col = row[0].as<std::string>();
        tx.exec("SELECT setval(pg_get_serial_sequence('" + std::string(rule.table) + "', '" + col +
                "'), coalesce((SELECT max(\"" + col + "\") FROM " + rule.table +
                "), 0) + 1, false)");
      }
    }
    for (const auto& file : reader->files()) {
      if (file.object.empty()) continue;
      auto bytes = reader->ReadVerified(file);  // what is inserted is what was checked
      if (!bytes.ok()) return bytes.status();
      tx.exec_params("INSERT INTO blobs (object_id, data) VALUES ($1, $2)", file.object,
                     ToBinary(*bytes));
    }
    tx.commit();
    return reader->Report();
  });
}

}  // namespace bgerase::store::postgres
