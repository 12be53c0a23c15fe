// BlobFolder: durable writes (temp file, fsync, rename), reads and the orphan sweep.
#include "store/blob_folder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "store/errors.h"

namespace bgerase::store {
namespace fs = std::filesystem;
namespace {

Status IoError(const std::string& what, const fs::path& p, int err) {
  return Status(errors::kStorageError, what + " " + p.string() + ": " + std::strerror(err));
}

Status WriteAll(int fd, const std::uint8_t* data, std::size_t n, const fs::path& p) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot write", p, errno);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return Status::Ok();
}

void FsyncDir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

bool IsWellFormedObjectId(std::string_view id) {
  if (id.size() != 36 || id.substr(0, 4) != "obj_") return false;
  for (char c : id.substr(4)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status BlobFolder::Init() const {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec)
    return Status(errors::kStorageError, "cannot create " + root_.string() + ": " + ec.message());
  fs::permissions(root_, fs::perms::owner_all, fs::perm_options::replace, ec);
  return Status::Ok();
}

fs::path BlobFolder::PathFor(const ObjectId& id) const {
  // Two hex digits of fan-out keep directories small at millions of objects.
  return root_ / id.substr(4, 2) / id;
}

Status BlobFolder::Write(const ObjectId& id, const ObjectKey& key, ByteView plaintext) const {
  if (!IsWellFormedObjectId(id)) return Status(errors::kInvalidArgument, "bad object id");
  const Bytes sealed = SealBlob(key, id, plaintext);
  const fs::path final_path = PathFor(id);
  const fs::path dir = final_path.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return Status(errors::kStorageError, "cannot create " + dir.string() + ": " + ec.message());
  const fs::path tmp = dir / (id + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create", tmp, errno);
  Status st = WriteAll(fd, sealed.data(), sealed.size(), tmp);
  if (st.ok() && ::fsync(fd) != 0) st = IoError("cannot sync", tmp, errno);
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), final_path.c_str()) != 0) {
    st = IoError("cannot rename", tmp, errno);
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  FsyncDir(dir);
  return Status::Ok();
}

Result<Bytes> BlobFolder::Read(const ObjectId& id, const ObjectKey& key) const {
  if (!IsWellFormedObjectId(id)) return Status(errors::kNotFound, "no such object");
  const fs::path p = PathFor(id);
  // An open descriptor keeps the file readable even if it is unlinked while we read.
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status(errors::kNotFound, "no such object");
    return IoError("cannot open", p, errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return IoError("cannot stat", p, err);
  }
  Bytes blob(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < blob.size()) {
    const ssize_t r = ::read(fd, blob.data() + got, blob.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  ::close(fd);
  blob.resize(got);  // a short read fails authentication below, as it should
  return OpenBlob(key, id, blob);
}

void BlobFolder::Remove(const ObjectId& id) const {
  if (!IsWellFormedObjectId(id)) return;
  ::unlink(PathFor(id).c_str());
}

std::size_t BlobFolder::SweepOrphans(const std::function<bool(const ObjectId&)>& is_live,
                                     std::chrono::seconds grace) const {
  std::size_t removed = 0;
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (auto it = fs::recursive_directory_iterator(root_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const fs::path p = it->path();
    std::string name = p.filename().string();
    const bool tmp = name.ends_with(".tmp");
    if (tmp) name.resize(name.size() - 4);
    if (!tmp && is_live(name)) continue;
    const auto mtime = fs::last_write_time(p, ec);
    if (ec || now - mtime < grace) {
      ec.clear();
      continue;
    }
    if (::unlink(p.c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace bgerase::store
