#pragma once
// Fast, non-allocating 64-bit hashing for balancer keys (hash_on: source_ip, header, cookie,
// path) and for placing endpoints on a ring or a Maglev table. Not cryptographic: a client who
// can choose its key can choose its endpoint, which hash balancing allows anyway.
//
// The function reads 8 bytes at a time (memcpy, so unaligned input is fine), mixes each word
// with a multiply-rotate step and ends with the splitmix64 finalizer, so every input bit
// reaches every output bit. Results are the same on every platform and build (little- and
// big-endian hosts read words in little-endian order).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace ferry::balance {

// splitmix64's finalizer: a bijective avalanche of one word.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

namespace detail {
inline std::uint64_t load64le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];  // compilers fold this into one load
  return v;
}
constexpr std::uint64_t rotl(std::uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}
}  // namespace detail

// The hash of len bytes at data, with a seed (different seeds give independent hashes).
inline std::uint64_t hashBytes(const void* data, std::size_t len, std::uint64_t seed = 0) {
  constexpr std::uint64_t k1 = 0x9e3779b97f4a7c15ULL;
  constexpr std::uint64_t k2 = 0xc2b2ae3d27d4eb4fULL;
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = seed ^ (len * k1);
  std::size_t n = len;
  while (n >= 8) {
    h ^= detail::rotl(detail::load64le(p) * k2, 31) * k1;
    h = detail::rotl(h, 27) * 5 + 0x52dce729;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    unsigned char tail[8] = {};
    std::memcpy(tail, p, n);
    h ^= detail::rotl(detail::load64le(tail) * k2, 31) * k1;
  }
  return mix64(h);
}

inline std::uint64_t hashString(std::string_view s, std::uint64_t seed = 0) {
  return hashBytes(s.data(), s.size(), seed);
}

// The value of cookie `name` in a Cookie header value ("a=1; b=2"), or an empty view when it is
// absent. Views into header; no allocation. Names compare exactly (cookies are case-sensitive).
inline std::string_view cookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    std::size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = pair.substr(0, eq);
    while (!k.empty() && (k.back() == ' ' || k.back() == '\t')) k.remove_suffix(1);
    if (k != name) continue;
    std::string_view v = pair.substr(eq + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return {};
}

// A small, fast, seeded pseudo-random generator (splitmix64) for per-worker balancer choices.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return mix64(state_ += 0x9e3779b97f4a7c15ULL); }
  // Uniform in [0, bound) for bound > 0: a multiply-shift on the high 32 bits below 2^32 (no
  // division; bias below bound / 2^32), a modulo above.
  std::uint64_t below(std::uint64_t bound) {
    std::uint64_t r = next();
    if (bound <= 0xffffffffULL) return ((r >> 32) * bound) >> 32;
    return r % bound;
  }

 private:
  std::uint64_t state_;
};

}  // namespace ferry::balance
