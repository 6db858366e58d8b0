#include "proxy/io/proactor.h"

#include "proxy/common/log.h"
#include "proxy/io/epoll/epoll_proactor.h"
#include "proxy/io/uring/uring_proactor.h"

namespace ferry::io {

std::string_view backendName(Backend b) {
  switch (b) {
    case Backend::kAuto:
      return "auto";
    case Backend::kUring:
      return "io_uring";
    case Backend::kEpoll:
      return "epoll";
    case Backend::kIocp:
      return "iocp";
  }
  return "?";
}

Result<std::unique_ptr<Proactor>> makeProactor(Backend b) {
  switch (b) {
    case Backend::kAuto: {
      auto u = makeUringProactor();
      if (u) return u;
      log::warn("io_uring is not available ({}); using epoll", u.error().message());
      return makeEpollProactor();
    }
    case Backend::kUring:
      return makeUringProactor();
    case Backend::kEpoll:
      return makeEpollProactor();
    case Backend::kIocp:
      break;
  }
  return systemError(ENOSYS, "backend " + std::string(backendName(b)) + " is not built here");
}

}  // namespace ferry::io
