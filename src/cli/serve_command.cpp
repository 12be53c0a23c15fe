// `bgerase serve`: opens the store (which purges expired data before anything else), binds, loads
// the model and answers the HTTP API until SIGTERM or SIGINT, then finishes what was accepted.
#include <pthread.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "api/server.h"
#include "cli/commands.h"
#include "cli/environment.h"
#include "cli/store_flags.h"
#include "imaging/imaging.h"
#include "removal/model_registry.h"
#include "store/store.h"

namespace bgerase::cli {
namespace {

struct ServeFlags {
  std::string host = "127.0.0.1";
  int port = 8080;
  StoreFlags store;
  int workers = 1;
  int threads_per_worker = 0;
  int max_queue = 8;
  double rate_limit = 0;
  int request_deadline_s = 120;
  bool allow_private_urls = false;
  std::string model_dir;
  bool quiet = false;
  bool no_jobs = false;
  int job_lease_s = 300;
  std::vector<std::string> trusted_proxies;
  std::string web_dir;
  bool print_config = false;
};

int Fail(const Status& st) {
  std::cerr << "bgerase serve: error: " << st.ToString() << "\n";
  ExitCode() = 1;
  return 1;
}

void Serve(ServeFlags& f) {
  // Block the stop signals in every thread (the mask is inherited), so that only the waiter
  // below receives them and can stop the server in an orderly way.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);  // internal: wakes the waiter when the server ends itself
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  if (Status st = imaging::InitVips(); !st.ok()) {
    Fail(st);
    return;
  }
  // Opening purges whatever expired while we were down before it returns: nothing is served or
  // listed past its time, even after a crash.
  auto s = OpenStoreFromFlags(f.store, /*run_reaper=*/true);
  if (!s.ok()) {
    Fail(s.status());
    return;
  }
  api::ServerConfig config;
  config.host = f.host;
  config.port = f.port;
  config.workers = f.workers;
  config.max_queue = static_cast<std::size_t>(f.max_queue);
  config.pipeline.model_dir = f.model_dir;
  config.pipeline.threads = f.threads_per_worker;
  config.access_log = !f.quiet;
  config.rate_limit = f.rate_limit;
  config.request_deadline = std::chrono::seconds(f.request_deadline_s);
  config.allow_private_urls = f.allow_private_urls;
  config.run_jobs = !f.no_jobs;
  config.job_lease = std::chrono::seconds(f.job_lease_s);
  auto proxies = api::TrustedProxies::Parse(f.trusted_proxies);
  if (!proxies.ok()) {
    Fail(proxies.status());
    return;
  }
  config.trusted_proxies = *proxies;
  config.web_dir = f.web_dir;
  api::ApiServer server(config, **s);
  if (Status st = server.Bind(); !st.ok()) {
    Fail(st);
    return;
  }
  std::cerr << "bgerase serve: listening on http://" << f.host << ":" << server.port()
            << ", loading the model\n";
  std::thread waiter([&server, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig == SIGUSR1) return;  // our own wake-up after the server stopped by itself
    std::cerr << "bgerase serve: stopping (finishing requests in flight)\n";
    server.Stop();
  });
  const Status st = server.Run();
  // Wake the waiter if the server stopped for another reason (model load failure).
  pthread_kill(waiter.native_handle(), SIGUSR1);
  waiter.join();
  if (!st.ok()) {
    Fail(st);
    return;
  }
  std::cerr << "bgerase serve: stopped\n";
}

}  // namespace

void RegisterServeCommand(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "serve the HTTP API (docs/reference/api.md)");
  cmd->add_option("--host", f->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", f->port, "port to listen on (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  AddStoreFlags(cmd, f->store);
  cmd->add_option("--workers", f->workers, "inference workers, each with its own model copy")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--threads-per-worker", f->threads_per_worker,
                  "inference threads per worker (0: all cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--max-queue", f->max_queue,
                  "requests that may wait for a worker; beyond it 503 overloaded")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  cmd->add_option("--rate-limit", f->rate_limit,
                  "requests per second per API key, bursts up to max(1, R); 0: no limit")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--request-deadline", f->request_deadline_s,
                  "seconds from a request's first byte to its last (headers within 10 s of it); "
                  "a client still sending then gets 408 and is closed")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--model-dir", f->model_dir, "model folder (default: the installed model)");
  cmd->add_flag("--allow-private-urls", f->allow_private_urls,
                "let image_url reach loopback/private/link-local hosts (tests, trusted networks)");
  cmd->add_flag("--quiet", f->quiet, "no access log");
  cmd->add_option("--trusted-proxy", f->trusted_proxies,
                  "address or CIDR range of a load balancer / reverse proxy whose X-Forwarded-For "
                  "names the client (repeatable)");
  cmd->add_flag("--no-jobs", f->no_jobs,
                "accept async jobs but leave running them to other replicas on the same database");
  cmd->add_option("--job-lease", f->job_lease_s,
                  "seconds a replica holds a claimed job; a job whose replica died is run again "
                  "after it (longer than the slowest job)")
      ->capture_default_str()
      ->check(CLI::Range(5, 86400));
  cmd->add_option("--web-dir", f->web_dir,
                  "folder of the web pages (default: the installed pages, else the source tree's)");
  cmd->add_flag("--print-config", f->print_config,
                "print each setting, its value and where it came from (default, env, flag); exit");
  cmd->callback([f, cmd] {
    // Every flag above can also be set as BGERASE_<FLAG>; the command line wins.
    const auto settings = ApplyEnvironment(cmd, {"--print-config"});
    if (f->print_config) {
      // What an empty default means.
      const auto max_retention =
          std::chrono::duration_cast<std::chrono::hours>(store::kMaxRetention);
      PrintSettings(std::cout, settings,
                    {{"--database", "sqlite:" + f->store.data + "/bgerase.db"},
                     {"--retention", std::to_string(max_retention.count()) + "h"},
                     {"--model-dir", removal::ModelDir("")},
                     {"--web-dir", api::DefaultWebDir()}});
      return;
    }
    Serve(*f);
  });
}

}  // namespace bgerase::cli
