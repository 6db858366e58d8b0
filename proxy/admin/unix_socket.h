#pragma once
// The admin control listener on a Unix domain socket path (Linux and other POSIX systems; not on
// Windows): what HAProxy's `stats socket ... level admin` is. io::Address holds IP addresses
// only, so the listening socket is made here and watched with the proactor's wait_readable;
// accepted connections are ordinary stream sockets for the admin's HTTP loop. Admin thread only.

#include <string>
#include <system_error>

#include "proxy/io/socket.h"

namespace ferry::admin {

// Binds and listens on path, non-blocking, mode 0600 (only ferry's user may connect). A stale
// socket file left by an earlier run (nothing listening) is replaced; any other existing file is
// an error (address_in_use). Sets ec and returns an invalid socket on failure.
io::Socket listenUnix(const std::string& path, std::error_code& ec);
// The next pending connection on a listening Unix socket, non-blocking; invalid when none is
// pending (or on an error, which the caller treats the same: wait for readability again).
io::Socket acceptUnix(const io::Socket& listener);
// Removes the socket file (at stop).
void unlinkUnix(const std::string& path);

}  // namespace ferry::admin
