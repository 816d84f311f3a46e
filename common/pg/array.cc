#include "common/pg/array.h"

#include "common/check.h"
#include "common/pg/params.h"
#include "common/pg/result.h"

namespace loyalty::pg {

void ArrayLiteral::Separate() {
  if (size_ > 0) text_.push_back(',');
  ++size_;
}

ArrayLiteral& ArrayLiteral::Add(std::string_view value) {
  Separate();
  text_.push_back('"');
  // Runs without a quote or backslash are appended whole. (Not find_first_of: libstdc++ calls
  // memchr on the two specials for every character.)
  size_t run = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '"' && c != '\\') continue;
    text_.append(value.substr(run, i - run));
    text_.push_back('\\');
    text_.push_back(c);
    run = i + 1;
  }
  text_.append(value.substr(run));
  text_.push_back('"');
  return *this;
}

ArrayLiteral& ArrayLiteral::Add(int64_t value) {
  Separate();
  text_ += std::to_string(value);
  return *this;
}

ArrayLiteral& ArrayLiteral::Add(absl::Time value) { return Add(FormatTimestamp(value)); }

ArrayLiteral& ArrayLiteral::AddBytes(std::string_view bytes) {
  Separate();
  text_.append(R"("\\x)");  // The element \x<hex>, its backslash escaped.
  AppendHex(bytes, text_);
  text_.push_back('"');
  return *this;
}

ArrayLiteral& ArrayLiteral::AddNull() {
  Separate();
  text_ += "NULL";
  return *this;
}

std::string TextArray(const std::vector<std::string>& values) {
  ArrayLiteral array;
  for (const std::string& value : values) array.Add(value);
  return array.Build();
}

std::string Int64Array(const std::vector<int64_t>& values) {
  ArrayLiteral array;
  for (int64_t value : values) array.Add(value);
  return array.Build();
}

size_t InputIndex(const Result& rows, int row, size_t inputs) {
  const int64_t n = rows.Int64(row, "n");
  LOYALTY_CHECK(n >= 1 && static_cast<size_t>(n) <= inputs);
  return static_cast<size_t>(n - 1);
}

}  // namespace loyalty::pg
