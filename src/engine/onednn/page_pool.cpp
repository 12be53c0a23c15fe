// See page_pool.h.
#include "engine/onednn/page_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>

namespace bgerase::engine::onednn {
namespace {

size_t AlignTo4K(size_t bytes) {
  return (std::max<size_t>(bytes, 1) + 4095) / 4096 * 4096;
}

}  // namespace

PagePool::~PagePool() {
  for (const auto& [p, n] : chunks_) munmap(p, n);
  for (const auto& [p, n] : mapped_) munmap(p, n);
}

void* PagePool::Allocate(size_t bytes) {
  bytes = AlignTo4K(bytes);
  if (chunks_.empty() || used_ + bytes > chunks_.back().second) {
    const size_t n = std::max(bytes, kChunk);
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    chunks_.push_back({p, n});
    used_ = 0;
  }
  void* p = static_cast<uint8_t*>(chunks_.back().first) + used_;
  used_ += bytes;
  return p;
}

void* PagePool::Mapped(size_t bytes) {
  bytes = AlignTo4K(bytes);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  mapped_.push_back({p, bytes});  // never bump-allocated from: Allocate uses chunks_ only
  return p;
}

PrefaultThread::PrefaultThread(void* p, size_t n)
    : thread_([p, n] {
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif
        // In 4 MB steps: one call holds the process's memory-map lock for the whole range, and
        // oneDNN's JIT, creating primitives meanwhile, waits for it to map each kernel's code
        // (the first creation waited ~45 ms for a 117 MB arena in one call).
        constexpr size_t kStep = size_t{4} << 20;
        auto* b = static_cast<uint8_t*>(p);
        size_t done = 0;
        for (; done < n; done += kStep) {
          if (madvise(b + done, std::min(kStep, n - done), MADV_POPULATE_WRITE) != 0) break;
        }
        auto* v = reinterpret_cast<volatile uint8_t*>(b);  // older kernels: touch each page
        for (size_t i = done; i < n; i += 4096) v[i] = 0;
      }) {
}

PrefaultThread::~PrefaultThread() {
  thread_.join();
}

}  // namespace bgerase::engine::onednn
