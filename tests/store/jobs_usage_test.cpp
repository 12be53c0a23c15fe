// Jobs any replica can claim, and usage counts that outlive the process: checked on both backends
// (real SQLite files, a real PostgreSQL server), with two store handles on one database standing
// in for two replicas.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "store/errors.h"
#include "store_env.h"

namespace bgerase::store {
namespace {

using namespace std::chrono_literals;
using testutil::Backend;
using testutil::FakeImage;
using testutil::StoreEnv;
using testutil::T0;

class JobsUsageTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    store_ = env_.Open(clock_);
    ASSERT_TRUE(store_);
    auto a = store_->accounts().Create("jobs@example.com", std::nullopt);
    ASSERT_TRUE(a.ok());
    owner_ = a->id;
  }

  Job NewJob(const std::string& label) {
    const std::string img = FakeImage(label);
    auto in = store_->objects().Put(
        {owner_, ObjectKind::kInput, "", "image/png", std::nullopt, AsBytes(img)});
    EXPECT_TRUE(in.ok());
    auto job = store_->jobs().Create(owner_, in->id, R"({"format":"webp"})");
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return *job;
  }

  StoreEnv env_{GetParam()};
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(T0());
  std::unique_ptr<Store> store_;
  AccountId owner_;
};

TEST_P(JobsUsageTest, JobNeedsTheOwnersLiveInput) {
  EXPECT_EQ(
      store_->jobs().Create(owner_, "obj_00000000000000000000000000000000", "{}").status().code(),
      errors::kNotFound);
  auto other = store_->accounts().Create("other@example.com", std::nullopt);
  ASSERT_TRUE(other.ok());
  const Job job = NewJob("mine");
  EXPECT_EQ(store_->jobs().Create(other->id, job.input_object_id, "{}").status().code(),
            errors::kNotFound);
}

TEST_P(JobsUsageTest, ClaimTakesOldestQueuedJobOnce) {
  const Job first = NewJob("first");
  clock_->Advance(1s);
  const Job second = NewJob("second");
  auto a = store_->jobs().Claim("replica-a", 60s);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->id, first.id);
  EXPECT_EQ((*a)->status, JobStatus::kRunning);
  EXPECT_EQ((*a)->options, R"({"format":"webp"})");
  EXPECT_EQ((*a)->input_object_id, first.input_object_id);
  EXPECT_EQ((*a)->attempts, 1);
  auto b = store_->jobs().Claim("replica-b", 60s);
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->id, second.id);
  auto none = store_->jobs().Claim("replica-c", 60s);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(store_->jobs().Get(owner_, first.id)->status, JobStatus::kRunning);
}

TEST_P(JobsUsageTest, AbandonedClaimIsTakenOverAfterTheLease) {
  const Job job = NewJob("abandoned");
  ASSERT_TRUE(store_->jobs().Claim("replica-that-dies", 60s)->has_value());
  clock_->Advance(59s);
  EXPECT_FALSE(store_->jobs().Claim("replica-b", 60s)->has_value());
  clock_->Advance(2s);
  auto again = store_->jobs().Claim("replica-b", 60s);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->id, job.id);
  EXPECT_EQ((*again)->attempts, 2);
  // Finished jobs are never claimed again.
  ASSERT_TRUE(store_->jobs().Update(job.id, JobStatus::kSucceeded, std::nullopt, "").ok());
  clock_->Advance(10min);
  EXPECT_FALSE(store_->jobs().Claim("replica-c", 60s)->has_value());
}

TEST_P(JobsUsageTest, ExpiredJobsAreNotClaimed) {
  NewJob("late");
  clock_->Advance(24h);
  auto claimed = store_->jobs().Claim("replica", 60s);
  ASSERT_TRUE(claimed.ok());
  EXPECT_FALSE(claimed->has_value());
}

// Two handles on one database are two connections, as two replicas' are: every job is
// claimed exactly once however the claims interleave.
TEST_P(JobsUsageTest, ConcurrentReplicasNeverClaimTheSameJob) {
  constexpr int kJobs = 40;
  std::set<JobId> created;
  for (int i = 0; i < kJobs; ++i) created.insert(NewJob("job" + std::to_string(i)).id);
  auto replica_b = env_.Open(clock_);
  ASSERT_TRUE(replica_b);
  std::mutex mu;
  std::vector<JobId> claimed;
  auto drain = [&](Store* s, const char* name) {
    while (true) {
      auto c = s->jobs().Claim(name, 60s);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      if (!c->has_value()) return;
      std::lock_guard lock(mu);
      claimed.push_back((*c)->id);
    }
  };
  std::thread a(drain, store_.get(), "a"), b(drain, replica_b.get(), "b");
  a.join();
  b.join();
  EXPECT_EQ(claimed.size(), static_cast<std::size_t>(kJobs));
  EXPECT_EQ(std::set<JobId>(claimed.begin(), claimed.end()), created);
}

TEST_P(JobsUsageTest, UsageIsCountedPerUtcDayAndSurvivesReopening) {
  ASSERT_TRUE(store_->usage().Record(owner_).ok());
  ASSERT_TRUE(store_->usage().Record(owner_, 2).ok());
  clock_->Advance(24h);
  ASSERT_TRUE(store_->usage().Record(owner_).ok());
  store_.reset();
  store_ = env_.Open(clock_);
  ASSERT_TRUE(store_);
  auto daily = store_->usage().Daily(owner_, 30);
  ASSERT_TRUE(daily.ok());
  ASSERT_EQ(daily->size(), 30u);
  EXPECT_EQ(daily->back().day, UtcDay(clock_->Now()));
  EXPECT_EQ(daily->back().images, 1u);
  EXPECT_EQ((*daily)[28].day, UtcDay(clock_->Now() - 24h));
  EXPECT_EQ((*daily)[28].images, 3u);
  EXPECT_EQ(daily->front().images, 0u);
  EXPECT_EQ(*store_->usage().Total(owner_), 4u);
  // Days older than the window still count in the total, not in the window.
  clock_->Advance(24h * 40);
  auto later = store_->usage().Daily(owner_, 30);
  ASSERT_TRUE(later.ok());
  for (const auto& d : *later) EXPECT_EQ(d.images, 0u) << d.day;
  EXPECT_EQ(*store_->usage().Total(owner_), 4u);
  EXPECT_EQ(store_->usage().Record("acct_unknown").code(), errors::kNotFound);
}

TEST_P(JobsUsageTest, CreditsAreChargedAgainstTheMonthsAllowanceAndRefunded) {
  UsageStore& usage = store_->usage();
  // No allowance: unlimited, but charges are still counted.
  ASSERT_TRUE(usage.Charge(owner_, 4).ok());
  auto state = usage.Credits(owner_);
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->allowance);
  EXPECT_EQ(state->spent, 4);
  // 2.5 credits a month (10 quarters): 4 spent, one more credit fits, a third does not, a
  // quarter still does; nothing is charged by a refused charge.
  ASSERT_TRUE(usage.SetAllowance(owner_, 10).ok());
  EXPECT_TRUE(usage.Charge(owner_, 4).ok());
  EXPECT_EQ(usage.Charge(owner_, 4).code(), errors::kInsufficientCredits);
  EXPECT_EQ(usage.Credits(owner_)->spent, 8);
  EXPECT_TRUE(usage.Charge(owner_, 1).ok());
  EXPECT_TRUE(usage.Charge(owner_, 1).ok());
  EXPECT_EQ(usage.Charge(owner_, 1).code(), errors::kInsufficientCredits);
  // A failed request's charge comes back, on the day it was made.
  const Time charged = clock_->Now();
  clock_->Advance(1h);
  ASSERT_TRUE(usage.Refund(owner_, 4, charged).ok());
  EXPECT_EQ(usage.Credits(owner_)->spent, 6);
  EXPECT_EQ(*usage.Credits(owner_)->allowance, 10);
  // Images and credits are separate counts.
  EXPECT_EQ(*usage.Total(owner_), 0u);
  // A new UTC month starts from nothing (T0 is 29 May).
  clock_->Advance(24h * 3);
  EXPECT_EQ(UtcDay(clock_->Now()).substr(5, 5), "06-01");
  EXPECT_EQ(usage.Credits(owner_)->spent, 0);
  EXPECT_TRUE(usage.Charge(owner_, 10).ok());
  EXPECT_EQ(usage.Charge(owner_, 1).code(), errors::kInsufficientCredits);
  // Removing the allowance makes the account unlimited again; a zero allowance allows nothing.
  ASSERT_TRUE(usage.SetAllowance(owner_, std::nullopt).ok());
  EXPECT_TRUE(usage.Charge(owner_, 4).ok());
  ASSERT_TRUE(usage.SetAllowance(owner_, 0).ok());
  EXPECT_EQ(usage.Charge(owner_, 1).code(), errors::kInsufficientCredits);
  // Unknown accounts and negative values are refused.
  EXPECT_EQ(usage.Charge("acct_unknown", 1).code(), errors::kNotFound);
  EXPECT_EQ(usage.SetAllowance("acct_unknown", 4).code(), errors::kNotFound);
  EXPECT_EQ(usage.Credits("acct_unknown").status().code(), errors::kNotFound);
  EXPECT_EQ(usage.SetAllowance(owner_, -1).code(), errors::kInvalidArgument);
  EXPECT_EQ(usage.Charge(owner_, -1).code(), errors::kInvalidArgument);
}

// Charges from two replicas at once never spend more than the allowance.
TEST_P(JobsUsageTest, ConcurrentChargesNeverOverspendTheAllowance) {
  ASSERT_TRUE(store_->usage().SetAllowance(owner_, 25).ok());
  auto replica_b = env_.Open(clock_);
  ASSERT_TRUE(replica_b);
  std::atomic<int> granted{0};
  auto spend = [&](Store* s) {
    for (int i = 0; i < 20; ++i)
      if (s->usage().Charge(owner_, 1).ok()) ++granted;
  };
  std::thread a(spend, store_.get()), b(spend, replica_b.get());
  a.join();
  b.join();
  EXPECT_EQ(granted.load(), 25);
  EXPECT_EQ(store_->usage().Credits(owner_)->spent, 25);
}

INSTANTIATE_TEST_SUITE_P(Backends, JobsUsageTest, testutil::AllBackends(), testutil::BackendName);

}  // namespace
}  // namespace bgerase::store
