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
        if (madvise(p, n, MADV_POPULATE_WRITE) == 0) return;
        auto* b = static_cast<volatile uint8_t*>(p);  // older kernels: touch each page
        for (size_t i = 0; i < n; i += 4096) b[i] = 0;
      }) {
}

PrefaultThread::~PrefaultThread() {
  thread_.join();
}

}  // namespace bgerase::engine::onednn
