#pragma once

// Query parameters in libpq's text format, built in order ($1, $2, ...).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace loyalty::pg {

class Params {
 public:
  Params& Add(std::string_view value) {
    values_.emplace_back(std::string(value));
    return *this;
  }
  Params& Add(const char* value) { return Add(std::string_view(value)); }
  Params& Add(const std::string& value) { return Add(std::string_view(value)); }
  Params& Add(int64_t value) {
    values_.emplace_back(std::to_string(value));
    return *this;
  }
  Params& Add(int32_t value) { return Add(static_cast<int64_t>(value)); }
  Params& Add(bool value) {
    values_.emplace_back(value ? "t" : "f");
    return *this;
  }
  // Timestamps travel as RFC 3339 in UTC with microseconds, PostgreSQL's precision.
  Params& Add(absl::Time value);
  // A bytea value (any bytes), sent in PostgreSQL's hex text form.
  Params& AddBytes(std::string_view bytes);
  Params& AddNull() {
    values_.emplace_back(std::nullopt);
    return *this;
  }
  template <typename T>
  Params& AddOptional(const std::optional<T>& value) {
    return value.has_value() ? Add(*value) : AddNull();
  }

  int size() const { return static_cast<int>(values_.size()); }
  const std::vector<std::optional<std::string>>& values() const { return values_; }

 private:
  std::vector<std::optional<std::string>> values_;
};

}  // namespace loyalty::pg
