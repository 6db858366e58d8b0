#pragma once
// A socket address (IPv4 or IPv6), stored in place so that io/ headers stay free of platform
// headers: the size of a sockaddr_in6 (28 bytes) on Linux, where every idle connection keeps
// its peer's (issue #11: memory per idle connection); 88 on Windows, where AcceptEx writes both
// addresses, with its 16 bytes of room each, into an AcceptOp's `local`. Parsing accepts
// "1.2.3.4:80", "[::1]:80" and "localhost:80" (localhost only: names are resolved by upstream/, not
// here).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::io {

class Address {
 public:
  Address() = default;
  static std::optional<Address> parse(std::string_view hostPort);
  static Address fromRaw(const void* sockaddr, std::size_t len);

  bool valid() const { return len_ != 0; }
  bool isV6() const;
  // 0.0.0.0 or :: (any port).
  bool isWildcard() const;
  std::uint16_t port() const;
  void setPort(std::uint16_t port);
  std::string host() const;      // "127.0.0.1" or "::1"
  std::string toString() const;  // "127.0.0.1:80" or "[::1]:80"
  // Writes "127.0.0.1" into out; returns the length (0 if it does not fit). No allocation.
  std::size_t formatHost(char* out, std::size_t cap) const;
  // Writes "127.0.0.1:80" or "[::1]:80" into out (at least kMaxText bytes); returns the length.
  static constexpr std::size_t kMaxText = 64;
  std::size_t format(char* out, std::size_t cap) const;

  const void* raw() const { return storage_; }
  void* raw() { return storage_; }
  std::size_t length() const { return len_; }
  void setLength(std::size_t len) { len_ = static_cast<std::uint32_t>(len); }
  static constexpr std::size_t capacity() { return sizeof(storage_); }

  bool operator==(const Address& o) const;

 private:
#ifdef _WIN32
  static constexpr std::size_t kStorage = 88;
#else
  static constexpr std::size_t kStorage = 28;  // sizeof(sockaddr_in6), checked in address.cpp
#endif
  alignas(8) unsigned char storage_[kStorage] = {};
  std::uint32_t len_ = 0;
};

}  // namespace ferry::io
