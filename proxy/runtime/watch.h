#pragma once
// Watches the config file (`watch: true`) and calls back once its directory has been quiet for
// the debounce interval after a change to it: an editor's write-rename-chmod, or Kubernetes
// swapping a ConfigMap's `..data` link, gives one reload, not three. Linux: inotify on the
// file's directory (a rename over the file is seen, which a watch on the file itself would
// lose). Windows: ReadDirectoryChangesW on the directory, overlapped, on the same thread.

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "proxy/common/result.h"
#include "proxy/common/time.h"

namespace ferry::runtime {

class FileWatcher {
 public:
  // onChange runs on the watcher's own thread.
  FileWatcher(std::string file, std::function<void()> onChange,
              Duration debounce = milliseconds(300));
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;
  // Starts watching; an error (no such directory, no inotify) is returned and nothing runs.
  Result<bool> start();
  // Stops the thread and waits for it (a callback running finishes first).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::runtime
