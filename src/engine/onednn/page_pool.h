// Memory a plan holds for its lifetime: prepared weights and the scratchpad bump-allocated from
// anonymous mappings, the activation arena in a mapping of its own (faulted in on a thread where
// a core is spare).
#pragma once

#include <cstddef>
#include <thread>
#include <utility>
#include <vector>

namespace bgerase::engine::onednn {

// Bump-allocates from 64 MB (or larger) anonymous mappings, all unmapped with the pool. A
// chunk's unused tail is never touched, so costs no RSS. (Transparent huge pages were tried for
// the arena: with the kernel's default defrag the first inference got slower, not faster.)
class PagePool {
 public:
  PagePool() = default;
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;
  ~PagePool();
  // `bytes` aligned to 4 KB (oneDNN wants 64); nullptr when the system refuses the memory.
  void* Allocate(size_t bytes);
  // A mapping of its own, for the arena: where the plan leaves a core spare, Compile faults its
  // pages in on another thread while it builds the primitives (otherwise the first inference
  // takes one fault per 4 KB page: ~25 ms for int8's 117 MB arena, more for fp32's larger one).
  // nullptr when refused.
  void* Mapped(size_t bytes);

 private:
  static constexpr size_t kChunk = size_t{64} << 20;
  std::vector<std::pair<void*, size_t>> chunks_;  // bump-allocated; the last one is in use
  std::vector<std::pair<void*, size_t>> mapped_;  // Mapped's, one allocation each
  size_t used_ = 0;
};

// Faults in [p, p + n) on a thread of its own; joined when it goes out of scope.
class PrefaultThread {
 public:
  PrefaultThread(void* p, size_t n);
  ~PrefaultThread();

 private:
  std::thread thread_;
};

}  // namespace bgerase::engine::onednn
