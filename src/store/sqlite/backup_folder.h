// The backup folder both backends write and read (the layout is in store/backup.h): which rows of
// which table may be in it, a writer that fills a new one and a reader that checks one against
// its manifest. A backup's database is SQLite whatever the live store is, so a backup of either
// backend restores into either. Internal to the store.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/backup.h"
#include "store/sqlite/sqlite_db.h"
#include "store/types.h"

namespace bgerase::store::sqlite {

// A table of the live schema and which of its rows may outlive the retention window: `where` is a
// condition on the live table (alias t) in which "{src}" stands for the live database's schema
// prefix ("live." for an attached SQLite file, "" on PostgreSQL); nullptr means no rows. A live
// table without a rule fails the backup ("backup_unclassified_table").
struct TableRule {
  const char* table;
  const char* where;
};

// In the order rows are restored (referenced tables first).
std::span<const TableRule> BackupRules();

// The rule's condition for a live database whose tables are prefixed by `src`.
std::string RuleCondition(const TableRule& rule, const std::string& src);

// "backup_unclassified_table" unless every name in `live_tables` has a rule.
Status CheckEveryTableClassified(const std::vector<std::string>& live_tables);

// The column names of `table` in `db` (its main schema), in order.
std::vector<std::string> TableColumns(SqliteDb& db, const std::string& table);

struct FileDigest {
  std::uint64_t size = 0;
  std::string sha256;
};

// Reads `from` in one pass, hashing it, and writes it to `to` when `to` is not empty (a new file,
// 0600, fsynced; removed again on failure). A missing `from` is "not_found".
Result<FileDigest> CopyAndHash(const std::filesystem::path& from, const std::filesystem::path& to);

// A new backup in `dir` (missing or empty; made 0700). Rows go into db(), which has this binary's
// schema and nothing else; blobs are added per object; Finish writes the manifest last. Until
// then the folder holds no manifest, so a backup that stopped half-way cannot be restored.
class BackupWriter {
 public:
  static Result<std::unique_ptr<BackupWriter>> Create(const std::filesystem::path& dir);
  ~BackupWriter();

  SqliteDb& db() { return *db_; }
  const std::filesystem::path& dir() const { return dir_; }

  // The ids of the objects in the backup's database.
  std::vector<ObjectId> ObjectIds();
  // Deletes an object's row from the backup (its blob was gone); secure_delete zeroes its key.
  void DropObject(const ObjectId& id);
  // The object's ciphertext, from a file of a blob folder or from memory.
  Status CopyBlob(const ObjectId& id, const std::filesystem::path& from);
  Status AddBlob(const ObjectId& id, ByteView ciphertext);

  Result<BackupReport> Finish(std::size_t skipped_objects);

 private:
  BackupWriter(std::filesystem::path dir, std::unique_ptr<SqliteDb> db)
      : dir_(std::move(dir)), db_(std::move(db)) {}
  Status Record(const std::filesystem::path& rel, const FileDigest& d);

  std::filesystem::path dir_;
  std::unique_ptr<SqliteDb> db_;
  std::vector<std::pair<std::string, FileDigest>> files_;
};

// A backup folder whose manifest has been read and checked for form.
class BackupReader {
 public:
  static Result<BackupReader> Open(const std::filesystem::path& dir);

  struct File {
    std::string path;  // relative: "bgerase.db" or "blobs/<2 hex>/<object id>"
    std::uint64_t size = 0;
    std::string sha256;
    ObjectId object;  // empty for the database
  };
  const std::vector<File>& files() const { return files_; }
  const std::filesystem::path& dir() const { return dir_; }
  int schema_version() const { return schema_version_; }
  // The counts the manifest records, and the size of the files.
  BackupReport Report() const { return report_; }

  // Copies `file` to `to` (or, with `to` empty, only reads it), checking its size and sha256;
  // "backup_invalid" when it is missing or does not match.
  Status CopyVerified(const File& file, const std::filesystem::path& to) const;
  // The file's bytes, checked the same way.
  Result<Bytes> ReadVerified(const File& file) const;
  Status Invalid(const std::string& why) const;

 private:
  std::filesystem::path dir_;
  std::vector<File> files_;
  int schema_version_ = 0;
  BackupReport report_;
};

}  // namespace bgerase::store::sqlite
