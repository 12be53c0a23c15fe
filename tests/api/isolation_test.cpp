// No cross-account oracle: every route that takes an id, found by enumerating the server's route
// table (so a new one cannot be missed), answers another account's id with the same 404
// not_found it gives an id that never existed — never 200, never 403 — and leaves the owner's
// data as it was. A real server on loopback over a real store; the routes involved need no model.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>

#include "api/server.h"
#include "api/web_session.h"
#include "store/storage_policy.h"
#include "store/store.h"

namespace bgerase::api {
namespace {

using json = nlohmann::json;

TEST(Isolation, EveryRouteWithAnIdAnswersAnotherAccountsIdsAsNotFound) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("bgerase-isolation-" + std::to_string(::getpid()));
  store::StoreOptions so;
  so.data_dir = dir;
  so.run_reaper = false;
  auto opened = store::OpenStore(so);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store::Store& st = **opened;

  // Alice owns a key, an item (an input kept for a job) and a job; Bob has a key and a session.
  auto alice = st.accounts().Create("alice@example.com", std::nullopt);
  auto bob = st.accounts().Create("bob@example.com", std::nullopt);
  ASSERT_TRUE(alice.ok() && bob.ok());
  auto alice_key = st.api_keys().Create(alice->id);
  auto bob_key = st.api_keys().Create(bob->id);
  ASSERT_TRUE(alice_key.ok() && bob_key.ok());
  const std::string bytes = "not really a photo";
  auto input = store::StoragePolicy(st).StoreInput(alice->id, store::AsBytes(bytes), "image/png",
                                                   std::nullopt);
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  auto job = st.jobs().Create(alice->id, input->id, "[]");
  ASSERT_TRUE(job.ok());
  auto bob_session = st.sessions().Create(bob->id, std::chrono::hours(1));
  ASSERT_TRUE(bob_session.ok());

  // Each placeholder a route label may carry, and Alice's value for it.
  const std::map<std::string, std::string> alices = {
      {"{id}", job->id}, {"{item}", input->item_id}, {"{prefix}", alice_key->info.prefix}};

  ServerConfig config;
  config.port = 0;
  config.access_log = false;
  config.run_jobs = false;
  ApiServer server(config, st);
  ASSERT_TRUE(server.Bind().ok());
  std::thread running([&] { (void)server.Run(); });
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60, 0);

  int checked = 0;
  const std::regex placeholder(R"(\{[a-z_]+\})");
  for (const auto& route : server.Routes()) {
    if (!std::regex_search(route.label, placeholder)) continue;
    std::string path = route.label;
    for (std::smatch m; std::regex_search(path, m, placeholder);) {
      const auto value = alices.find(m.str());
      ASSERT_NE(value, alices.end())
          << route.label << ": a new kind of id; give this test Alice's value for " << m.str();
      path = m.prefix().str() + value->second + m.suffix().str();
    }
    httplib::Headers headers;
    if (route.label.rfind("/web", 0) == 0) {
      headers = {{"Cookie", std::string(web::kSessionCookie) + "=" + bob_session->token},
                 {"X-CSRF-Token", web::CsrfTokenForSession(bob_session->token)}};
    } else {
      headers = {{"X-Api-Key", bob_key->key}};
    }
    httplib::Request req;
    req.method = route.method;
    req.path = path;
    req.headers = headers;
    auto res = c.send(req);
    ASSERT_TRUE(res) << route.method << " " << path;
    EXPECT_EQ(res->status, 404) << route.method << " " << path << ": " << res->body;
    const json body = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << res->body;
    EXPECT_EQ(body["error"]["code"], "not_found") << route.method << " " << path;
    // The same answer as for an id nobody has: nothing to tell the two apart.
    httplib::Request none = req;
    none.path = std::regex_replace(path, std::regex(R"([A-Za-z0-9_\-]+$)"), "x0nobody0x");
    if (route.label.ends_with("/result"))
      none.path = std::regex_replace(path, std::regex(R"([^/]+/result$)"), "x0nobody0x/result");
    auto unknown = c.send(none);
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, res->status) << none.path;
    EXPECT_EQ(json::parse(unknown->body, nullptr, false)["error"]["code"], body["error"]["code"]);
    ++checked;
  }
  EXPECT_GE(checked, 4) << "jobs, job results, key revocation and item deletion at least";

  // Alice's things are all still there.
  EXPECT_TRUE(st.api_keys().Authenticate(alice_key->key).ok());
  EXPECT_TRUE(st.jobs().Get(alice->id, job->id).ok());
  EXPECT_TRUE(st.objects().Get(alice->id, input->id).ok());

  server.Stop();
  running.join();
  opened->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bgerase::api
