// The dataset and account-export layouts: manifest and files for the training dataset, a zip
// of objects and data.json for an account.
#include "store/exports.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/image_formats.h"
#include "store/consent_rules.h"
#include "store/errors.h"
#include "store/zip_writer.h"

namespace bgerase::store {
namespace {

namespace fs = std::filesystem;

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
    TrainingItemParts found = source.parts(item);
    std::vector<KeyedObject>& parts = found.objects;
    // The re-check: only while the grant that admitted the item is its owner's latest event.
    if (parts.empty() || !AdmitsTraining(found.owner_consent, parts[0].info.consent_event_id)) {
      for (KeyedObject& p : parts) WipeKey(p.key);
      ++report.items_skipped;
      continue;
    }
    nlohmann::json line;
    line["item_id"] = item;
    line["image"] = nullptr;
    line["mask"] = nullptr;
    bool ok = true;
    for (KeyedObject& p : parts) {
      auto bytes = source.read(p);
      WipeKey(p.key);
      if (!bytes.ok()) {
        if (bytes.status().code() != errors::kNotFound) {
          for (KeyedObject& q : parts) WipeKey(q.key);
          return bytes.status();
        }
        ok = false;  // deleted (withdrawn) since the check
        continue;
      }
      const bool is_mask = p.info.kind == ObjectKind::kMask;
      const std::string name =
          item + (is_mask ? ".mask." : ".image.") + std::string(ExtensionForMime(p.info.mime));
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

Status ExportAccountZip(AccountExport& account, ConsentLedger& ledger, ApiKeyStore& keys, Time now,
                        const std::function<Result<Bytes>(const KeyedObject&)>& read,
                        std::ostream& out) {
  auto wipe = [&] {
    for (KeyedObject& p : account.objects) WipeKey(p.key);
  };
  auto history = ledger.History(account.id);
  if (!history.ok()) {
    wipe();
    return history.status();
  }
  account.consent_history = std::move(history.value());
  auto listed = keys.List(account.id);
  if (!listed.ok()) {
    wipe();
    return listed.status();
  }
  account.api_keys = std::move(listed.value());
  return WriteExportZip(account, now, read, out);
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
    const std::string name =
        "objects/" + p.info.id + "." + std::string(ExtensionForMime(p.info.mime));
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
