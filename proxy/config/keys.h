#pragma once
// The declarative table of every config key (internal to proxy/config). One Field per key: the
// loader (loader.cpp), the JSON Schema and the reference table (schema.cpp) all walk it, so a new
// key is one entry in keys.cpp. Checks that relate several keys live in each Section's validate.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "proxy/config/config.h"

namespace ferry::config::keys {

enum class Type {
  kString,      // any string (check/pattern may narrow it)
  kBool,        // true or false
  kUint,        // a whole number in [min, max]
  kDuration,    // 250ms, 5s, 1m, 1h; in [min, max] milliseconds
  kSize,        // bytes: 65536, 64KiB, 1MiB, 1GiB; in [min, max]
  kEnum,        // one of choices; stored as the index into choices
  kAddress,     // host:port with an IP literal host
  kHostPort,    // host:port with an IP literal or a DNS name host (parseEndpoint)
  kStringList,  // a list of strings (check applies to each)
  kStringMap,   // a mapping of string to string, order kept
  kCidrList,    // a list of CIDR ranges
  kStatusFile,  // a mapping of HTTP status (400-599) to a file that must exist
  kObject,      // a mapping described by section
  kObjectList,  // a list of mappings described by section (a scalar item sets the first field)
};

enum Flags : std::uint32_t {
  kNone = 0,
  kRequired = 1,     // the key must be present
  kOff = 2,          // `off` is accepted (stored as zero / empty); zero is then refused
  kAuto = 4,         // `auto` is accepted (stored as zero)
  kNonEmpty = 8,     // a string or list must not be empty
  kScalarItem = 16,  // kObjectList items, kObject: a scalar is read as the section's first field
};

// What the loader parsed for one key, handed to Field::set.
struct Value {
  std::string text;
  std::uint64_t number = 0;  // kUint, kSize, kEnum (index)
  Duration duration{0};
  bool flag = false;
  std::vector<std::string> list;
  std::vector<std::pair<std::string, std::string>> map;
  std::vector<Cidr> cidrs;
  std::vector<ErrorPage> pages;
};

struct Section;

struct Field {
  const char* name = "";
  Type type = Type::kString;
  const char* defaultText = nullptr;  // as a user would write it; nullptr: none
  std::uint64_t min = 0;
  std::uint64_t max = UINT64_MAX;
  const char* doc = "";
  std::uint32_t flags = kNone;
  std::span<const char* const> choices{};  // kEnum
  const Section* section = nullptr;        // kObject, kObjectList
  // kString / kStringList items: returns an error message for a bad value, or empty.
  std::string (*check)(std::string_view) = nullptr;
  const char* pattern = nullptr;  // the JSON Schema pattern matching what check accepts
  void (*set)(void* obj, const Value& v) = nullptr;  // scalars and lists
  void* (*child)(void* obj) = nullptr;  // kObject: the sub-object; kObjectList: a new element
};

// Reports problems found by a Section's validate, at a key of the mapping being validated.
class Reporter {
 public:
  virtual ~Reporter() = default;
  // The error is placed at key's value when present, else at the mapping.
  virtual void error(std::string_view key, std::string message, std::string hint = "") = 0;
  virtual bool has(std::string_view key) const = 0;
  // A path from the config resolved against the config file's directory.
  virtual std::string resolvePath(std::string_view path) const = 0;
};

struct Section {
  const char* name = "";   // the definition name in the schema, e.g. "listener"
  const char* where = "";  // where its keys go, for the reference, e.g. "listeners[]"
  std::span<const Field> fields;
  // Checks across the keys of one mapping once they are read; may be null.
  void (*validate)(Reporter& r, void* obj) = nullptr;
  const char* extraSchema = nullptr;  // raw JSON members added to the schema object (",..." )
};

const Section& root();
// Every section, root first, in the order the reference lists them.
std::span<const Section* const> sections();

// What a string must look like, for a Field::pattern ("must start with '/'").
std::string describePattern(const char* pattern);
// Parses "250ms" / "5s" / "1m" / "1h" into milliseconds. Returns an error message or empty;
// overflow of 64 bits is an error.
std::string parseDurationMs(std::string_view s, std::uint64_t& ms);
// Parses "65536" / "64KiB" / "1MiB" / "1GiB" into bytes; errors as above.
std::string parseSize(std::string_view s, std::uint64_t& bytes);
// "90s" -> "1m30s"-free form used in messages: the largest unit that divides ms exactly.
std::string formatDurationMs(std::uint64_t ms);
std::string formatSize(std::uint64_t bytes);

// Member-pointer helpers: set<&T::member> and child<&T::member> for the table.
template <auto M>
struct MemberOf;
template <class C, class T, T C::*M>
struct MemberOf<M> {
  using Class = C;
  using Type = T;
};

inline void assign(std::string& t, const Value& v) {
  t = v.text;
}
inline void assign(bool& t, const Value& v) {
  t = v.flag;
}
inline void assign(Duration& t, const Value& v) {
  t = v.duration;
}
inline void assign(io::Address& t, const Value& v) {
  t = *io::Address::parse(v.text);
}
inline void assign(std::vector<std::string>& t, const Value& v) {
  t = v.list;
}
inline void assign(std::vector<std::pair<std::string, std::string>>& t, const Value& v) {
  t = v.map;
}
inline void assign(std::vector<Cidr>& t, const Value& v) {
  t = v.cidrs;
}
inline void assign(std::vector<ErrorPage>& t, const Value& v) {
  t = v.pages;
}
template <class T>
requires std::is_integral_v<T> || std::is_enum_v<T>
void assign(T& t, const Value& v) {
  t = static_cast<T>(v.number);
}

template <auto M>
void set(void* obj, const Value& v) {
  assign(static_cast<typename MemberOf<M>::Class*>(obj)->*M, v);
}

template <class T>
struct Element {
  static void* make(T& t) { return &t; }
};
template <class T>
struct Element<std::optional<T>> {
  static void* make(std::optional<T>& t) { return &t.emplace(); }
};
template <class T>
struct Element<std::vector<T>> {
  static void* make(std::vector<T>& t) { return &t.emplace_back(); }
};

template <auto M>
void* child(void* obj) {
  return Element<typename MemberOf<M>::Type>::make(
      static_cast<typename MemberOf<M>::Class*>(obj)->*M);
}

}  // namespace ferry::config::keys
