// An LD_PRELOAD heap counter: counts every allocation call (malloc, calloc, realloc, the aligned
// ones; operator new goes through malloc) and the live heap bytes of the process it is loaded
// into, in a small file that other processes read while it runs.
//
//   FERRY_MALLOC_COUNT_FILE=/tmp/x LD_PRELOAD=libferry_malloc_count.so ferry ...
//
// The file holds three little-endian 64-bit counters (see struct Counters): allocation calls,
// free calls, live bytes (by malloc_usable_size). Readers take a difference over a window
// (tests/bench/alloc_test.cpp, tests/bench/memory.sh). Without the variable nothing is counted.
// The real allocator is glibc's, reached by its __libc_* entry points (no dlsym, which itself
// allocates).

#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void __libc_free(void*);
extern void* __libc_memalign(size_t, size_t);

struct Counters {
  _Atomic uint64_t allocations;
  _Atomic uint64_t frees;
  _Atomic int64_t liveBytes;
};

static struct Counters* g_counters;

__attribute__((constructor)) static void openCounters(void) {
  const char* path = getenv("FERRY_MALLOC_COUNT_FILE");
  if (path == NULL || *path == '\0') return;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (ftruncate(fd, sizeof(struct Counters)) != 0) {
    close(fd);
    return;
  }
  void* m = mmap(NULL, sizeof(struct Counters), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (m != MAP_FAILED) g_counters = (struct Counters*)m;
}

static void* counted(void* p) {
  struct Counters* c = g_counters;
  if (c != NULL && p != NULL) {
    atomic_fetch_add_explicit(&c->allocations, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->liveBytes, (int64_t)malloc_usable_size(p),
                              memory_order_relaxed);
  }
  return p;
}

static void uncounted(void* p) {
  struct Counters* c = g_counters;
  if (c != NULL && p != NULL) {
    atomic_fetch_add_explicit(&c->frees, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&c->liveBytes, (int64_t)malloc_usable_size(p),
                              memory_order_relaxed);
  }
}

void* malloc(size_t n) {
  return counted(__libc_malloc(n));
}

void* calloc(size_t n, size_t size) {
  return counted(__libc_calloc(n, size));
}

void* realloc(void* p, size_t n) {
  uncounted(p);
  return counted(__libc_realloc(p, n));
}

void free(void* p) {
  uncounted(p);
  __libc_free(p);
}

void* memalign(size_t align, size_t n) {
  return counted(__libc_memalign(align, n));
}

void* aligned_alloc(size_t align, size_t n) {
  return counted(__libc_memalign(align, n));
}

int posix_memalign(void** out, size_t align, size_t n) {
  void* p = __libc_memalign(align, n);
  if (p == NULL) return 12;  // ENOMEM
  *out = counted(p);
  return 0;
}

void* valloc(size_t n) {
  return counted(__libc_memalign((size_t)sysconf(_SC_PAGESIZE), n));
}
