#pragma once
// Glue between io::Address (a socket address) and the byte-level IP types of proxy/common/cidr.h
// used by trusted_proxies and the PROXY protocol. No allocation; call once per connection.

#include <optional>

#include "proxy/common/cidr.h"
#include "proxy/http/proxy_protocol.h"
#include "proxy/io/address.h"

namespace ferry::http {

// The address and port of an IPv4/IPv6 socket address; nullopt for an invalid one. A v4-mapped
// IPv6 address (a dual-stack socket's view of an IPv4 peer) is returned as IPv4.
std::optional<ProxyEndpoint> toEndpoint(const io::Address& a);

// Whether the address is in the list (false for an invalid address).
bool contains(const CidrList& list, const io::Address& a);

}  // namespace ferry::http
