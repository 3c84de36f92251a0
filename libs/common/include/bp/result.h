// Result<T>: an expected failure (machine code + human message) as a value, not an exception.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <variant>

namespace bp {

// Error codes shared by every layer; the gateway maps them onto HTTP statuses.
enum class ErrorCode {
  kInvalidArgument,   // validation failed; field_errors says where
  kNotFound,          // absent, or outside the caller's workspace
  kConflict,          // the operation contradicts current state
  kUnauthenticated,   // no valid credentials
  kUnavailable,       // a dependency did not answer; safe to retry
  kInternal,          // a bug or an unexpected dependency answer
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  // dot.joined.path -> human message (validation only)
  std::map<std::string, std::string> field_errors;

  static Error invalid(std::string message, std::map<std::string, std::string> fields = {}) {
    return Error{ErrorCode::kInvalidArgument, std::move(message), std::move(fields)};
  }
  static Error not_found(std::string message) { return Error{ErrorCode::kNotFound, std::move(message), {}}; }
  static Error conflict(std::string message) { return Error{ErrorCode::kConflict, std::move(message), {}}; }
  static Error unauthenticated(std::string message) {
    return Error{ErrorCode::kUnauthenticated, std::move(message), {}};
  }
  static Error unavailable(std::string message) { return Error{ErrorCode::kUnavailable, std::move(message), {}}; }
  static Error internal(std::string message) { return Error{ErrorCode::kInternal, std::move(message), {}}; }
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

}  // namespace bp
