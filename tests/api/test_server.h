// A real `bgerase serve` for one test: a fresh --data folder with one account and key, the server
// started as a child process on a free loopback port, and stopped with SIGTERM at the end (its
// exit status is checked, so graceful shutdown is tested by every test).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace bgerase::api::testing {

namespace fs = std::filesystem;

inline std::string ReadAll(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs `bgerase ARGS`, returning stdout (stderr discarded).
inline std::string RunCli(const std::string& args) {
  std::string out;
  FILE* p = popen((std::string(BGERASE_BINARY) + " " + args + " 2>/dev/null").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

class TestServer {
 public:
  // Creates the data folder, an account and a key (through the CLI, as an operator would),
  // starts the server with `extra` flags and waits (bounded) until /v2/health says ready — or,
  // with `wait_ready` false, only until it listens. With `replica_of`, the server shares that
  // server's data folder (and key): a second replica on the same database. Starting again after
  // Stop keeps the data folder (a restart).
  // Use a database URL (postgres://…) instead of the data folder's SQLite file, for the admin
  // commands and the server. Call before Start.
  void UseDatabase(const std::string& url) { database_ = url; }

  void Start(const std::vector<std::string>& extra = {}, const TestServer* replica_of = nullptr,
             bool wait_ready = true) {
    static int instance = 0;
    if (dir_.empty()) {
      dir_ = fs::path(::testing::TempDir()) /
             ("bgerase-api-" + std::to_string(getpid()) + "-" + std::to_string(instance++));
      fs::remove_all(dir_);
      fs::create_directories(dir_);
    }
    port_ = 0;
    if (replica_of) {
      data_ = replica_of->data_;
      key_ = replica_of->key_;
      database_ = replica_of->database_;
    } else if (data_.empty()) {
      data_ = dir_ / "data";
      const std::string where =
          database_.empty() ? "--data '" + data_.string() + "'" : "--database '" + database_ + "'";
      RunCli("admin create-account alice@example.com " + where);
      key_ = RunCli("admin create-key alice@example.com " + where);
      ASSERT_EQ(key_.rfind("bge_", 0), 0u) << "no key: " << key_;
    }

    std::vector<std::string> args = {BGERASE_BINARY, "serve", "--host", "127.0.0.1",
                                     "--port",       "0",     "--data", data_.string()};
    if (!database_.empty()) args.insert(args.end(), {"--database", database_});
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    log_ = dir_ / "serve.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    ASSERT_EQ(posix_spawn(&pid_, BGERASE_BINARY, &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);

    // The port comes from the server's own start-up line; then health must turn 200.
    const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+))");
    for (int i = 0; i < 600 && port_ == 0; ++i) {
      std::smatch m;
      const std::string log = ReadAll(log_);
      if (std::regex_search(log, m, listening))
        port_ = std::stoi(m[1]);
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_NE(port_, 0) << "server did not start: " << ReadAll(log_);
    if (!wait_ready) return;
    for (int i = 0; i < 1200; ++i) {
      auto res = Client().Get("/v2/health");
      if (res && res->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "server never became ready: " << ReadAll(log_);
  }

  // SIGTERM, then the exit status must be 0 (graceful shutdown), and the log must hold no secret.
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "serve did not exit cleanly on SIGTERM: " << ReadAll(log_);
    ExpectLogHoldsNoSecret();
  }

  // SIGKILL, as the kernel's OOM killer or a power cut would end it: no shutdown at all. Start
  // again afterwards restarts it on the same store.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  ~TestServer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      ExpectLogHoldsNoSecret();
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // A password, session token or other secret the test sent: the log must never contain it.
  void NoteSecret(const std::string& secret) { secrets_.push_back(secret); }

  // docs/security.md: what the server writes (access log, errors) never holds a full API key —
  // ours or any other of the key format —, a noted secret, or image bytes (raw or base64).
  void ExpectLogHoldsNoSecret() const {
    if (log_.empty()) return;
    const std::string log = ReadAll(log_);
    if (!key_.empty()) {
      EXPECT_EQ(log.find(key_), std::string::npos) << "the API key is logged";
    }
    EXPECT_FALSE(std::regex_search(log, std::regex("bge_[0-9a-f]{64}"))) << "a full key is logged";
    for (const auto& secret : secrets_)
      EXPECT_EQ(log.find(secret), std::string::npos) << "a secret the test sent is logged";
    const std::pair<std::string, const char*> image_marks[] = {
        {"\x89PNG", "PNG bytes"},  {"\xFF\xD8\xFF", "JPEG bytes"},
        {"WEBPVP8", "WebP bytes"}, {"iVBORw0KGgo", "base64 PNG"},
        {"/9j/4", "base64 JPEG"},  {"UklGR", "base64 RIFF/WebP"}};
    for (const auto& [mark, what] : image_marks)
      EXPECT_EQ(log.find(mark), std::string::npos) << what << " in the server log";
  }

  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(300, 0);
    c.set_write_timeout(60, 0);
    return c;
  }
  httplib::Headers Auth() const { return {{"X-Api-Key", key_}}; }
  // `bgerase admin ARGS` on this server's store (after Start), as an operator would run it.
  std::string Admin(const std::string& args) const {
    return RunCli(
        "admin " + args + " " +
        (database_.empty() ? "--data '" + data_.string() + "'" : "--database '" + database_ + "'"));
  }
  const std::string& key() const { return key_; }
  const fs::path& data() const { return data_; }
  std::string log() const { return ReadAll(log_); }
  int port() const { return port_; }

 private:
  fs::path dir_, data_, log_;
  std::string key_, database_;
  std::vector<std::string> secrets_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace bgerase::api::testing
