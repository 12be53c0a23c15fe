// The store's stable error codes. They travel in Status::code() to api/, which maps them to HTTP
// answers, and to the CLI, which prints them; renaming one is an API change.
#pragma once

namespace bgerase::store::errors {

inline constexpr char kNotFound[] = "not_found";                  // no such (live) thing for you
inline constexpr char kInvalidArgument[] = "invalid_argument";    // malformed input
inline constexpr char kInvalidRetention[] = "invalid_retention";  // unparsable, <= 0 or > 24 h
inline constexpr char kInvalidEmail[] = "invalid_email";
inline constexpr char kWeakPassword[] = "weak_password";
inline constexpr char kAccountExists[] = "account_exists";
inline constexpr char kInvalidCredentials[] = "invalid_credentials";  // wrong email or password
inline constexpr char kInvalidApiKey[] = "invalid_api_key";           // unknown or revoked key
inline constexpr char kInvalidSession[] = "invalid_session";          // unknown or expired
inline constexpr char kConsentNotActive[] = "consent_not_active";     // training needs opt-in
inline constexpr char kUnsupportedDatabase[] = "unsupported_database";
inline constexpr char kDatabaseError[] = "database_error";
// The database cannot be used now (its server is down, restarting or lost its connection, or an
// SQLite file stayed locked by another connection past the busy wait); retrying later can
// succeed. Nothing was committed, except after a PostgreSQL commit that was in doubt.
inline constexpr char kStoreUnavailable[] = "store_unavailable";
inline constexpr char kStorageError[] = "storage_error";  // blob folder I/O
inline constexpr char kCorruptBlob[] = "corrupt_blob";    // blob fails authentication
inline constexpr char kExportDirNotEmpty[] = "export_dir_not_empty";
inline constexpr char kInsufficientCredits[] = "insufficient_credits";  // monthly allowance spent

}  // namespace bgerase::store::errors
