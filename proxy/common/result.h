#pragma once
// Result<T>: a value or an Error. The data plane reports failures with these, never by throwing.

#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace ferry {

// Where an error came from, as Pingora records it: it decides who is blamed and what is logged.
enum class ErrorSource {
  kDownstream,  // the client
  kUpstream,    // a backend
  kInternal,    // ferry itself (config, resources)
};

struct Error {
  std::error_code code;
  ErrorSource source = ErrorSource::kInternal;
  bool retryable = false;  // true when nothing reached the peer, so a retry cannot duplicate work
  std::string detail;      // for logs; empty on the hot path

  std::string message() const {
    return detail.empty() ? code.message() : detail + ": " + code.message();
  }
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

inline Error systemError(int errnum, std::string detail, ErrorSource src = ErrorSource::kInternal) {
  return Error{std::error_code(errnum, std::system_category()), src, false, std::move(detail)};
}

}  // namespace ferry
