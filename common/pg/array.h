#pragma once

// PostgreSQL array literals ('{"a","b",NULL}') for set-based statements: a batch of rows travels
// as one text parameter per column and is turned back into rows with unnest($n::type[]).
// Every element is quoted and escaped, so any text is safe; NULL elements are unquoted NULL.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace loyalty::pg {

class ArrayLiteral {
 public:
  ArrayLiteral& Add(std::string_view value);
  ArrayLiteral& Add(const char* value) { return Add(std::string_view(value)); }
  ArrayLiteral& Add(const std::string& value) { return Add(std::string_view(value)); }
  ArrayLiteral& Add(int64_t value);
  ArrayLiteral& Add(int32_t value) { return Add(static_cast<int64_t>(value)); }
  ArrayLiteral& Add(bool value) { return Add(std::string_view(value ? "t" : "f")); }
  // As Params does: RFC 3339 in UTC with microseconds (for timestamptz[]).
  ArrayLiteral& Add(absl::Time value);
  // Any bytes, in bytea's hex form (for bytea[]).
  ArrayLiteral& AddBytes(std::string_view bytes);
  ArrayLiteral& AddNull();
  template <typename T>
  ArrayLiteral& AddOptional(const std::optional<T>& value) {
    return value.has_value() ? Add(*value) : AddNull();
  }

  int size() const { return size_; }
  // The literal, e.g. {"a","b",NULL}; {} when empty.
  std::string Build() const { return text_ + "}"; }

 private:
  void Separate();

  std::string text_ = "{";
  int size_ = 0;
};

// Shorthands for whole columns.
std::string TextArray(const std::vector<std::string>& values);
std::string Int64Array(const std::vector<int64_t>& values);

class Result;
// Where a row of a set-based read came from: statements over `unnest(...) WITH ORDINALITY AS
// k(..., n)` return k.n, the 1-based position of the input it answers. The 0-based index of row
// `row`'s input, CHECKed to be one of the `inputs` sent.
size_t InputIndex(const Result& rows, int row, size_t inputs);

}  // namespace loyalty::pg
