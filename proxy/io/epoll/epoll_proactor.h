#pragma once
// The epoll proactor: the same completion interface over readiness, for hosts where io_uring
// is unavailable (old kernels, container seccomp profiles) or when asked (`io: epoll`).

#include <memory>

#include "proxy/common/result.h"
#include "proxy/io/proactor.h"

namespace ferry::io {

Result<std::unique_ptr<Proactor>> makeEpollProactor(const ProactorOptions& options = {});

}  // namespace ferry::io
