// The access log's rings and the background writers that drain them (the formats:
// access_format.cpp).

#include "proxy/common/access_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <io.h>
#else
#include <sys/uio.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "proxy/common/log.h"

namespace ferry::log {

// One worker's lines waiting for the writer: a single-producer single-consumer byte ring.
class AccessRing {
 public:
  explicit AccessRing(std::size_t cap) : data_(new char[cap]), cap_(cap) {}
  // Producer (the worker): the whole line or nothing.
  bool push(const char* p, std::size_t n) {
    std::uint64_t t = tail_.load(std::memory_order_relaxed);
    std::uint64_t h = head_.load(std::memory_order_acquire);
    if (cap_ - (t - h) < n) {
      dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
    std::size_t at = static_cast<std::size_t>(t % cap_);
    std::size_t first = std::min(n, cap_ - at);
    std::memcpy(data_.get() + at, p, first);
    std::memcpy(data_.get(), p + first, n - first);
    tail_.store(t + n, std::memory_order_release);
    return true;
  }
  // Consumer (the writer): the bytes ready, as up to two pieces; then consumed(total).
  std::size_t ready(const char*& a, std::size_t& an, const char*& b, std::size_t& bn) const {
    std::uint64_t h = head_.load(std::memory_order_relaxed);
    std::uint64_t t = tail_.load(std::memory_order_acquire);
    std::size_t n = static_cast<std::size_t>(t - h);
    std::size_t at = static_cast<std::size_t>(h % cap_);
    an = std::min(n, cap_ - at);
    a = data_.get() + at;
    b = data_.get();
    bn = n - an;
    return n;
  }
  void consumed(std::size_t n) {
    head_.store(head_.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::atomic<bool> retired{false};  // the worker is gone: free once drained

 private:
  std::unique_ptr<char[]> data_;
  std::size_t cap_;
  std::atomic<std::uint64_t> head_{0};
  std::atomic<std::uint64_t> tail_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

namespace {

constexpr std::size_t kRingBytes = 1 << 20;
constexpr std::size_t kMaxLine = 4096;
constexpr auto kPollInterval = std::chrono::milliseconds(10);

std::atomic<std::uint64_t> g_reopenGeneration{0};
std::atomic<std::uint64_t> g_droppedRetired{0};

// Drains the rings of one log file on its own thread.
class Writer {
 public:
  explicit Writer(std::string path) : path_(std::move(path)) {
    open();
    thread_ = std::thread([this] { run(); });
  }
  void add(std::shared_ptr<AccessRing> r) {
    std::lock_guard lock(mu_);
    rings_.push_back(std::move(r));
  }
  void wake() { cv_.notify_all(); }
  // Waits until a whole pass began after this call ended (bounded).
  void flush() {
    std::unique_lock lock(mu_);
    std::uint64_t target = passes_ + 2;
    flushWanted_ = true;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(2), [&] { return passes_ >= target; });
  }
  std::uint64_t dropped() {
    std::lock_guard lock(mu_);
    std::uint64_t n = 0;
    for (const auto& r : rings_) n += r->dropped();
    return n + failed_.load(std::memory_order_relaxed);
  }

 private:
  void open() {
    if (path_ == "stdout") {
      fd_ = 1;
      return;
    }
#ifdef _WIN32
    int fd =
        ::_open(path_.c_str(), _O_WRONLY | _O_APPEND | _O_CREAT | _O_BINARY, _S_IREAD | _S_IWRITE);
#else
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
#endif
    if (fd < 0) {
      log::error("access log {}: {}", path_, std::strerror(errno));
      return;  // keep the old file (if any) rather than lose lines
    }
    if (fd_ > 2) {
#ifdef _WIN32
      ::_close(fd_);
#else
      ::close(fd_);
#endif
    }
    fd_ = fd;
  }

  // Writes [p, p + n); what cannot be written (no file open, a full disk, a closed pipe) is
  // dropped and counted by lines: the proxy never waits on its log.
  void writeAll(const char* p, std::size_t n) {
    int err = 0;
    while (n > 0 && fd_ >= 0) {
#ifdef _WIN32
      long w = ::_write(fd_, p, static_cast<unsigned>(n));
#else
      ssize_t w = ::write(fd_, p, n);
#endif
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        err = w < 0 ? errno : 0;
        break;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    if (n == 0) {
      failing_ = false;
      return;
    }
    failed_.fetch_add(static_cast<std::uint64_t>(std::count(p, p + n, '\n')),
                      std::memory_order_relaxed);
    if (!failing_) {  // once per episode: the counter tells the rest
      failing_ = true;
      log::error("access log {}: {}; lines are dropped (ferry_access_log_dropped_lines_total)",
                 path_,
                 fd_ < 0    ? "not open"
                 : err != 0 ? std::strerror(err)
                            : "nothing written");
    }
  }

  void run() {
    std::uint64_t generation = g_reopenGeneration.load();
    std::vector<std::shared_ptr<AccessRing>> rings;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        ++passes_;
        cv_.notify_all();
        if (!flushWanted_) {
          cv_.wait_for(lock, kPollInterval,
                       [&] { return flushWanted_ || g_reopenGeneration.load() != generation; });
        }
        flushWanted_ = false;
        // Rings of workers that are gone, once drained, go.
        std::erase_if(rings_, [](const std::shared_ptr<AccessRing>& r) {
          const char *a, *b;
          std::size_t an, bn;
          if (!r->retired.load() || r->ready(a, an, b, bn) != 0) return false;
          g_droppedRetired.fetch_add(r->dropped());
          return true;
        });
        rings = rings_;
      }
      if (std::uint64_t g = g_reopenGeneration.load(); g != generation) {
        generation = g;
        open();
      }
      for (const auto& r : rings) {
        const char *a, *b;
        std::size_t an, bn;
        std::size_t n = r->ready(a, an, b, bn);
        if (n == 0) continue;
#ifdef _WIN32
        writeAll(a, an);
        writeAll(b, bn);
#else
        if (bn == 0) {
          writeAll(a, an);
        } else {
          iovec iov[2] = {{const_cast<char*>(a), an}, {const_cast<char*>(b), bn}};
          ssize_t w = ::writev(fd_, iov, 2);
          if (w < 0) w = 0;
          auto done = static_cast<std::size_t>(w);
          if (done < an) {
            writeAll(a + done, an - done);
            writeAll(b, bn);
          } else {
            writeAll(b + (done - an), bn - (done - an));
          }
        }
#endif
        r->consumed(n);
      }
    }
  }

  std::string path_;
  int fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<AccessRing>> rings_;
  std::uint64_t passes_ = 0;
  bool flushWanted_ = false;
  std::atomic<std::uint64_t> failed_{0};  // lines the writer could not write
  bool failing_ = false;                  // writer thread only: the last write failed
  std::thread thread_;  // runs for the life of the process (writers are never destroyed)
};

// Writers by path. Never destroyed: a writer thread may still be draining at exit.
std::mutex g_writersMu;
std::map<std::string, Writer*>& writers() {
  static auto* m = new std::map<std::string, Writer*>();
  return *m;
}

Writer& writerFor(const std::string& path) {
  std::lock_guard lock(g_writersMu);
  Writer*& w = writers()[path];
  if (w == nullptr) w = new Writer(path);
  return *w;
}

}  // namespace

AccessLog::AccessLog(std::string_view path, std::string_view format) {
  std::string error;
  std::optional<AccessFormat> f = AccessFormat::parse(format, error);
  if (!f) {
    log::error("access_log.format: {}; using the default format", error);
    f = AccessFormat::parse(AccessFormat::kDefault, error);
  }
  format_ = std::move(*f);
  ring_ = std::make_shared<AccessRing>(kRingBytes);
  writerFor(std::string(path.empty() ? "stdout" : path)).add(ring_);
}

AccessLog::~AccessLog() {
  if (ring_) ring_->retired.store(true);
}

void AccessLog::log(const AccessRecord& r) {
  if (!ring_) return;
  char line[kMaxLine];
  std::size_t n = format_.format(r, line, sizeof(line));
  ring_->push(line, n);
}

void reopen() {
  g_reopenGeneration.fetch_add(1);
  std::lock_guard lock(g_writersMu);
  for (auto& [path, w] : writers()) w->wake();
}

void flushAccessLogs() {
  std::vector<Writer*> all;
  {
    std::lock_guard lock(g_writersMu);
    for (auto& [path, w] : writers()) all.push_back(w);
  }
  for (Writer* w : all) w->flush();
}

std::uint64_t accessLogDropped() {
  std::vector<Writer*> all;
  {
    std::lock_guard lock(g_writersMu);
    for (auto& [path, w] : writers()) all.push_back(w);
  }
  std::uint64_t n = g_droppedRetired.load();
  for (Writer* w : all) n += w->dropped();
  return n;
}

}  // namespace ferry::log
