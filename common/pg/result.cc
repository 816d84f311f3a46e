#include "common/pg/result.h"

#include <charconv>

#include "absl/strings/numbers.h"
#include "common/check.h"
#include "common/pg/params.h"
#include "libpq-fe.h"

namespace loyalty::pg {

void Result::Deleter::operator()(pg_result* result) const { PQclear(result); }

Result::Result(pg_result* result) : result_(result) { LOYALTY_CHECK(result != nullptr); }

int Result::rows() const { return PQntuples(result_.get()); }
int Result::columns() const { return PQnfields(result_.get()); }

int64_t Result::affected_rows() const {
  const char* text = PQcmdTuples(result_.get());
  int64_t value = 0;
  if (text == nullptr || *text == '\0') return 0;
  LOYALTY_CHECK(absl::SimpleAtoi(text, &value));
  return value;
}

int Result::Column(std::string_view name) const {
  const int index = PQfnumber(result_.get(), std::string(name).c_str());
  LOYALTY_CHECK(index >= 0);
  return index;
}

std::string_view Result::Raw(int row, int column) const {
  LOYALTY_CHECK(row >= 0 && row < rows());
  LOYALTY_CHECK(column >= 0 && column < columns());
  return std::string_view(PQgetvalue(result_.get(), row, column),
                          static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

bool Result::IsNull(int row, int column) const {
  LOYALTY_CHECK(row >= 0 && row < rows());
  return PQgetisnull(result_.get(), row, column) == 1;
}

std::string Result::String(int row, int column) const {
  LOYALTY_CHECK(!IsNull(row, column));
  return std::string(Raw(row, column));
}

int64_t Result::Int64(int row, int column) const {
  LOYALTY_CHECK(!IsNull(row, column));
  std::string_view text = Raw(row, column);
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  LOYALTY_CHECK(error == std::errc() && end == text.data() + text.size());
  return value;
}

bool Result::Bool(int row, int column) const {
  LOYALTY_CHECK(!IsNull(row, column));
  std::string_view text = Raw(row, column);
  LOYALTY_CHECK(text == "t" || text == "f");
  return text == "t";
}

std::string Result::Bytes(int row, int column) const {
  LOYALTY_CHECK(!IsNull(row, column));
  std::string_view text = Raw(row, column);
  // bytea_output is 'hex' (the default since PostgreSQL 9.0): "\x" then two hex digits a byte.
  LOYALTY_CHECK(text.size() >= 2 && text[0] == '\\' && text[1] == 'x' && text.size() % 2 == 0);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    LOYALTY_CHECK(false);
    return 0;
  };
  std::string bytes;
  bytes.reserve((text.size() - 2) / 2);
  for (size_t i = 2; i < text.size(); i += 2) {
    bytes.push_back(static_cast<char>((nibble(text[i]) << 4) | nibble(text[i + 1])));
  }
  return bytes;
}

absl::Time Result::Time(int row, int column) const {
  LOYALTY_CHECK(!IsNull(row, column));
  std::optional<absl::Time> time = ParseTimestamp(Raw(row, column));
  LOYALTY_CHECK(time.has_value());
  return *time;
}

std::optional<std::string> Result::OptionalString(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return String(row, column);
}

std::optional<int64_t> Result::OptionalInt64(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Int64(row, column);
}

std::optional<absl::Time> Result::OptionalTime(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Time(row, column);
}

std::optional<absl::Time> ParseTimestamp(std::string_view text) {
  // Connections run with TimeZone=UTC and DateStyle=ISO, so the suffix is always "+00"; the
  // fraction has 0 to 6 digits. Years beyond 9999 and BC dates are not produced by our schemas.
  if (text == "infinity") return absl::InfiniteFuture();
  if (text == "-infinity") return absl::InfinitePast();
  if (text.size() < 22 || text.substr(text.size() - 3) != "+00") return std::nullopt;
  std::string body(text.substr(0, text.size() - 3));
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S", body, absl::UTCTimeZone(), &time, &error)) {
    return std::nullopt;
  }
  return time;
}

std::string FormatTimestamp(absl::Time time) {
  if (time == absl::InfiniteFuture()) return "infinity";
  if (time == absl::InfinitePast()) return "-infinity";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone());
}

Params& Params::Add(absl::Time value) { return Add(FormatTimestamp(value)); }

std::string ByteaHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text = "\\x";
  text.reserve(2 + bytes.size() * 2);
  for (unsigned char byte : bytes) {
    text.push_back(kHex[byte >> 4]);
    text.push_back(kHex[byte & 0xf]);
  }
  return text;
}

Params& Params::AddBytes(std::string_view bytes) { return Add(ByteaHex(bytes)); }

}  // namespace loyalty::pg
