#pragma once

// Typed, validated configuration from LOYALTY_* environment variables.
//
// A service reads every variable through one EnvReader, then checks status() once: the first bad
// variable stops the process with one clear line (ExitOnConfigError) instead of a half-configured
// server failing later. Values are taken verbatim: surrounding whitespace, a sign other than '-',
// trailing characters and out-of-range numbers are errors, never silently trimmed or clamped,
// because they are almost always a quoting or deployment mistake.
//
//   config::EnvReader reader;
//   const int port = reader.Port("LOYALTY_MEMBERS_GRPC_PORT", 50051);
//   const bool dry_run = reader.Bool("LOYALTY_MEMBERS_DRY_RUN", false);
//   if (!reader.status().ok()) config::ExitOnConfigError("members-svc", reader.status());

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace loyalty::config {

// Looks up one variable; nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment (std::getenv). Not safe against a concurrent setenv, which no service
// calls.
EnvLookup ProcessEnv();

// A fixed environment, so tests never touch the process's.
EnvLookup MapEnv(std::map<std::string, std::string> values);

inline constexpr size_t kEnvValueLengthMax = 4096;

// Each getter returns the variable's value, or `default_value` when it is unset or empty. A bad
// value records an INVALID_ARGUMENT naming the variable, what it accepts and (except for free
// strings, which may be secrets) the value received; the getter then returns its default. Only the
// first error is kept: once one is recorded, every later call returns its default untouched, so
// the message always points at the first variable to fix.
//
// Not thread-safe: read the configuration once, at start-up.
class EnvReader {
 public:
  explicit EnvReader(EnvLookup lookup = ProcessEnv());

  // A decimal integer in [min, max], optionally with a leading '-'.
  int64_t Int(const std::string& name, int64_t default_value, int64_t min, int64_t max);

  // A TCP port in [0, 65535]; 0 asks the kernel for a free port.
  int Port(const std::string& name, int default_value);

  // true/false, 1/0 or yes/no, in any letter case.
  bool Bool(const std::string& name, bool default_value);

  // Any string of at most `max_length` bytes that neither starts nor ends with whitespace.
  std::string String(const std::string& name, const std::string& default_value,
                     size_t max_length = kEnvValueLengthMax);

  // Like String, but unset or empty is an error; returns "" after an error.
  std::string Required(const std::string& name, size_t max_length = kEnvValueLengthMax);

  // Exactly one of `allowed` (case-sensitive).
  std::string OneOf(const std::string& name, const std::string& default_value,
                    const std::vector<std::string>& allowed);

  // OK, or INVALID_ARGUMENT describing the first bad variable.
  absl::Status status() const { return status_; }

 private:
  // The value to parse: nullopt when unset or empty, or when an earlier error makes every later
  // getter return its default.
  std::optional<std::string> Lookup(const std::string& name) const;
  // Records `status` unless an error is already recorded.
  void Fail(absl::Status status);

  EnvLookup lookup_;
  absl::Status status_;
};

// Prints exactly one line, "<program>: configuration error: <status message>", to stderr and
// exits with status 2 (the exit code services use for bad configuration or usage). Line breaks in
// the message become spaces so the line cannot split. `status` must not be OK.
[[noreturn]] void ExitOnConfigError(std::string_view program, const absl::Status& status);

}  // namespace loyalty::config
