// The backend-neutral half of the store: ids, hashes, account/key rules and export layouts.
#include "store/common_ops.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/image_formats.h"
#include "store/reaper.h"
#include "store/store.h"
#include "store/zip_writer.h"

namespace bgerase::store {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMinPassword = 8;
constexpr std::string_view kKeyTag = "bge_";
constexpr std::size_t kKeyHex = 64;
constexpr std::size_t kPrefixHex = 8;

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) ||
        std::isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

// A valid argon2id hash of a random password, so that checking an unknown email costs the same
// as checking a known one and timing does not reveal which emails have accounts.
const std::string& DummyPasswordHash() {
  static const std::string hash = [] {
    char out[crypto_pwhash_STRBYTES];
    const std::string pw = RandomHex32();
    if (crypto_pwhash_str(out, pw.data(), pw.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
      return std::string();
    }
    return std::string(out);
  }();
  return hash;
}

// File extension for a MIME type, for exports.

nlohmann::json OptTimeJson(const std::optional<Time>& t) {
  return t ? nlohmann::json(FormatTime(*t)) : nlohmann::json();
}

nlohmann::json InfoJson(const ObjectInfo& o) {
  nlohmann::json j;
  j["id"] = o.id;
  j["item_id"] = o.item_id;
  j["kind"] = ToString(o.kind);
  j["purpose"] = ToString(o.purpose);
  j["mime"] = o.mime;
  j["size"] = o.size;
  j["on_behalf_of"] = o.on_behalf_of ? nlohmann::json(*o.on_behalf_of) : nlohmann::json();
  j["created_at"] = FormatTime(o.created_at);
  j["expires_at"] = OptTimeJson(o.expires_at);
  return j;
}

Status WriteFile(const fs::path& p, ByteView data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return Status(errors::kStorageError, "cannot write " + p.string());
  return Status::Ok();
}

}  // namespace

std::vector<DailyUsage> UsageWindow(Time now, int days) {
  std::vector<DailyUsage> out;
  for (int i = std::clamp(days, 1, 366) - 1; i >= 0; --i)
    out.push_back({UtcDay(now - std::chrono::days(i)), 0});
  return out;
}

void AddUsage(std::vector<DailyUsage>& window, const std::string& day, std::uint64_t images) {
  for (auto& d : window)
    if (d.day == day) d.images = images;
}

std::string RandomHex32() {
  std::uint8_t raw[32];
  randombytes_buf(raw, sizeof raw);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  return std::string(hex, 64);
}

std::string RandomId(std::string_view prefix) {
  std::uint8_t raw[16];
  randombytes_buf(raw, sizeof raw);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return std::string(prefix) + std::string(hex, 32);
}

Bytes SecretHash(std::string_view secret) {
  Bytes out(crypto_generichash_BYTES);
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), nullptr, 0);
  return out;
}

bool SecretHashEquals(const Bytes& stored, const Bytes& presented) {
  return stored.size() == presented.size() &&
         sodium_memcmp(stored.data(), presented.data(), presented.size()) == 0;
}

void WipeBytes(Bytes& bytes) {
  sodium_memzero(bytes.data(), bytes.size());
}

std::unique_ptr<Reaper> StartReaper(Store& store, const StoreOptions& options,
                                    std::function<void(Time)>& on_new_expiry) {
  if (!options.run_reaper) return nullptr;
  auto reaper = std::make_unique<Reaper>(store, options.reaper_max_interval);
  Reaper* r = reaper.get();
  on_new_expiry = [r](Time at) { r->Notify(at); };
  reaper->Start();
  return reaper;
}

// ---- Accounts -----------------------------------------------------------------------------------

Status CheckEmail(std::string_view e) {
  const Status invalid(errors::kInvalidEmail, "'" + std::string(e) + "' is not an email address");
  if (e.size() < 3 || e.size() > 254) return invalid;
  const auto at = e.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == e.size() ||
      e.find('@', at + 1) != std::string_view::npos) {
    return invalid;
  }
  for (char c : e) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return invalid;
  }
  return Status::Ok();
}

Result<std::optional<std::string>> HashPassword(std::optional<std::string_view> password) {
  if (!password) return std::optional<std::string>();
  if (password->size() < kMinPassword) {
    return Status(errors::kWeakPassword, "passwords need at least 8 characters");
  }
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password->data(), password->size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return Status(errors::kStorageError, "out of memory while hashing the password");
  }
  return std::optional<std::string>(std::string(out));
}

bool PasswordMatches(const std::string& hash, std::string_view password) {
  const std::string& check = hash.empty() ? DummyPasswordHash() : hash;
  const bool match = crypto_pwhash_str_verify(check.c_str(), password.data(), password.size()) == 0;
  return !hash.empty() && match;
}

Result<Account> CheckSignIn(std::optional<Account> account, const std::string& hash,
                            std::string_view password) {
  const bool matches = PasswordMatches(hash, password);  // first: never skipped
  if (!account || !matches) return Status(errors::kInvalidCredentials, "wrong email or password");
  return *account;
}

// ---- API keys -----------------------------------------------------------------------------------

ApiKeySecret GenerateApiKey() {
  const std::string hex = RandomHex32();
  return {std::string(kKeyTag) + hex, hex.substr(0, kPrefixHex)};
}

std::optional<std::string> ApiKeyPrefix(std::string_view key) {
  if (key.size() != kKeyTag.size() + kKeyHex || !key.starts_with(kKeyTag) ||
      !IsHex(key.substr(kKeyTag.size()))) {
    return std::nullopt;
  }
  return std::string(key.substr(kKeyTag.size(), kPrefixHex));
}

Result<RevokeTarget> ParseRevokeTarget(std::string_view prefix_or_key) {
  std::string_view s = prefix_or_key;
  if (s.starts_with(kKeyTag)) s.remove_prefix(kKeyTag.size());
  if (!IsHex(s) || (s.size() != kPrefixHex && s.size() != kKeyHex)) {
    return Status(errors::kNotFound, "not an API key or key prefix");
  }
  RevokeTarget t;
  t.prefix = std::string(s.substr(0, kPrefixHex));
  // A full key must be the real one, not merely share its public prefix.
  if (s.size() == kKeyHex) t.key_hash = SecretHash(std::string(kKeyTag) + std::string(s));
  return t;
}

// ---- New rows -----------------------------------------------------------------------------------

Result<PendingObject> NewProcessingObject(const NewObject& object) {
  if (object.mime.empty()) return Status(errors::kInvalidArgument, "a MIME type is required");
  PendingObject p;
  ObjectInfo& o = p.info;
  o.id = RandomId("obj_");
  o.owner = object.owner;
  o.item_id = object.item_id.empty() ? RandomId("itm_") : object.item_id;
  o.kind = object.kind;
  o.purpose = Purpose::kProcessing;
  o.on_behalf_of = object.on_behalf_of;
  o.mime = object.mime;
  o.size = object.bytes.size();
  p.key = GenerateObjectKey();
  p.bytes = object.bytes;
  return p;
}

Result<std::vector<PendingObject>> NewTrainingObjects(const NewTrainingItem& item) {
  if (item.input_mime.empty() || (item.mask && item.mask_mime.empty())) {
    return Status(errors::kInvalidArgument, "a MIME type is required");
  }
  const ItemId item_id = RandomId("itm_");
  auto make = [&](ObjectKind kind, const std::string& mime, ByteView bytes) {
    PendingObject p;
    ObjectInfo& o = p.info;
    o.id = RandomId("obj_");
    o.owner = item.owner;
    o.item_id = item_id;
    o.kind = kind;
    o.purpose = Purpose::kTraining;
    o.on_behalf_of = item.on_behalf_of;
    o.mime = mime;
    o.size = bytes.size();
    o.consent_event_id = item.consent_event_id;
    p.key = GenerateObjectKey();
    p.bytes = bytes;
    return p;
  };
  std::vector<PendingObject> out;
  out.push_back(make(ObjectKind::kInput, item.input_mime, item.input));
  if (item.mask) out.push_back(make(ObjectKind::kMask, item.mask_mime, *item.mask));
  return out;
}

TrainingItemInfo TrainingItemOf(const std::vector<PendingObject>& objects) {
  TrainingItemInfo info;
  info.item_id = objects.at(0).info.item_id;
  info.input = objects[0].info;
  if (objects.size() > 1) info.mask = objects[1].info;
  return info;
}

Status CheckTrainingConsent(const ConsentState& consent, ConsentEventId event) {
  if (!consent.opted_in || consent.event_id != event) {
    return Status(errors::kConsentNotActive, "the owner's consent to training is not active");
  }
  return Status::Ok();
}

Job NewQueuedJob(const AccountId& owner, const ObjectId& input_object_id, std::string_view options,
                 Time now, const RetentionPolicy& retention) {
  Job job;
  job.id = RandomId("job_");
  job.owner = owner;
  job.created_at = now;
  job.expires_at = retention.ExpiryFor(now);
  job.input_object_id = input_object_id;
  job.options = std::string(options);
  return job;
}

Result<NewSession> NewSessionFor(const AccountId& account, std::chrono::seconds ttl, Time now) {
  if (ttl <= std::chrono::seconds(0)) {
    return Status(errors::kInvalidArgument, "session lifetime must be positive");
  }
  NewSession s;
  s.token = RandomHex32();
  s.account = account;
  s.expires_at = now + ttl;
  return s;
}

// ---- Parsing
// --------------------------------------------------------------------------------------

std::optional<JobStatus> ParseJobStatus(std::string_view s) {
  if (s == "queued") return JobStatus::kQueued;
  if (s == "running") return JobStatus::kRunning;
  if (s == "succeeded") return JobStatus::kSucceeded;
  if (s == "failed") return JobStatus::kFailed;
  return std::nullopt;
}

ConsentActor ParseConsentActor(std::string_view s) {
  return s == "web" ? ConsentActor::kWeb : (s == "cli" ? ConsentActor::kCli : ConsentActor::kApi);
}

// ---- Exports ------------------------------------------------------------------------------------

Result<DatasetExportReport> ExportDatasetTo(const fs::path& dir,
                                            const std::function<void(const ItemId&)>& after_item,
                                            const DatasetSource& source) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    // Exporting into an old export would leave items of since-withdrawn owners beside the new
    // ones.
    return Status(errors::kExportDirNotEmpty, dir.string() + " is not empty");
  }
  fs::create_directories(dir, ec);
  if (ec) return Status(errors::kStorageError, "cannot create " + dir.string());
  std::ofstream manifest(dir / "manifest.jsonl", std::ios::trunc);
  if (!manifest) return Status(errors::kStorageError, "cannot write the manifest");

  DatasetExportReport report;
  for (const ItemId& item : source.items()) {
    std::optional<std::vector<KeyedObject>> parts = source.consented_parts(item);
    if (!parts || parts->empty()) {
      ++report.items_skipped;
      continue;
    }
    nlohmann::json line;
    line["item_id"] = item;
    line["image"] = nullptr;
    line["mask"] = nullptr;
    bool ok = true;
    for (KeyedObject& p : *parts) {
      auto bytes = source.read(p);
      WipeKey(p.key);
      if (!bytes.ok()) {
        if (bytes.status().code() != errors::kNotFound) {
          for (KeyedObject& q : *parts) WipeKey(q.key);
          return bytes.status();
        }
        ok = false;  // deleted (withdrawn) since the check
        continue;
      }
      const bool is_mask = p.info.kind == ObjectKind::kMask;
      const std::string name = item + (is_mask ? ".mask." : ".image.") + std::string(ExtensionForMime(p.info.mime));
      BGERASE_RETURN_IF_ERROR(WriteFile(dir / name, bytes.value()));
      line[is_mask ? "mask" : "image"] = name;
      line[is_mask ? "mask_mime" : "image_mime"] = p.info.mime;
      line["on_behalf_of"] =
          p.info.on_behalf_of ? nlohmann::json(*p.info.on_behalf_of) : nlohmann::json();
      line["consent_event_id"] = p.info.consent_event_id.value_or(0);
      line["created_at"] = FormatTime(p.info.created_at);
    }
    if (!ok || line["image"].is_null()) {
      // Never leave half an item behind.
      for (const char* k : {"image", "mask"}) {
        if (line[k].is_string()) fs::remove(dir / line[k].get<std::string>(), ec);
      }
      ++report.items_skipped;
      continue;
    }
    manifest << line.dump() << '\n';
    ++report.items_written;
    if (after_item) after_item(item);
  }
  manifest.close();
  if (!manifest) return Status(errors::kStorageError, "cannot write the manifest");
  return report;
}

Status WriteExportZip(AccountExport& account, Time now,
                      const std::function<Result<Bytes>(const KeyedObject&)>& read,
                      std::ostream& out) {
  nlohmann::json doc;
  doc["account"] = {
      {"id", account.id}, {"email", account.email}, {"created_at", FormatTime(account.created_at)}};
  doc["consent_history"] = nlohmann::json::array();
  for (const ConsentEvent& e : account.consent_history) {
    doc["consent_history"].push_back({{"id", e.id},
                                      {"action", e.granted ? "grant" : "withdraw"},
                                      {"policy_version", e.policy_version},
                                      {"actor", ToString(e.actor)},
                                      {"at", FormatTime(e.at)}});
  }
  doc["api_keys"] = nlohmann::json::array();
  for (const ApiKeyInfo& k : account.api_keys) {
    doc["api_keys"].push_back({{"prefix", k.prefix},
                               {"created_at", FormatTime(k.created_at)},
                               {"last_used_at", OptTimeJson(k.last_used_at)},
                               {"revoked_at", OptTimeJson(k.revoked_at)}});
  }
  ZipWriter zip(out);
  doc["items"] = nlohmann::json::array();
  Status failure;
  for (KeyedObject& p : account.objects) {
    auto bytes = read(p);
    WipeKey(p.key);
    if (!bytes.ok()) {
      if (bytes.status().code() == errors::kNotFound) continue;  // deleted meanwhile
      if (failure.ok()) failure = bytes.status();
      continue;
    }
    const std::string name = "objects/" + p.info.id + "." + std::string(ExtensionForMime(p.info.mime));
    if (failure.ok()) failure = zip.Add(name, bytes.value(), p.info.created_at);
    nlohmann::json j = InfoJson(p.info);
    j["file"] = name;
    doc["items"].push_back(std::move(j));
  }
  if (!failure.ok()) return failure;
  doc["exported_at"] = FormatTime(now);
  const std::string data = doc.dump(2);
  BGERASE_RETURN_IF_ERROR(zip.Add("data.json", AsBytes(data), now));
  return zip.Finish();
}

}  // namespace bgerase::store
