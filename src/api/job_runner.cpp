// The async-job runner: one thread per replica that claims queued jobs from the shared store
// while a worker of this replica is idle, and runs each through the same Prepare/Infer/Render
// stages as a synchronous request (server_internal.h). The job's result joins its input's item
// through the storage policy, so both expire by the retention rule.
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "api/server_internal.h"
#include "store/errors.h"

namespace bgerase::api {

namespace {
const Status& StatusOf(const Status& s) {
  return s;
}
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}
}  // namespace

template <typename F>
auto ApiServer::Impl::OnceStoreIsBack(F&& f) -> decltype(f()) {
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    auto r = f();
    if (StatusOf(r).code() != store::errors::kStoreUnavailable) return r;
    {
      std::unique_lock lock(job_mu);
      if (job_cv.wait_for(lock, backoff, [&] { return job_stop; })) return r;
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

void ApiServer::Impl::WakeJobRunner() {
  {
    std::lock_guard lock(job_mu);
    job_wake = true;
  }
  job_cv.notify_all();
}

// Claims a job whenever a worker of this replica is idle and nothing waits in its queue, so
// synchronous requests keep priority and a busy replica leaves jobs to idle ones. Sleeps up to
// half a second between looks unless a job is accepted here.
void ApiServer::Impl::RunJobs() {
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  const std::string worker = std::string(host) + ":" + std::to_string(getpid());
  bool claims_failing = false;
  std::unique_lock lock(job_mu);
  while (!job_stop) {
    job_wake = false;
    lock.unlock();
    bool claimed = false;
    if (ready->load() && queue->waiting() == 0 && queue->running() < queue->workers()) {
      auto job = store.jobs().Claim(worker, config.job_lease);
      if (!job.ok()) {
        // Once per outage, not twice a second while the database is down.
        if (!claims_failing)
          std::cerr << "bgerase serve: claiming a job failed: " << job.status().ToString()
                    << "; retrying every 0.5 s\n";
        claims_failing = true;
      } else {
        claims_failing = false;
        if (job->has_value()) {
          claimed = true;
          RunJob(**job);
        }
      }
    }
    lock.lock();
    if (!claimed)
      job_cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return job_stop || job_wake; });
  }
}

constexpr int kMaxJobAttempts = 3;

// Decodes the job's input on this thread and hands it to a worker, which infers, renders, keeps
// the result and finishes the job; the runner is free to claim the next job meanwhile.
void ApiServer::Impl::RunJob(const store::Job& job) {
  // A failed job gives back what it was charged when it was accepted (StartJob), once its options
  // say how much that was.
  auto failing = [this, id = job.id, owner = job.owner,
                  at = job.created_at](std::int64_t quarters) {
    return [this, id, owner, at, quarters](std::string_view code) {
      (void)OnceStoreIsBack(
          [&] { return store.jobs().Update(id, store::JobStatus::kFailed, std::nullopt, code); });
      if (quarters > 0)
        (void)OnceStoreIsBack([&] { return store.usage().Refund(owner, quarters, at); });
    };
  };
  removal::OptionFields fields;
  try {
    for (const auto& pair : json::parse(job.options))
      fields.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<std::string>());
  } catch (const json::exception&) {
    return failing(0)("internal_error");
  }
  auto background = TakeBackgroundFields(fields);
  if (!background.ok()) return failing(0)(background.status().code());
  ApiError error;
  auto options = ParseOptions(fields, &error);
  if (!options.ok()) return failing(0)(error.code);
  const auto fail = failing(QuarterCredits(*options));
  // A job whose replica died under it twice more (say, killed for memory) is not retried forever.
  if (job.attempts > kMaxJobAttempts) return fail("internal_error");
  auto input = OnceStoreIsBack([&] { return store.objects().Get(job.owner, job.input_object_id); });
  if (!input.ok()) return fail("not_found");  // deleted by its owner (or expired) meanwhile
  // A replica that died after keeping the result but before marking the job succeeded left the
  // result in the input's item: finishing the job with it is all that is missing. Running it again
  // would keep a second result (and a second training copy) and count the image twice.
  if (job.attempts > 1) {
    auto held = OnceStoreIsBack([&] { return store.data_rights().ListHeldData(job.owner); });
    if (held.ok()) {
      for (const auto& o : *held) {
        if (o.item_id != input->info.item_id || o.kind != store::ObjectKind::kResult ||
            o.purpose != store::Purpose::kProcessing)
          continue;
        (void)OnceStoreIsBack(
            [&] { return store.jobs().Update(job.id, store::JobStatus::kSucceeded, o.id, ""); });
        return;
      }
    }
  }
  if (Status s = ResolveBackground(std::move(*background), fetch, &*options); !s.ok())
    return fail(LookupError(s.code()).code);
  options->store = true;
  auto stored_input = std::make_shared<store::StoredObject>(std::move(input).value());
  const std::string_view bytes(reinterpret_cast<const char*>(stored_input->bytes.data()),
                               stored_input->bytes.size());
  auto prepared = PrepareImage(bytes);
  if (!prepared.ok()) return fail(LookupError(prepared.status().code()).code);
  const bool queued = SubmitInference(
      std::move(prepared).value(), *options,
      [this, stored_input, bytes, id = job.id, owner = job.owner, opts = *options,
       fail](Result<removal::InferredImage> inferred) {
        auto result = RenderImage(std::move(inferred), opts);
        if (!result.ok()) return fail(LookupError(result.status().code()).code);
        // An outage here would otherwise fail a job whose work is done (or leave it running
        // until its lease ends and run it again): the result waits for the database instead.
        auto stored = OnceStoreIsBack([&] {
          return Keep(owner, bytes, *result, opts, stored_input->info.created_at,
                      stored_input->info);
        });
        std::optional<store::ObjectId> result_id;
        if (stored.ok())
          for (const auto& o : stored->processing)
            if (o.kind == store::ObjectKind::kResult) result_id = o.id;
        if (!result_id) return fail("internal_error");
        (void)OnceStoreIsBack(
            [&] { return store.jobs().Update(id, store::JobStatus::kSucceeded, result_id, ""); });
      });
  // Raced by a synchronous request for the last queue slot: hand the job back to be claimed again.
  if (!queued)
    (void)OnceStoreIsBack(
        [&] { return store.jobs().Update(job.id, store::JobStatus::kQueued, std::nullopt, ""); });
}

}  // namespace bgerase::api
