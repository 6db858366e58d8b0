#include "proxy/io/proactor.h"

#include <cstdlib>
#include <cstring>

#include "proxy/common/log.h"
#ifdef _WIN32
#include "proxy/io/iocp/iocp_proactor.h"
#else
#include "proxy/io/epoll/epoll_proactor.h"
#include "proxy/io/uring/uring_proactor.h"
#endif

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

Result<std::unique_ptr<Proactor>> makeProactor(Backend b, const ProactorOptions& options) {
#ifdef _WIN32
  if (b == Backend::kAuto || b == Backend::kIocp) {
    IocpOptions o;
    // FERRY_IOCP_TRANSMITPACKETS=0 forces the TransmitFile + WSASend fallback (tests use it).
    const char* tp = std::getenv("FERRY_IOCP_TRANSMITPACKETS");
    if (tp != nullptr && std::strcmp(tp, "0") == 0) o.useTransmitPackets = false;
    // FERRY_IOCP_SOCKET_REUSE=0 switches DisconnectEx(TF_REUSE_SOCKET) recycling off.
    const char* reuse = std::getenv("FERRY_IOCP_SOCKET_REUSE");
    if (reuse != nullptr && std::strcmp(reuse, "0") == 0) o.reuseSockets = false;
    return makeIocpProactor(o, options);
  }
#else
  ProactorOptions o = options;
  const char* sp = std::getenv("FERRY_SPLICE");
  if (sp != nullptr && std::strcmp(sp, "0") == 0) o.splice = false;
  switch (b) {
    case Backend::kAuto: {
      auto u = makeUringProactor(o);
      if (u) return u;
      log::warn("io_uring is not available ({}); using epoll", u.error().message());
      return makeEpollProactor(o);
    }
    case Backend::kUring:
      return makeUringProactor(o);
    case Backend::kEpoll:
      return makeEpollProactor(o);
    case Backend::kIocp:
      break;
  }
#endif
  return systemError(ENOSYS, "backend " + std::string(backendName(b)) + " is not built here");
}

}  // namespace ferry::io
