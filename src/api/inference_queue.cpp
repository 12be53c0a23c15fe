// InferenceQueue: workers pull tasks in arrival order; shutdown drains what was accepted.
#include "api/inference_queue.h"

namespace bgerase::api {

InferenceQueue::InferenceQueue(std::vector<std::unique_ptr<removal::Pipeline>> pipelines,
                               std::size_t max_queue)
    : pipelines_(std::move(pipelines)), max_queue_(max_queue) {
  for (auto& p : pipelines_) threads_.emplace_back([this, pl = p.get()] { Work(*pl); });
}

InferenceQueue::~InferenceQueue() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool InferenceQueue::TrySubmit(Task task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ ||
        tasks_.size() >= max_queue_ + (threads_.size() - std::min(running_, threads_.size())))
      return false;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

std::size_t InferenceQueue::waiting() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

std::size_t InferenceQueue::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

void InferenceQueue::Work(removal::Pipeline& pipeline) {
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping and drained
      task = std::move(tasks_.front());
      tasks_.pop_front();
      ++running_;
    }
    task(pipeline);
    {
      std::lock_guard lock(mu_);
      --running_;
    }
  }
}

}  // namespace bgerase::api
