#pragma once
// The io_uring proactor. Only this folder includes liburing.

#include <memory>

#include "proxy/common/result.h"
#include "proxy/io/proactor.h"

namespace ferry::io {

// Fails with the reason when io_uring cannot be set up here (old kernel, seccomp).
Result<std::unique_ptr<Proactor>> makeUringProactor(const ProactorOptions& options = {},
                                                    unsigned entries = 4096);

}  // namespace ferry::io
