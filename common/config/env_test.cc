#include "common/config/env.h"

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loyalty::config {
namespace {

using ::testing::ExitedWithCode;

EnvReader ReaderOf(std::map<std::string, std::string> values) {
  return EnvReader(MapEnv(std::move(values)));
}

// Expects `reader` to hold INVALID_ARGUMENT with exactly `message`.
void ExpectError(const EnvReader& reader, const std::string& message) {
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reader.status().message(), message);
}

TEST(EnvReader, UnsetAndEmptyVariablesGiveDefaults) {
  EnvReader reader = ReaderOf({{"LOYALTY_EMPTY", ""}});
  for (const char* name : {"LOYALTY_UNSET", "LOYALTY_EMPTY"}) {
    EXPECT_EQ(reader.Int(name, 7, 0, 10), 7);
    EXPECT_EQ(reader.Port(name, 50051), 50051);
    EXPECT_TRUE(reader.Bool(name, true));
    EXPECT_EQ(reader.String(name, "fallback"), "fallback");
    EXPECT_EQ(reader.OneOf(name, "info", {"info", "error"}), "info");
  }
  EXPECT_TRUE(reader.status().ok());
}

TEST(EnvReader, IntReadsValuesWithinRangeInclusive) {
  EnvReader reader = ReaderOf({{"A", "-5"}, {"B", "10"}, {"C", "0"}, {"D", "007"}});
  EXPECT_EQ(reader.Int("A", 0, -5, 10), -5);
  EXPECT_EQ(reader.Int("B", 0, -5, 10), 10);
  EXPECT_EQ(reader.Int("C", 1, -5, 10), 0);
  EXPECT_EQ(reader.Int("D", 1, -5, 10), 7);
  EXPECT_TRUE(reader.status().ok());
}

TEST(EnvReader, IntReadsTheFullInt64Range) {
  EnvReader reader = ReaderOf({{"MAX", "9223372036854775807"}, {"MIN", "-9223372036854775808"}});
  EXPECT_EQ(reader.Int("MAX", 0, INT64_MIN, INT64_MAX), INT64_MAX);
  EXPECT_EQ(reader.Int("MIN", 0, INT64_MIN, INT64_MAX), INT64_MIN);
  EXPECT_TRUE(reader.status().ok());
}

TEST(EnvReader, IntRejectsMalformedValuesNamingVariableRangeAndValue) {
  struct Case {
    const char* value;
    const char* quoted;
  };
  for (const Case& c : {Case{"abc", "\"abc\""}, Case{"12x", "\"12x\""}, Case{" 12", "\" 12\""},
                        Case{"12 ", "\"12 \""}, Case{"+12", "\"+12\""}, Case{"1.5", "\"1.5\""},
                        Case{"-", "\"-\""}, Case{"0x10", "\"0x10\""}, Case{"12\n", "\"12\\n\""}}) {
    EnvReader reader = ReaderOf({{"LOYALTY_X", c.value}});
    EXPECT_EQ(reader.Int("LOYALTY_X", 3, 0, 100), 3) << c.value;
    ExpectError(reader, absl::StrCat("LOYALTY_X must be an integer in [0, 100], got ", c.quoted));
  }
}

TEST(EnvReader, IntRejectsOverflowAndOutOfRange) {
  for (const char* value : {"9223372036854775808", "-9223372036854775809", "101", "-1"}) {
    EnvReader reader = ReaderOf({{"LOYALTY_X", value}});
    EXPECT_EQ(reader.Int("LOYALTY_X", 3, 0, 100), 3) << value;
    ExpectError(reader,
                absl::StrCat("LOYALTY_X must be an integer in [0, 100], got \"", value, "\""));
  }
}

TEST(EnvReader, IntShortensAVeryLongBadValue) {
  EnvReader reader = ReaderOf({{"LOYALTY_X", std::string(100, '9')}});
  reader.Int("LOYALTY_X", 3, 0, 100);
  ExpectError(reader, absl::StrCat("LOYALTY_X must be an integer in [0, 100], got \"",
                                   std::string(64, '9'), "...\" (100 bytes)"));
}

TEST(EnvReader, PortAcceptsZeroToMax) {
  EnvReader reader = ReaderOf({{"P0", "0"}, {"P1", "65535"}});
  EXPECT_EQ(reader.Port("P0", 1), 0);
  EXPECT_EQ(reader.Port("P1", 1), 65535);
  EXPECT_TRUE(reader.status().ok());
}

TEST(EnvReader, PortRejectsNonNumbersAndOutOfRange) {
  EnvReader reader = ReaderOf({{"LOYALTY_MEMBERS_GRPC_PORT", "abc"}});
  EXPECT_EQ(reader.Port("LOYALTY_MEMBERS_GRPC_PORT", 50051), 50051);
  ExpectError(reader, "LOYALTY_MEMBERS_GRPC_PORT must be an integer in [0, 65535], got \"abc\"");

  EnvReader too_big = ReaderOf({{"LOYALTY_MEMBERS_GRPC_PORT", "65536"}});
  EXPECT_EQ(too_big.Port("LOYALTY_MEMBERS_GRPC_PORT", 50051), 50051);
  ExpectError(too_big, "LOYALTY_MEMBERS_GRPC_PORT must be an integer in [0, 65535], got \"65536\"");
}

TEST(EnvReader, BoolAcceptsSixSpellingsInAnyCase) {
  EnvReader reader = ReaderOf({{"T1", "true"},
                               {"T2", "TRUE"},
                               {"T3", "1"},
                               {"T4", "Yes"},
                               {"F1", "false"},
                               {"F2", "False"},
                               {"F3", "0"},
                               {"F4", "NO"}});
  for (const char* name : {"T1", "T2", "T3", "T4"}) EXPECT_TRUE(reader.Bool(name, false)) << name;
  for (const char* name : {"F1", "F2", "F3", "F4"}) EXPECT_FALSE(reader.Bool(name, true)) << name;
  EXPECT_TRUE(reader.status().ok());
}

TEST(EnvReader, BoolRejectsOtherValues) {
  for (const char* value : {"maybe", "on", "2", " true", "true "}) {
    EnvReader reader = ReaderOf({{"LOYALTY_DRY_RUN", value}});
    EXPECT_TRUE(reader.Bool("LOYALTY_DRY_RUN", true)) << value;
    ExpectError(reader, absl::StrCat("LOYALTY_DRY_RUN must be one of true, false, 1, 0, yes, no, "
                                     "got \"",
                                     value, "\""));
  }
}

TEST(EnvReader, StringReturnsTheValueVerbatim) {
  EnvReader reader = ReaderOf({{"S", "host=db port=5432"}});
  EXPECT_EQ(reader.String("S", "x"), "host=db port=5432");
  EXPECT_TRUE(reader.status().ok());
}

TEST(EnvReader, StringRejectsTooLongWithoutEchoingTheValue) {
  EnvReader reader = ReaderOf({{"LOYALTY_SECRET", "hunter2-hunter2"}});
  EXPECT_EQ(reader.String("LOYALTY_SECRET", "dflt", 10), "dflt");
  ExpectError(reader, "LOYALTY_SECRET must be at most 10 bytes long, got 15");
}

TEST(EnvReader, StringAcceptsExactlyMaxLength) {
  EnvReader reader = ReaderOf({{"S", "0123456789"}});
  EXPECT_EQ(reader.String("S", "dflt", 10), "0123456789");
  EXPECT_TRUE(reader.status().ok());
}

TEST(EnvReader, StringRejectsSurroundingWhitespace) {
  for (const char* value : {" value", "value ", "value\n", "\tvalue"}) {
    EnvReader reader = ReaderOf({{"LOYALTY_S", value}});
    EXPECT_EQ(reader.String("LOYALTY_S", "dflt"), "dflt");
    ExpectError(reader, "LOYALTY_S must not start or end with whitespace");
  }
}

TEST(EnvReader, RequiredReturnsTheValue) {
  EnvReader reader = ReaderOf({{"LOYALTY_URL", "postgresql://db/loyalty"}});
  EXPECT_EQ(reader.Required("LOYALTY_URL"), "postgresql://db/loyalty");
  EXPECT_TRUE(reader.status().ok());
}

TEST(EnvReader, RequiredRejectsUnsetAndEmpty) {
  EnvReader unset = ReaderOf({});
  EXPECT_EQ(unset.Required("LOYALTY_URL"), "");
  ExpectError(unset, "LOYALTY_URL is required");

  EnvReader empty = ReaderOf({{"LOYALTY_URL", ""}});
  EXPECT_EQ(empty.Required("LOYALTY_URL"), "");
  ExpectError(empty, "LOYALTY_URL is required");
}

TEST(EnvReader, RequiredAppliesStringChecks) {
  EnvReader reader = ReaderOf({{"LOYALTY_URL", "abcdef"}});
  EXPECT_EQ(reader.Required("LOYALTY_URL", 5), "");
  ExpectError(reader, "LOYALTY_URL must be at most 5 bytes long, got 6");
}

TEST(EnvReader, OneOfAcceptsOnlyListedValuesCaseSensitively) {
  EnvReader reader = ReaderOf({{"L", "warning"}});
  EXPECT_EQ(reader.OneOf("L", "info", {"debug", "info", "warning", "error"}), "warning");
  EXPECT_TRUE(reader.status().ok());

  EnvReader bad = ReaderOf({{"LOYALTY_LOG_LEVEL", "WARNING"}});
  EXPECT_EQ(bad.OneOf("LOYALTY_LOG_LEVEL", "info", {"debug", "info", "warning", "error"}), "info");
  ExpectError(bad, "LOYALTY_LOG_LEVEL must be one of debug, info, warning, error, got \"WARNING\"");
}

TEST(EnvReader, KeepsTheFirstErrorAndReturnsDefaultsAfterIt) {
  EnvReader reader = ReaderOf({{"GOOD", "5"},
                               {"FIRST", "x"},
                               {"SECOND", "y"},
                               {"LATER_GOOD", "9"},
                               {"LATER_STRING", "value"}});
  EXPECT_EQ(reader.Int("GOOD", 0, 0, 10), 5);
  EXPECT_EQ(reader.Int("FIRST", 1, 0, 10), 1);
  EXPECT_EQ(reader.Int("SECOND", 2, 0, 10), 2);
  // Valid values after an error are not read either: the configuration is being rejected.
  EXPECT_EQ(reader.Int("LATER_GOOD", 3, 0, 10), 3);
  EXPECT_EQ(reader.String("LATER_STRING", "dflt"), "dflt");
  EXPECT_EQ(reader.Required("UNSET"), "");
  ExpectError(reader, "FIRST must be an integer in [0, 10], got \"x\"");
}

TEST(EnvReader, ProcessEnvReadsTheEnvironment) {
  ASSERT_EQ(setenv("LOYALTY_ENV_TEST_VALUE", "42", /*overwrite=*/1), 0);
  ASSERT_EQ(unsetenv("LOYALTY_ENV_TEST_UNSET"), 0);
  EnvReader reader;
  EXPECT_EQ(reader.Int("LOYALTY_ENV_TEST_VALUE", 0, 0, 100), 42);
  EXPECT_EQ(reader.Int("LOYALTY_ENV_TEST_UNSET", 7, 0, 100), 7);
  EXPECT_TRUE(reader.status().ok());
  unsetenv("LOYALTY_ENV_TEST_VALUE");
}

TEST(ExitOnConfigErrorDeathTest, PrintsOneLineAndExitsWithTwo) {
  EXPECT_EXIT(ExitOnConfigError("members-svc", absl::InvalidArgumentError("LOYALTY_X is bad")),
              ExitedWithCode(2), "^members-svc: configuration error: LOYALTY_X is bad\n$");
}

TEST(ExitOnConfigErrorDeathTest, JoinsLinesOfTheMessage) {
  EXPECT_EXIT(ExitOnConfigError("svc", absl::InvalidArgumentError("a\nb\r\nc")), ExitedWithCode(2),
              "^svc: configuration error: a b  c\n$");
}

}  // namespace
}  // namespace loyalty::config
