// Faults (docs/security.md): the database restarting under replicas that serve traffic, and a
// replica killed with SIGKILL while it runs jobs, each against real `bgerase serve` processes on a
// real store. The promise: a fault is answered 503 with Retry-After (never a crash, a hang or a
// 500), service comes back by itself, and every accepted job ends succeeded, once.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vips/vips8>

#include "imaging/imaging.h"
#include "store/storage_policy.h"
#include "store/store.h"
#include "test_server.h"

namespace bgerase::api::testing {
namespace {

using json = nlohmann::json;

const std::string kSkimage = "/usr/lib/python3/dist-packages/skimage/data/";

std::string Photo(const std::string& name) {
  return ReadAll(kSkimage + name);
}

httplib::MultipartFormDataItems Form(const std::string& image,
                                     const std::vector<std::pair<std::string, std::string>>& f) {
  httplib::MultipartFormDataItems items = {{"image_file", image, "photo.png", "image/png"}};
  for (const auto& [k, v] : f) items.push_back({k, v, "", ""});
  return items;
}

std::string Describe(const httplib::Result& res) {
  return res ? "status " + std::to_string(res->status) + ": " + res->body
             : "no answer: " + httplib::to_string(res.error());
}

// Polls GET /v2/jobs/{id} (bounded: 3 minutes) until the job has finished, riding out 503s.
json WaitForJob(httplib::Client& c, const httplib::Headers& auth, const std::string& id) {
  json job;
  for (int i = 0; i < 1800; ++i) {
    auto st = c.Get("/v2/jobs/" + id, auth);
    if (st && st->status == 200) {
      job = json::parse(st->body);
      if (job["status"] == "succeeded" || job["status"] == "failed") break;
    } else {
      EXPECT_TRUE(st && st->status == 503) << Describe(st);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return job;
}

std::string SubmitJob(httplib::Client& c, const httplib::Headers& auth, const std::string& photo) {
  auto res = c.Post("/v2/jobs", auth, Form(photo, {{"size", "preview"}}));
  EXPECT_TRUE(res && res->status == 202) << Describe(res);
  if (!res || res->status != 202) return "";
  return json::parse(res->body)["id"];
}

// Each job succeeded, with a result that decodes to an image with alpha; and the account's data
// holds exactly one input and one result per job (a job run twice would keep two results).
void ExpectEachJobSucceededOnce(httplib::Client& c, const httplib::Headers& auth,
                                const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    const json job = WaitForJob(c, auth, id);
    EXPECT_EQ(job["status"], "succeeded") << id << ": " << job.dump();
    auto res = c.Get("/v2/jobs/" + id + "/result", auth);
    ASSERT_TRUE(res && res->status == 200) << Describe(res);
    const auto im = vips::VImage::new_from_buffer(res->body.data(), res->body.size(), "");
    EXPECT_EQ(im.bands(), 4);
  }
  auto res = c.Get("/v2/account/data", auth);
  ASSERT_TRUE(res && res->status == 200) << Describe(res);
  int processing = 0;
  const json data = json::parse(res->body);
  for (const auto& item : data["items"])
    if (item["purpose"] == "processing") ++processing;
  EXPECT_EQ(processing, static_cast<int>(2 * ids.size())) << res->body;
  res = c.Get("/v2/account", auth);
  ASSERT_TRUE(res && res->status == 200) << Describe(res);
  EXPECT_EQ(json::parse(res->body)["usage"]["images_total"], static_cast<int>(ids.size()))
      << "an image counted twice is a job that ran twice";
}

// A PostgreSQL cluster of this test's own (scripts/pg-test-server), which it may stop and start.
class OwnPostgres {
 public:
  OwnPostgres()
      : dir_(fs::path(::testing::TempDir()) / ("bgerase-faults-pg-" + std::to_string(getpid()))) {
    EXPECT_EQ(Script("start"), 0) << "PostgreSQL did not start";
    url_ = ReadAll(dir_ / "url");
    while (!url_.empty() && url_.back() == '\n') url_.pop_back();
  }
  ~OwnPostgres() { Script("stop"); }
  // pg_ctl stop -m fast: every client is disconnected; the data stays.
  void Pause() { ASSERT_EQ(Script("pause"), 0); }
  void Resume() { ASSERT_EQ(Script("resume"), 0); }
  const std::string& url() const { return url_; }

 private:
  int Script(const std::string& cmd) {
    const std::string line = std::string(BGERASE_SOURCE_DIR) + "/scripts/pg-test-server " + cmd +
                             " '" + dir_.string() + "' >/dev/null";
    return std::system(line.c_str());
  }
  fs::path dir_;
  std::string url_;
};

// What a request during the outage must get: 503 store_unavailable with Retry-After, promptly.
void ExpectUnavailable(const httplib::Result& res, const std::string& what) {
  ASSERT_TRUE(res) << what << ": " << Describe(res);
  EXPECT_EQ(res->status, 503) << what << ": " << res->body;
  EXPECT_GE(std::atoi(res->get_header_value("Retry-After").c_str()), 1) << what;
  const json body = json::parse(res->body, nullptr, false);
  EXPECT_EQ(body["error"]["code"], "store_unavailable") << what << ": " << res->body;
}

TEST(Faults, PostgresRestartWhileReplicasServe) {
  ASSERT_TRUE(imaging::InitVips().ok());
  OwnPostgres pg;
  ASSERT_FALSE(pg.url().empty());
  TestServer front, back;
  front.UseDatabase(pg.url());
  front.Start();
  back.Start({}, &front);
  auto a = front.Client();
  auto b = back.Client();
  for (auto* c : {&a, &b}) c->set_read_timeout(30, 0);  // a hang fails instead of waiting
  const auto auth = front.Auth();
  const std::string photo = Photo("astronaut.png");

  // Jobs accepted before the outage, some of them running when it starts.
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(SubmitJob(i % 2 ? b : a, auth, photo));
  for (const auto& id : ids) ASSERT_FALSE(id.empty());

  pg.Pause();
  for (int round = 0; round < 3; ++round) {
    for (auto* c : {&a, &b}) {
      ExpectUnavailable(c->Get("/v2/account", auth), "GET /v2/account");
      ExpectUnavailable(c->Post("/v2", auth, Form(photo, {{"size", "preview"}})), "POST /v2");
      ExpectUnavailable(c->Post("/v2/jobs", auth, Form(photo, {{"size", "preview"}})),
                        "POST /v2/jobs");
      ExpectUnavailable(c->Get("/v2/jobs/" + ids[0], auth), "GET /v2/jobs/{id}");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  pg.Resume();

  // Both replicas serve again without being restarted (bounded: 30 s).
  for (auto* c : {&a, &b}) {
    bool back_up = false;
    for (int i = 0; i < 300 && !back_up; ++i) {
      auto res = c->Get("/v2/account", auth);
      back_up = res && res->status == 200;
      if (!back_up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(back_up) << "a replica did not recover after PostgreSQL came back";
  }
  for (int i = 0; i < 2; ++i) ids.push_back(SubmitJob(i % 2 ? b : a, auth, photo));
  ExpectEachJobSucceededOnce(a, auth, ids);

  // No 500 and no crash: both logs are free of internal errors, and both stop cleanly.
  for (const TestServer* s : {&front, &back})
    EXPECT_EQ(s->log().find("internal_error"), std::string::npos) << s->log();
  back.Stop();
  front.Stop();
}

TEST(Faults, SigkillDuringJobsThenRestart) {
  ASSERT_TRUE(imaging::InitVips().ok());
  TestServer server;
  const std::vector<std::string> lease = {"--job-lease", "5"};
  server.Start(lease);
  auto c = server.Client();
  const auto auth = server.Auth();
  const std::string photo = Photo("astronaut.png");
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(SubmitJob(c, auth, photo));
  for (const auto& id : ids) ASSERT_FALSE(id.empty());

  // Killed while a job runs (bounded wait for one to start).
  bool running = false;
  for (int i = 0; i < 600 && !running; ++i) {
    for (const auto& id : ids) {
      auto st = c.Get("/v2/jobs/" + id, auth);
      if (st && st->status == 200 && json::parse(st->body)["status"] == "running") running = true;
    }
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(running) << "no job started";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server.Kill();

  server.Start(lease);
  auto c2 = server.Client();
  ExpectEachJobSucceededOnce(c2, auth, ids);
  server.Stop();
}

// The narrowest window: a replica kept a job's result and died before marking the job succeeded.
// The state is made with the store itself (an input, its job claimed by a replica that is gone,
// a result in the input's item); the restarted server must finish the job with that result,
// not run it again: the result is the kept bytes, the item holds one result, nothing is counted.
TEST(Faults, AJobWhoseResultWasKeptIsFinishedNotRunAgain) {
  ASSERT_TRUE(imaging::InitVips().ok());
  TestServer server;
  const std::vector<std::string> lease = {"--job-lease", "5"};
  server.Start(lease);
  server.Stop();
  const std::string photo = Photo("astronaut.png");
  // A small RGBA PNG: not what an inference of the photo would give.
  const vips::VImage plain =
      (vips::VImage::black(40, 30, vips::VImage::option()->set("bands", 4)) + 200)
          .cast(VIPS_FORMAT_UCHAR);
  void* buf = nullptr;
  std::size_t size = 0;
  plain.write_to_buffer(".png", &buf, &size);
  const std::string kept(static_cast<const char*>(buf), size);
  g_free(buf);
  std::string job_id;
  {
    store::StoreOptions o;
    o.data_dir = server.data();
    o.run_reaper = false;
    auto s = store::OpenStore(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store::Store& st = **s;
    const auto owner = st.accounts().FindByEmail("alice@example.com")->id;
    store::StoragePolicy policy(st);
    auto input = policy.StoreInput(owner, store::AsBytes(photo), "image/png", std::nullopt);
    ASSERT_TRUE(input.ok()) << input.status().ToString();
    auto job = st.jobs().Create(owner, input->id, "[]");
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    job_id = job->id;
    auto claimed = st.jobs().Claim("a-replica-that-died", std::chrono::seconds(5));
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    store::Upload result;
    result.owner = owner;
    result.input = store::AsBytes(photo);
    result.input_mime = "image/png";
    result.result = store::AsBytes(kept);
    result.result_mime = "image/png";
    result.store_requested = true;
    result.stored_input = *input;
    ASSERT_TRUE(policy.StoreUpload(result).ok());
  }
  server.Start(lease);  // the dead replica's lease ends 5 s after its claim
  auto c = server.Client();
  const auto auth = server.Auth();
  const json job = WaitForJob(c, auth, job_id);
  EXPECT_EQ(job["status"], "succeeded") << job.dump();
  auto res = c.Get("/v2/jobs/" + job_id + "/result", auth);
  ASSERT_TRUE(res && res->status == 200) << Describe(res);
  EXPECT_TRUE(res->body == kept) << "the job ran again instead of finishing with its kept result";
  res = c.Get("/v2/account/data", auth);
  ASSERT_TRUE(res && res->status == 200) << Describe(res);
  int processing = 0;
  const json data = json::parse(res->body);
  for (const auto& item : data["items"])
    if (item["purpose"] == "processing") ++processing;
  EXPECT_EQ(processing, 2) << res->body;  // the input and the one result
  res = c.Get("/v2/account", auth);
  ASSERT_TRUE(res && res->status == 200) << Describe(res);
  EXPECT_EQ(json::parse(res->body)["usage"]["images_total"], 0) << "no inference ran";
  server.Stop();
}

}  // namespace
}  // namespace bgerase::api::testing
