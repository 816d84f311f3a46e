#include "common/pg/array.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace loyalty::pg {
namespace {

TEST(ArrayLiteral, QuotesAndEscapesEveryTextElement) {
  ArrayLiteral array;
  array.Add("plain").Add("with \"quotes\"").Add("back\\slash").Add("").Add("a,b{c}");
  EXPECT_EQ(array.Build(), R"({"plain","with \"quotes\"","back\\slash","","a,b{c}"})");
  EXPECT_EQ(array.size(), 5);
}

TEST(ArrayLiteral, WritesNumbersNullsTimesAndBytes) {
  ArrayLiteral array;
  array.Add(int64_t{-7})
      .AddNull()
      .AddOptional(std::optional<int64_t>(3))
      .AddOptional(std::optional<int64_t>())
      .Add(absl::FromUnixMicros(1795000000123456))
      .AddBytes(std::string("\x00\xff", 2))
      .Add(true);
  EXPECT_EQ(array.Build(), R"({-7,NULL,3,NULL,"2026-11-18T11:06:40.123456Z","\\x00ff","t"})");
}

TEST(ArrayLiteral, EscapesRunsOfQuotesAndBackslashesAnywhereInLongText) {
  // Escaped a character at a time, as the literal's grammar says.
  const auto escaped = [](std::string_view text) {
    std::string out;
    for (char c : text) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    return out;
  };
  const std::string json = R"({"member":"m1","note":"a \"quoted\" word and C:\path\"})";
  const std::string tail = std::string(5000, 'x') + "\"";
  std::string hex;
  for (int i = 0; i < 3000; ++i) hex += "7f";
  ArrayLiteral array;
  array.Add(json).Add("\"\"\\\\").Add(tail).AddBytes(std::string(3000, '\x7f'));
  EXPECT_EQ(array.Build(), absl::StrCat("{\"", escaped(json), "\",\"", escaped("\"\"\\\\"), "\",\"",
                                        escaped(tail), "\",\"\\\\x", hex, "\"}"));
}

TEST(ArrayLiteral, EmptyArrayAndColumnShorthands) {
  EXPECT_EQ(ArrayLiteral().Build(), "{}");
  EXPECT_EQ(TextArray({"x", "y\""}), R"({"x","y\""})");
  EXPECT_EQ(Int64Array({1, -2, 3}), "{1,-2,3}");
  EXPECT_EQ(Int64Array({}), "{}");
}

}  // namespace
}  // namespace loyalty::pg
