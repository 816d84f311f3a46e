#include "common/config/env.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/check.h"

namespace loyalty::config {
namespace {

// Enough of a bad value to recognise it, short enough to keep the error on one readable line.
constexpr size_t kQuotedValueLengthMax = 64;

// The value as a quoted C literal: escaping keeps a stray newline or quote from splitting or
// forging the error line.
std::string Quoted(const std::string& value) {
  if (value.size() <= kQuotedValueLengthMax) {
    return absl::StrCat("\"", absl::CHexEscape(value), "\"");
  }
  return absl::StrCat("\"",
                      absl::CHexEscape(absl::string_view(value).substr(0, kQuotedValueLengthMax)),
                      "...\" (", value.size(), " bytes)");
}

// The checks String and Required share. The value itself is never echoed: it may be a password.
absl::Status CheckString(const std::string& name, const std::string& value, size_t max_length) {
  if (value.size() > max_length) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be at most ", max_length, " bytes long, got ", value.size()));
  }
  if (absl::ascii_isspace(static_cast<unsigned char>(value.front())) ||
      absl::ascii_isspace(static_cast<unsigned char>(value.back()))) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must not start or end with whitespace"));
  }
  return absl::OkStatus();
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

EnvLookup MapEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    const auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

EnvReader::EnvReader(EnvLookup lookup) : lookup_(std::move(lookup)) {}

std::optional<std::string> EnvReader::Lookup(const std::string& name) const {
  if (!status_.ok()) return std::nullopt;
  std::optional<std::string> value = lookup_(name);
  // Deployment templates often render an unset setting as NAME=""; treat it as unset.
  if (value.has_value() && value->empty()) return std::nullopt;
  return value;
}

void EnvReader::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
}

int64_t EnvReader::Int(const std::string& name, int64_t default_value, int64_t min, int64_t max) {
  LOYALTY_CHECK(min <= max);
  const std::optional<std::string> text = Lookup(name);
  if (!text.has_value()) return default_value;
  // std::from_chars, unlike strtol or absl::SimpleAtoi, skips no whitespace and accepts no '+',
  // and reports overflow instead of saturating.
  int64_t value = 0;
  const char* const end = text->data() + text->size();
  const auto [ptr, error] = std::from_chars(text->data(), end, value);
  if (error != std::errc() || ptr != end || value < min || value > max) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat(name, " must be an integer in [", min, ", ", max, "], got ", Quoted(*text))));
    return default_value;
  }
  return value;
}

int EnvReader::Port(const std::string& name, int default_value) {
  return static_cast<int>(Int(name, default_value, 0, 65535));
}

bool EnvReader::Bool(const std::string& name, bool default_value) {
  const std::optional<std::string> text = Lookup(name);
  if (!text.has_value()) return default_value;
  const std::string lower = absl::AsciiStrToLower(*text);
  if (lower == "true" || lower == "1" || lower == "yes") return true;
  if (lower == "false" || lower == "0" || lower == "no") return false;
  Fail(absl::InvalidArgumentError(
      absl::StrCat(name, " must be one of true, false, 1, 0, yes, no, got ", Quoted(*text))));
  return default_value;
}

std::string EnvReader::String(const std::string& name, const std::string& default_value,
                              size_t max_length) {
  std::optional<std::string> text = Lookup(name);
  if (!text.has_value()) return default_value;
  if (absl::Status status = CheckString(name, *text, max_length); !status.ok()) {
    Fail(std::move(status));
    return default_value;
  }
  return *std::move(text);
}

std::string EnvReader::Required(const std::string& name, size_t max_length) {
  if (!status_.ok()) return "";
  std::optional<std::string> text = Lookup(name);
  if (!text.has_value()) {
    Fail(absl::InvalidArgumentError(absl::StrCat(name, " is required")));
    return "";
  }
  if (absl::Status status = CheckString(name, *text, max_length); !status.ok()) {
    Fail(std::move(status));
    return "";
  }
  return *std::move(text);
}

std::string EnvReader::OneOf(const std::string& name, const std::string& default_value,
                             const std::vector<std::string>& allowed) {
  std::optional<std::string> text = Lookup(name);
  if (!text.has_value()) return default_value;
  for (const std::string& candidate : allowed) {
    if (*text == candidate) return *std::move(text);
  }
  Fail(absl::InvalidArgumentError(absl::StrCat(
      name, " must be one of ", absl::StrJoin(allowed, ", "), ", got ", Quoted(*text))));
  return default_value;
}

void ExitOnConfigError(std::string_view program, const absl::Status& status) {
  LOYALTY_CHECK(!status.ok());
  std::string message(status.message());
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "%.*s: configuration error: %s\n", static_cast<int>(program.size()),
               program.data(), message.c_str());
  std::exit(2);
}

}  // namespace loyalty::config
