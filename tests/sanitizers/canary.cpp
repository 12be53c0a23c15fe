// A program with one deliberate bug per sanitizer, for harness_test.sh: `canary spawn MODE` starts
// `canary MODE` as a child, ignores how it ends and exits 0, as a test ignores a CLI run's status
// and stderr. Only run-checked's reports can then fail the test, which is what is checked.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

volatile int sink;
int shared_counter;  // the `race` mode's unguarded int
char* volatile held;

int Bug(const std::string& mode, int argc) {
  if (mode == "clean") return 0;
  if (mode == "oob") {  // heap-buffer-overflow, a read one past the end
    std::vector<int> v(static_cast<size_t>(argc) + 3);
    sink = v.data()[v.size()];
    return 0;
  }
  if (mode == "leak") {  // never freed: LeakSanitizer at exit
    char* p = static_cast<char*>(std::malloc(4096));
    std::memset(p, 1, 4096);
    held = p;  // through a volatile pointer, so the compiler keeps the allocation
    sink = held[argc];
    held = nullptr;
    return 0;
  }
  if (mode == "overflow") {  // signed overflow: UBSan
    int x = INT_MAX - 1 + argc;  // argc is 2
    sink = x + 1;
    return 0;
  }
  if (mode == "race") {  // two threads write one int with nothing between them: TSan
    std::thread a([] { for (int i = 0; i < 1000; ++i) shared_counter = shared_counter + 1; });
    std::thread b([] { for (int i = 0; i < 1000; ++i) shared_counter = shared_counter + 1; });
    a.join();
    b.join();
    sink = shared_counter;
    return 0;
  }
  std::fprintf(stderr, "canary: unknown mode %s\n", mode.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "spawn") {
    char* child[] = {argv[0], argv[2], nullptr};
    pid_t pid = 0;
    if (posix_spawn(&pid, argv[0], nullptr, nullptr, child, environ) != 0) return 3;
    int status = 0;
    waitpid(pid, &status, 0);
    return 0;  // whatever the child did
  }
  if (argc == 2) return Bug(argv[1], argc);
  std::fprintf(stderr, "usage: canary [spawn] clean|oob|leak|overflow|race\n");
  return 2;
}
