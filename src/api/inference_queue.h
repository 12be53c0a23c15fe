// InferenceQueue: a bounded queue in front of N inference workers, each owning its own Pipeline
// (one loaded model, `threads_per_worker` inference threads). When the queue is full a request
// is refused at once (the caller answers 503 overloaded) instead of piling up behind the model.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"
#include "removal/pipeline.h"

namespace bgerase::api {

class InferenceQueue {
 public:
  using Task = std::function<void(removal::Pipeline&)>;

  // Takes ownership of the pipelines, one worker thread each. `max_queue` bounds the tasks
  // waiting for a free worker (running ones are not counted). Starts the workers at once.
  InferenceQueue(std::vector<std::unique_ptr<removal::Pipeline>> pipelines, std::size_t max_queue);
  // Finishes every accepted task, then joins the workers.
  ~InferenceQueue();

  // Queues `task` to run on a free worker. False, without queueing, when `max_queue` tasks
  // already wait or the queue is shutting down. Thread-safe.
  bool TrySubmit(Task task);

  // A pipeline for the model-free stages (Prepare, Render): they are const and thread-safe, so
  // request threads run them while the workers run only inference.
  const removal::Pipeline& stages() const { return *pipelines_.front(); }

  std::size_t waiting() const;  // tasks queued, not yet running
  std::size_t running() const;  // tasks on a worker now
  std::size_t workers() const { return threads_.size(); }
  std::size_t max_queue() const { return max_queue_; }

 private:
  void Work(removal::Pipeline& pipeline);

  std::vector<std::unique_ptr<removal::Pipeline>> pipelines_;
  const std::size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace bgerase::api
