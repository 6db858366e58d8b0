#pragma once
// The Windows headers, in the order Winsock needs, for io/ code built on Windows. Only io/iocp
// includes Windows headers; others include this file under _WIN32.

// winsock2.h must come before the other Windows headers.
// clang-format off
#include <winsock2.h>
#include <mswsock.h>
#include <ws2tcpip.h>
#include <windows.h>
// clang-format on
