#include "proxy/common/frame_pool.h"

#include <array>
#include <new>

namespace ferry::frame_pool {
namespace {

constexpr std::size_t kGranule = 128;
constexpr std::size_t kClasses = 384;  // frames up to 48 KiB are pooled (a busy session ~20 KiB)

struct FreeNode {
  FreeNode* next;
};

struct ThreadPool {
  std::array<FreeNode*, kClasses> heads{};
  std::size_t live = 0;
  // Frees the cached frames when a thread ends (workers end only with the process). Not on
  // Windows: mingw-w64's emulated thread-locals ran this destructor at thread exit and it never
  // returned there (seen as a service stop that hung, winedbg in _pthread_cleanup_dest); the
  // process is about to end anyway, so the cache is left to it.
  ~ThreadPool() {
#ifndef _WIN32
    for (FreeNode*& head : heads) {
      while (head != nullptr) {
        FreeNode* next = head->next;
        ::operator delete(head);
        head = next;
      }
    }
#endif
  }
};

thread_local ThreadPool t_pool;

std::size_t classOf(std::size_t bytes) {
  return (bytes + kGranule - 1) / kGranule;
}

}  // namespace

void* allocate(std::size_t bytes) {
  std::size_t c = classOf(bytes);
  if (c >= kClasses) return ::operator new(bytes);
  ++t_pool.live;
  if (FreeNode* n = t_pool.heads[c]) {
    t_pool.heads[c] = n->next;
    return n;
  }
  return ::operator new(c* kGranule);
}

void deallocate(void* p, std::size_t bytes) noexcept {
  std::size_t c = classOf(bytes);
  if (c >= kClasses) {
    ::operator delete(p);
    return;
  }
  --t_pool.live;
  auto* n = static_cast<FreeNode*>(p);
  n->next = t_pool.heads[c];
  t_pool.heads[c] = n;
}

std::size_t liveFrames() {
  return t_pool.live;
}

}  // namespace ferry::frame_pool
