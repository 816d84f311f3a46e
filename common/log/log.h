#pragma once

// Structured logging: one JSON object per line, to stderr unless a test redirects it.
//
//   log::Init("members-svc", log::Level::kInfo);
//   log::Info("member enrolled", {{"member_id", id}, {"tier", tier}, {"points", int64_t{0}}});
//
// writes
//
//   {"time":"2026-11-22T07:39:45.123456Z","level":"info","service":"members-svc",
//    "msg":"member enrolled","trace_id":"4bf9...","span_id":"00f0...","member_id":"m1",...}
//
// on one line. Keys come in that order; trace_id and span_id appear only inside a
// ScopedTraceContext (trace.h). Every string is JSON-escaped, and invalid UTF-8 is replaced, so no
// value can split a line or forge a key. A field named like a fixed key ("msg", "level", ...) is
// written as "field.<key>". Each line is built first and written with one write(2) under a mutex,
// so lines from many threads, or from gRPC's own stderr logging, never interleave.
//
// Messages are for operators: ids, never personal data or secrets.

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace loyalty::log {

enum class Level { kDebug, kInfo, kWarning, kError };

// "debug", "info", "warning" or "error" (exact spelling, as LOYALTY_LOG_LEVEL takes them);
// INVALID_ARGUMENT otherwise.
absl::StatusOr<Level> ParseLevel(std::string_view text);

// Sets the `service` every line carries and drops lines below `min_level`. Call once, early in
// main; until then lines say "service":"" and the minimum level is kInfo. Thread-safe.
void Init(std::string service_name, Level min_level);

// Whether a line at `level` would be written, to skip building costly fields.
bool Enabled(Level level);

// Sends lines to `sink` instead of stderr; nullptr restores stderr. The sink must outlive its use.
void SetSinkForTest(std::ostream* sink);

// Integer types a Field takes as a number. Characters are left out so that 'x' cannot log as 120.
template <typename T>
concept FieldInteger = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char> &&
                       !std::same_as<T, wchar_t> && !std::same_as<T, char8_t> &&
                       !std::same_as<T, char16_t> && !std::same_as<T, char32_t>;

// One key and value of a log line. Built implicitly from {"key", value} with a string, an
// integer, a bool or a double.
struct Field {
  using Value = std::variant<std::string, int64_t, bool, double>;

  Field(std::string_view key, const char* value)
      : key(key), value(std::string(value == nullptr ? "" : value)) {}
  Field(std::string_view key, std::string value) : key(key), value(std::move(value)) {}
  Field(std::string_view key, std::string_view value) : key(key), value(std::string(value)) {}
  // absl::string_view is a distinct type in our Abseil; status.message() returns one.
  Field(std::string_view key, absl::string_view value) : key(key), value(std::string(value)) {}
  Field(std::string_view key, bool value) : key(key), value(value) {}
  Field(std::string_view key, double value) : key(key), value(value) {}
  // Any integer type, without the ambiguity int/long/size_t overloads would bring. An unsigned
  // value above INT64_MAX is kept exact as a decimal string.
  template <FieldInteger T>
  Field(std::string_view key, T value) : key(key), value(IntegerValue(value)) {}

  std::string key;
  Value value;

 private:
  template <FieldInteger T>
  static Value IntegerValue(T value) {
    if constexpr (std::is_unsigned_v<T>) {
      if (value > static_cast<std::make_unsigned_t<int64_t>>(std::numeric_limits<int64_t>::max())) {
        return std::to_string(value);
      }
    }
    return static_cast<int64_t>(value);
  }
};

// Writes one line at `level` if `level` is enabled. Thread-safe; never fails (a failed write to
// stderr is dropped, as there is nowhere left to report it).
void Write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view message, std::initializer_list<Field> fields = {}) {
  Write(Level::kDebug, message, fields);
}
inline void Info(std::string_view message, std::initializer_list<Field> fields = {}) {
  Write(Level::kInfo, message, fields);
}
inline void Warning(std::string_view message, std::initializer_list<Field> fields = {}) {
  Write(Level::kWarning, message, fields);
}
inline void Error(std::string_view message, std::initializer_list<Field> fields = {}) {
  Write(Level::kError, message, fields);
}

// The JSON string literal for `text`, quotes included, as log lines write it: '"', '\' and control
// characters (C0, DEL, C1) are escaped, as are U+2028 and U+2029, which some readers treat as line
// breaks; other valid UTF-8 passes through; each maximal invalid UTF-8 subpart becomes \ufffd.
// Exposed for tests and for other JSON writers that want the same guarantees.
std::string JsonQuote(std::string_view text);

}  // namespace loyalty::log
