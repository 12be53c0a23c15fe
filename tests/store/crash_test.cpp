// promise 3 in docs/design/privacy.md: deletion holds across crashes. A child process stores objects and is killed
// with SIGKILL (no destructors, no clean shutdown); a new process opening the store later than
// their expiry finds them purged before OpenStore returns.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

namespace bgerase::store {
namespace {

using namespace std::chrono_literals;
using testutil::RawDb;
using testutil::T0;
using testutil::TempDir;

// Runs in the forked child: store `n` objects at T0, report their ids through `fd`, then wait to
// be killed. Never returns.
[[noreturn]] void StoreAndHang(const fs::path& data, int fd, int n) {
  StoreOptions o;
  o.data_dir = data;
  o.clock = std::make_shared<ManualClock>(T0());
  o.run_reaper = true;  // a live server: the reaper thread is running when the kill comes
  auto s = OpenStore(o);
  if (!s.ok()) _exit(2);
  auto account = (*s)->accounts().Create("crash@example.com", std::nullopt);
  if (!account.ok()) _exit(3);
  for (int i = 0; i < n; ++i) {
    const std::string img = testutil::FakeImage("crash-" + std::to_string(i));
    auto obj = (*s)->objects().Put(
        {account->id, ObjectKind::kInput, "", "image/png", std::nullopt, AsBytes(img)});
    if (!obj.ok()) _exit(4);
    const std::string line = obj->id + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(5);
  }
  if (write(fd, "ready\n", 6) != 6) _exit(6);
  for (;;) pause();
}

std::vector<ObjectId> RunChildAndKill(const fs::path& data, int n) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    StoreAndHang(data, fds[1], n);
  }
  close(fds[1]);
  std::string got;
  char buf[256];
  while (got.find("ready\n") == std::string::npos) {
    const ssize_t r = read(fds[0], buf, sizeof buf);
    if (r <= 0) break;
    got.append(buf, static_cast<std::size_t>(r));
  }
  close(fds[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited early: " << got;
  std::vector<ObjectId> ids;
  std::size_t start = 0;
  for (std::size_t nl; (nl = got.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = got.substr(start, nl - start);
    if (line != "ready") ids.push_back(line);
  }
  return ids;
}

TEST(CrashSafety, ExpiredObjectsOfAKilledProcessArePurgedBeforeReady) {
  TempDir dir;
  const std::vector<ObjectId> ids = RunChildAndKill(dir.path(), 5);
  ASSERT_EQ(ids.size(), 5u);
  auto blob = [&](const ObjectId& id) { return dir.path() / "blobs" / id.substr(4, 2) / id; };

  {
    // Control: opened before expiry, everything the child committed survived the kill.
    auto early = testutil::OpenAt(dir.path(), std::make_shared<ManualClock>(T0() + 23h));
    ASSERT_TRUE(early);
    RawDb raw(dir.path());
    EXPECT_EQ(raw.Int("SELECT count(*) FROM objects"), 5);
    for (const auto& id : ids) EXPECT_TRUE(fs::exists(blob(id))) << id;
  }

  // A new process, later than every expiry. No reaper thread: the purge must be part of opening.
  auto later = testutil::OpenAt(dir.path(), std::make_shared<ManualClock>(T0() + 25h),
                                kMaxRetention, /*run_reaper=*/false);
  ASSERT_TRUE(later);
  RawDb raw(dir.path());
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM deletion_log WHERE reason='expired'"), 5);
  for (const auto& id : ids) EXPECT_FALSE(fs::exists(blob(id))) << id;
}

}  // namespace
}  // namespace bgerase::store
