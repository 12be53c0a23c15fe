// promise 3 in docs/design/privacy.md: deletion holds across crashes, on both backends. A child
// process (a server, or a replica sharing PostgreSQL) stores objects and is killed with SIGKILL
// (no destructors, no clean shutdown, reaper running, connections open); a new process opening
// the store later than their expiry finds them purged before OpenStore returns.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_env.h"

namespace bgerase::store {
namespace {

using namespace std::chrono_literals;
using namespace testutil;  // StoreEnv, Backend, T0 and the backends' instantiation

// Runs in the forked child: store `n` objects at T0, report their ids through `fd`, then wait to
// be killed. Never returns.
[[noreturn]] void StoreAndHang(const StoreOptions& o, int fd, int n) {
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

struct KilledChild {
  std::vector<ObjectId> ids;  // the objects it stored
  bool killed = false;        // whether SIGKILL ended it, as intended
};

// `options` run in a child that stores `n` objects and is then killed.
KilledChild RunChildAndKill(const StoreOptions& options, int n) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    StoreAndHang(options, fds[1], n);
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
  KilledChild child;
  child.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  EXPECT_TRUE(child.killed) << "child exited early: " << got;
  std::size_t start = 0;
  for (std::size_t nl; (nl = got.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = got.substr(start, nl - start);
    if (line != "ready") child.ids.push_back(line);
  }
  return child;
}

class CrashSafety : public ::testing::TestWithParam<Backend> {
 protected:
  StoreEnv env_{GetParam()};
};

TEST_P(CrashSafety, ExpiredObjectsOfAKilledProcessArePurgedBeforeReady) {
  // A live server: the reaper thread is running when the kill comes.
  const KilledChild child = RunChildAndKill(
      env_.Options(std::make_shared<ManualClock>(T0()), kMaxRetention, /*run_reaper=*/true), 5);
  ASSERT_TRUE(child.killed);
  const std::vector<ObjectId>& ids = child.ids;
  ASSERT_EQ(ids.size(), 5u);
  // The control: everything the child committed survived the kill.
  ASSERT_EQ(env_.BlobCount(), 5u);

  {
    // Opened before expiry, nothing is purged.
    auto early = env_.Open(std::make_shared<ManualClock>(T0() + 23h));
    ASSERT_TRUE(early);
    EXPECT_EQ(env_.Int("SELECT count(*) FROM objects"), 5);
    for (const auto& id : ids) EXPECT_TRUE(env_.BlobExists(id)) << id;
  }

  // A new process, later than every expiry. No reaper thread: the purge must be part of opening.
  auto later = env_.Open(std::make_shared<ManualClock>(T0() + 25h), kMaxRetention,
                         /*run_reaper=*/false);
  ASSERT_TRUE(later);
  EXPECT_EQ(env_.Int("SELECT count(*) FROM objects"), 0);
  EXPECT_EQ(env_.BlobCount(), 0u);
  EXPECT_EQ(env_.Int("SELECT count(*) FROM deletion_log WHERE reason='expired'"), 5);
  for (const auto& id : ids) EXPECT_FALSE(env_.BlobExists(id)) << id;
}

INSTANTIATE_TEST_SUITE_P(Backends, CrashSafety, testutil::AllBackends(), testutil::BackendName);

}  // namespace
}  // namespace bgerase::store
