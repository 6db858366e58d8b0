#include "proxy/runtime/watch.h"

#include <chrono>
#include <cstring>
#include <filesystem>

#ifdef _WIN32
#include <windows.h>
#else
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>
#endif

#include "proxy/common/log.h"

namespace ferry::runtime {

struct FileWatcher::Impl {
  std::string dir;
  std::string name;
  std::function<void()> onChange;
  Duration debounce;
  std::thread thread;
#ifdef _WIN32
  HANDLE dirHandle = INVALID_HANDLE_VALUE;
  HANDLE stopEvent = nullptr;
  HANDLE ioEvent = nullptr;
#else
  int inotifyFd = -1;
  int stopFd = -1;
#endif

  // Whether a changed entry `entry` of the directory can be the file (or the link to it).
  bool concerns(const std::string& entry) const {
    return entry == name || entry == "..data";  // Kubernetes ConfigMap volumes swap ..data
  }

#ifdef _WIN32
  alignas(DWORD) char buf[16384];
  OVERLAPPED ov{};

  // Posts the next read of the directory's changes. Windows records changes only from the first
  // read on, so open() posts it: a change made once start() returned is never missed.
  bool post() {
    ::ResetEvent(ioEvent);
    const DWORD filter = FILE_NOTIFY_CHANGE_FILE_NAME | FILE_NOTIFY_CHANGE_LAST_WRITE |
                         FILE_NOTIFY_CHANGE_SIZE | FILE_NOTIFY_CHANGE_CREATION;
    return ::ReadDirectoryChangesW(dirHandle, buf, sizeof(buf), FALSE, filter, nullptr, &ov,
                                   nullptr) != 0;
  }

  Result<bool> open() {
    std::wstring wdir = std::filesystem::path(dir).wstring();
    dirHandle = ::CreateFileW(
        wdir.c_str(), FILE_LIST_DIRECTORY, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
        nullptr, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OVERLAPPED, nullptr);
    if (dirHandle == INVALID_HANDLE_VALUE) {
      return systemError(static_cast<int>(::GetLastError()), "watch " + dir);
    }
    stopEvent = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    ioEvent = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    ov.hEvent = ioEvent;
    if (!post()) {
      auto e = static_cast<int>(::GetLastError());
      close();
      return systemError(e, "ReadDirectoryChangesW " + dir);
    }
    return true;
  }

  void run() {
    std::wstring wname = std::filesystem::path(name).wstring();
    bool pending = false;
    auto deadline = std::chrono::steady_clock::now();
    for (;;) {  // a read is posted here
      DWORD wait = INFINITE;
      if (pending) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        wait = left.count() > 0 ? static_cast<DWORD>(left.count()) : 0;
      }
      HANDLE hs[2] = {stopEvent, ioEvent};
      DWORD w = ::WaitForMultipleObjects(2, hs, FALSE, wait);
      if (w == WAIT_OBJECT_0) {
        ::CancelIoEx(dirHandle, &ov);
        DWORD n = 0;
        ::GetOverlappedResult(dirHandle, &ov, &n, TRUE);
        return;
      }
      if (w == WAIT_TIMEOUT) {
        pending = false;
        onChange();
        continue;
      }
      DWORD n = 0;
      bool read = ::GetOverlappedResult(dirHandle, &ov, &n, FALSE) != 0;
      if (!read) n = 0;
      // n == 0 or a failed read: the buffer overflowed (changes were lost); treat it as a change.
      bool hit = !read || n == 0;
      for (DWORD off = 0; n > 0;) {
        auto* info = reinterpret_cast<FILE_NOTIFY_INFORMATION*>(buf + off);
        std::wstring entry(info->FileName, info->FileNameLength / sizeof(WCHAR));
        if (entry == wname || entry == L"..data") hit = true;
        if (info->NextEntryOffset == 0) break;
        off += info->NextEntryOffset;
      }
      if (hit) {
        pending = true;
        deadline = std::chrono::steady_clock::now() + debounce;
      }
      if (!post()) {
        log::error("watch {}: ReadDirectoryChangesW failed ({}); no more reloads on change", dir,
                   ::GetLastError());
        return;
      }
    }
  }

  void close() {
    if (dirHandle != INVALID_HANDLE_VALUE) ::CloseHandle(dirHandle);
    if (stopEvent != nullptr) ::CloseHandle(stopEvent);
    if (ioEvent != nullptr) ::CloseHandle(ioEvent);
    dirHandle = INVALID_HANDLE_VALUE;
    stopEvent = ioEvent = nullptr;
  }
  void signalStop() {
    ::SetEvent(stopEvent);
  }
#else
  Result<bool> open() {
    inotifyFd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotifyFd < 0) return systemError(errno, "inotify_init1");
    constexpr std::uint32_t mask =
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB;
    if (::inotify_add_watch(inotifyFd, dir.c_str(), mask) < 0) {
      int e = errno;
      close();
      return systemError(e, "watch " + dir);
    }
    stopFd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (stopFd < 0) {
      int e = errno;
      close();
      return systemError(e, "eventfd");
    }
    return true;
  }

  void run() {
    alignas(inotify_event) char buf[8192];
    bool pending = false;
    auto deadline = std::chrono::steady_clock::now();
    for (;;) {
      int wait = -1;
      if (pending) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        wait = left.count() > 0 ? static_cast<int>(left.count()) : 0;
      }
      pollfd fds[2] = {{stopFd, POLLIN, 0}, {inotifyFd, POLLIN, 0}};
      int n = ::poll(fds, 2, wait);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        log::error("watch {}: poll: {}; no more reloads on change", dir, std::strerror(errno));
        return;
      }
      if (fds[0].revents != 0) return;
      if (n == 0) {
        pending = false;
        onChange();
        continue;
      }
      ssize_t got = ::read(inotifyFd, buf, sizeof(buf));
      for (ssize_t off = 0; got > 0 && off < got;) {
        auto* ev = reinterpret_cast<inotify_event*>(buf + off);
        std::string entry = ev->len > 0 ? std::string(ev->name) : std::string();
        // IN_Q_OVERFLOW: events were lost; one of them may have been ours.
        if (concerns(entry) || (ev->mask & IN_Q_OVERFLOW) != 0) {
          pending = true;
          deadline = std::chrono::steady_clock::now() + debounce;
        }
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
  }

  void close() {
    if (inotifyFd >= 0) ::close(inotifyFd);
    if (stopFd >= 0) ::close(stopFd);
    inotifyFd = stopFd = -1;
  }
  void signalStop() {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stopFd, &one, sizeof(one));
  }
#endif
};

FileWatcher::FileWatcher(std::string file, std::function<void()> onChange, Duration debounce)
    : impl_(std::make_unique<Impl>()) {
  std::filesystem::path p(file);
  // (Assigning "." after the fact trips GCC 12's false -Wrestrict.)
  impl_->dir = p.has_parent_path() ? p.parent_path().string() : std::string(1, '.');
  impl_->name = p.filename().string();
  impl_->onChange = std::move(onChange);
  impl_->debounce = debounce;
}

FileWatcher::~FileWatcher() {
  stop();
}

Result<bool> FileWatcher::start() {
  Result<bool> r = impl_->open();
  if (!r) return r;
  impl_->thread = std::thread([this] { impl_->run(); });
  return true;
}

void FileWatcher::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->signalStop();
  impl_->thread.join();
  impl_->close();
}

}  // namespace ferry::runtime
