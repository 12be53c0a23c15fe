// The blob folder: one encrypted file per object under DATA/blobs/<2 hex>/<object id>.
// Files hold only ciphertext (see blob_cipher.h); keys never touch this folder.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>

#include "common/status.h"
#include "store/blob_cipher.h"
#include "store/types.h"

namespace bgerase::store {

// Thread-safe: each call works on its own file; writes go to a temporary name and are renamed
// into place after fsync, so a reader or a crash never sees a half-written blob.
class BlobFolder {
 public:
  explicit BlobFolder(std::filesystem::path root) : root_(std::move(root)) {}

  // Creates the folder (mode 0700) if needed.
  Status Init() const;

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path PathFor(const ObjectId& id) const;

  // Encrypts and durably writes the object's blob.
  Status Write(const ObjectId& id, const ObjectKey& key, ByteView plaintext) const;

  // Reads and decrypts. "not_found" when the file is missing, "corrupt_blob" when it does not
  // authenticate under `key`.
  Result<Bytes> Read(const ObjectId& id, const ObjectKey& key) const;

  // Unlinks the blob; a missing file is fine.
  void Remove(const ObjectId& id) const;

  // Unlinks blob files (and leftover temporaries) older than `grace` whose id `is_live` rejects.
  // They are undecryptable already (no key row); this only returns their space. The grace keeps
  // a sweep from removing the blob of an upload another process is committing right now.
  std::size_t SweepOrphans(const std::function<bool(const ObjectId&)>& is_live,
                           std::chrono::seconds grace) const;

 private:
  std::filesystem::path root_;
};

// Whether `id` has the form the store generates ("obj_" + 32 lowercase hex); ids from outside
// are checked with this before they are turned into paths.
bool IsWellFormedObjectId(std::string_view id);

}  // namespace bgerase::store
