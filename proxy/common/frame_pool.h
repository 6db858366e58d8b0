#pragma once
// Recycles coroutine frames per thread so that a steady stream of requests allocates nothing:
// a frame freed on a thread goes onto that thread's free list for its size class and is handed
// out again to the next frame of that class. Frames must be freed on the thread that made them
// (sessions never migrate between workers). Frames larger than the biggest class use the heap.

#include <cstddef>

namespace ferry::frame_pool {

void* allocate(std::size_t bytes);
void deallocate(void* p, std::size_t bytes) noexcept;

// Frames currently handed out by this thread's pool (for leak tests).
std::size_t liveFrames();

}  // namespace ferry::frame_pool
