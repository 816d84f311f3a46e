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
  // Our queries name their columns in lower case, so an exact match is the rule. PQfnumber
  // (copies the name, folds its case, then compares) is kept for the rest: set-based reads look
  // up a column for every cell, and that copy showed in points-svc's profile.
  const int fields = columns();
  for (int i = 0; i < fields; ++i) {
    if (name == PQfname(result_.get(), i)) return i;
  }
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

namespace {

// "YYYY-MM-DD HH:MM:SS" with 0 to 6 fraction digits, read by hand: every batch reads times by the
// row, and absl::ParseTime interprets its format each time. Anything else (or an impossible date,
// which CivilSecond would quietly normalize) is left to ParseTime.
std::optional<absl::Time> ParseIsoFast(std::string_view body) {
  if (body.size() < 19 || body.size() == 20 || body.size() > 26) return std::nullopt;
  const auto number = [&body](size_t position, size_t width) -> int64_t {
    int64_t value = 0;
    for (size_t i = position; i < position + width; ++i) {
      if (body[i] < '0' || body[i] > '9') return -1;
      value = value * 10 + (body[i] - '0');
    }
    return value;
  };
  if (body[4] != '-' || body[7] != '-' || body[10] != ' ' || body[13] != ':' || body[16] != ':' ||
      (body.size() > 19 && body[19] != '.')) {
    return std::nullopt;
  }
  const int64_t year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const int64_t hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  int64_t micros = 0;
  if (body.size() > 19) {
    const size_t digits = body.size() - 20;
    micros = number(20, digits);
    for (size_t i = digits; i < 6 && micros >= 0; ++i) micros *= 10;
  }
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || micros < 0) {
    return std::nullopt;
  }
  const absl::CivilSecond civil(year, static_cast<int>(month), static_cast<int>(day),
                                static_cast<int>(hour), static_cast<int>(minute),
                                static_cast<int>(second));
  if (civil.year() != year || civil.month() != month || civil.day() != day ||
      civil.hour() != hour || civil.minute() != minute || civil.second() != second) {
    return std::nullopt;
  }
  return absl::FromCivil(civil, absl::UTCTimeZone()) + absl::Microseconds(micros);
}

}  // namespace

std::optional<absl::Time> ParseTimestamp(std::string_view text) {
  // Connections run with TimeZone=UTC and DateStyle=ISO, so the suffix is always "+00"; the
  // fraction has 0 to 6 digits. Years beyond 9999 and BC dates are not produced by our schemas.
  if (text == "infinity") return absl::InfiniteFuture();
  if (text == "-infinity") return absl::InfinitePast();
  if (text.size() < 22 || text.substr(text.size() - 3) != "+00") return std::nullopt;
  const std::string_view body = text.substr(0, text.size() - 3);
  if (std::optional<absl::Time> time = ParseIsoFast(body); time.has_value()) return time;
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S", std::string(body), absl::UTCTimeZone(), &time,
                       &error)) {
    return std::nullopt;
  }
  return time;
}

std::string FormatTimestamp(absl::Time time) {
  if (time == absl::InfiniteFuture()) return "infinity";
  if (time == absl::InfinitePast()) return "-infinity";
  static constexpr char kFormat[] = "%Y-%m-%dT%H:%M:%E6SZ";
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilSecond second = absl::ToCivilSecond(time, utc);
  // Four-digit years written by hand: every batch formats a time per row, and FormatTime
  // interprets its format each time (a few percent of points-svc's CPU under load).
  if (second.year() < 1000 || second.year() > 9999) return absl::FormatTime(kFormat, time, utc);
  // ToUnixMicros rounds down, so the remainder is the fraction even before 1970.
  const int64_t micros = (absl::ToUnixMicros(time) % 1'000'000 + 1'000'000) % 1'000'000;
  char text[] = "0000-00-00T00:00:00.000000Z";
  const auto put = [&text](int position, int64_t value, int width) {
    for (int i = position + width - 1; i >= position; --i, value /= 10) {
      text[i] = static_cast<char>('0' + value % 10);
    }
  };
  put(0, second.year(), 4);
  put(5, second.month(), 2);
  put(8, second.day(), 2);
  put(11, second.hour(), 2);
  put(14, second.minute(), 2);
  put(17, second.second(), 2);
  put(20, micros, 6);
  return std::string(text, sizeof(text) - 1);
}

Params& Params::Add(absl::Time value) { return Add(FormatTimestamp(value)); }

void AppendHex(std::string_view bytes, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t start = out.size();
  out.resize(start + bytes.size() * 2);
  char* next = out.data() + start;
  for (unsigned char byte : bytes) {
    *next++ = kHex[byte >> 4];
    *next++ = kHex[byte & 0xf];
  }
}

std::string ByteaHex(std::string_view bytes) {
  std::string text = "\\x";
  AppendHex(bytes, text);
  return text;
}

Params& Params::AddBytes(std::string_view bytes) { return Add(ByteaHex(bytes)); }

}  // namespace loyalty::pg
