#pragma once
// RequestIdGenerator: X-Request-Id values, one generator per worker (no lock, no allocation).
//
// xoshiro256** (Blackman and Vigna), seeded once from std::random_device, the clock and the
// generator's address through splitmix64; 128 random bits per id, written as 32 lower-case hex
// digits or as an RFC 9562 version-4 UUID (36 characters, 122 random bits). Not for secrets: the
// ids are unpredictable enough to be unique, not to resist an attacker who sees many of them.
// Thread: the owning worker only.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ferry::http {

class RequestIdGenerator {
 public:
  enum class Format : std::uint8_t {
    kHex32,  // "3f2a...": 32 hex digits
    kUuid4,  // "3f2a9c1e-7b4d-4e0f-9a1b-0c2d3e4f5a6b"
  };
  static constexpr std::size_t kHex32Bytes = 32;
  static constexpr std::size_t kUuid4Bytes = 36;
  static constexpr std::size_t kMaxBytes = 36;

  // Seeded from std::random_device, the clock and this object's address.
  RequestIdGenerator();
  // Seeded from `seed` (tests: reproducible sequences).
  explicit RequestIdGenerator(std::uint64_t seed);

  // Writes the next id into out; returns its length (0 if out is shorter than the format needs).
  std::size_t next(std::span<char> out, Format format = Format::kHex32);
  // The same into an internal buffer, valid until the next call on this generator.
  std::string_view next(Format format = Format::kHex32);

  std::uint64_t nextU64();

 private:
  void seed(std::uint64_t s);
  std::uint64_t s_[4];
  char buf_[kMaxBytes];
};

}  // namespace ferry::http
