#include "proxy/http/request_id.h"

#include <chrono>
#include <random>

namespace ferry::http {

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}
// Two hex digits per byte value, so formatting takes one lookup per byte.
struct HexPairs {
  char text[512];
  constexpr HexPairs() : text() {
    constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 256; ++i) {
      text[2 * i] = kHex[i >> 4];
      text[2 * i + 1] = kHex[i & 0xf];
    }
  }
};
constexpr HexPairs kPairs;

// Writes the low `digits` (even) hex digits of v.
void putHex(char* out, std::uint64_t v, int digits) {
  for (int i = digits - 2; i >= 0; i -= 2) {
    const char* pair = kPairs.text + 2 * (v & 0xff);
    out[i] = pair[0];
    out[i + 1] = pair[1];
    v >>= 8;
  }
}
}  // namespace

RequestIdGenerator::RequestIdGenerator() {
  std::random_device rd;
  std::uint64_t s = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  s ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  s ^= static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) *
       0x9e3779b97f4a7c15ULL;
  s ^= static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(this));
  seed(s);
}

RequestIdGenerator::RequestIdGenerator(std::uint64_t s) {
  seed(s);
}

void RequestIdGenerator::seed(std::uint64_t s) {
  for (std::uint64_t& x : s_) x = splitmix64(s);
}

std::uint64_t RequestIdGenerator::nextU64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::size_t RequestIdGenerator::next(std::span<char> out, Format format) {
  std::size_t need = format == Format::kHex32 ? kHex32Bytes : kUuid4Bytes;
  if (out.size() < need) return 0;
  std::uint64_t hi = nextU64();
  std::uint64_t lo = nextU64();
  char* p = out.data();
  if (format == Format::kHex32) {
    putHex(p, hi, 16);
    putHex(p + 16, lo, 16);
    return need;
  }
  // Version 4 in the high nibble of byte 6, variant 10xx in the top bits of byte 8.
  hi = (hi & ~0xf000ULL) | 0x4000ULL;
  lo = (lo & ~(0xc000000000000000ULL)) | 0x8000000000000000ULL;
  putHex(p, hi >> 32, 8);
  p[8] = '-';
  putHex(p + 9, hi >> 16 & 0xffff, 4);
  p[13] = '-';
  putHex(p + 14, hi & 0xffff, 4);
  p[18] = '-';
  putHex(p + 19, lo >> 48, 4);
  p[23] = '-';
  putHex(p + 24, lo & 0xffffffffffffULL, 12);
  return need;
}

std::string_view RequestIdGenerator::next(Format format) {
  return {buf_, next(std::span<char>(buf_), format)};
}

}  // namespace ferry::http
