#pragma once
// The IOCP proactor (Windows): the Winsock extension functions on an I/O completion port.

#include <memory>

#include "proxy/common/result.h"
#include "proxy/io/proactor.h"

namespace ferry::io {

struct IocpOptions {
  // TransmitPackets where the provider has it; false forces TransmitFile + WSASend.
  bool useTransmitPackets = true;
  // DisconnectEx(TF_REUSE_SOCKET) handles fed back to AcceptEx (recycle()) and to ConnectEx
  // (endForReuse()); off where the system cannot reuse (detected: Wine). The environment
  // variable FERRY_IOCP_SOCKET_REUSE=0 switches it off in makeProactor.
  bool reuseSockets = true;
};

Result<std::unique_ptr<Proactor>> makeIocpProactor(IocpOptions options = {},
                                                   const ProactorOptions& po = {});

// Whether this process runs under Wine (ntdll exports wine_get_version).
bool runningUnderWine();

}  // namespace ferry::io
