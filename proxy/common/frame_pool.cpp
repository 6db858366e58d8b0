#include "proxy/common/frame_pool.h"

#include <array>
#include <new>

namespace ferry::frame_pool {
namespace {

// Small frames (what an idle connection holds: its session's frame, the frame waiting in a
// pooled receive) come in 16-byte classes carved from 64 KiB chunks, so they carry neither a
// malloc header nor more than 15 bytes of rounding (issue #11: memory per idle connection).
// Larger frames (a busy session's, ~20 KiB) come from the heap in 128-byte classes.
constexpr std::size_t kSmallGranule = 16;
constexpr std::size_t kSmallMax = 2048;
constexpr std::size_t kSmallClasses = kSmallMax / kSmallGranule + 1;  // class 0 unused
constexpr std::size_t kLargeGranule = 128;
constexpr std::size_t kLargeMax = 48 * 1024;  // frames up to 48 KiB are pooled
constexpr std::size_t kClasses = kSmallClasses + kLargeMax / kLargeGranule + 1;
constexpr std::size_t kChunkBytes = 64 * 1024;
static_assert(kSmallGranule % __STDCPP_DEFAULT_NEW_ALIGNMENT__ == 0);

struct FreeNode {
  FreeNode* next;
};

struct ThreadPool {
  std::array<FreeNode*, kClasses> heads{};
  std::size_t live = 0;
  FreeNode* chunks = nullptr;  // every chunk, linked through its first 16 bytes
  char* bump = nullptr;        // the free part of the newest chunk
  std::size_t left = 0;
  // Frees the cached frames when a thread ends (workers end only with the process). Not on
  // Windows: mingw-w64's emulated thread-locals ran this destructor at thread exit and it never
  // returned there (seen as a service stop that hung, winedbg in _pthread_cleanup_dest); the
  // process is about to end anyway, so the cache is left to it.
  ~ThreadPool() {
#ifndef _WIN32
    for (std::size_t c = kSmallClasses; c < kClasses; ++c) {
      FreeNode*& head = heads[c];
      while (head != nullptr) {
        FreeNode* next = head->next;
        ::operator delete(head);
        head = next;
      }
    }
    while (chunks != nullptr) {
      FreeNode* next = chunks->next;
      ::operator delete(chunks);
      chunks = next;
    }
#endif
  }

  void* carve(std::size_t bytes) {
    if (left < bytes) {
      auto* chunk = static_cast<char*>(::operator new(kChunkBytes));
      auto* link = reinterpret_cast<FreeNode*>(chunk);
      link->next = chunks;
      chunks = link;
      bump = chunk + kSmallGranule;
      left = kChunkBytes - kSmallGranule;
    }
    void* p = bump;
    bump += bytes;
    left -= bytes;
    return p;
  }
};

thread_local ThreadPool t_pool;

// The class of a frame of `bytes`, and the bytes a frame of that class has.
std::size_t classOf(std::size_t bytes) {
  if (bytes <= kSmallMax) return (bytes + kSmallGranule - 1) / kSmallGranule;
  return kSmallClasses + (bytes + kLargeGranule - 1) / kLargeGranule;
}
std::size_t bytesOf(std::size_t c) {
  return c < kSmallClasses ? c * kSmallGranule : (c - kSmallClasses) * kLargeGranule;
}

}  // namespace

void* allocate(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  std::size_t c = classOf(bytes);
  if (c >= kClasses) return ::operator new(bytes);
  ++t_pool.live;
  if (FreeNode* n = t_pool.heads[c]) {
    t_pool.heads[c] = n->next;
    return n;
  }
  if (c < kSmallClasses) return t_pool.carve(bytesOf(c));
  return ::operator new(bytesOf(c));
}

void deallocate(void* p, std::size_t bytes) noexcept {
  if (bytes == 0) bytes = 1;
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
