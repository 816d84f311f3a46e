#include "common/log/log.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/log/trace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loyalty::log {
namespace {

using ::testing::ElementsAre;
using ::testing::ExitedWithCode;
using ::testing::HasSubstr;

// Routes the logger into a string for the life of the object, as service "test-svc".
class CapturedLog {
 public:
  explicit CapturedLog(Level min_level = Level::kDebug) {
    Init("test-svc", min_level);
    SetSinkForTest(&stream_);
  }
  ~CapturedLog() {
    SetSinkForTest(nullptr);
    Init("", Level::kInfo);
  }

  // Each line checked for the timestamp prefix and returned without it, from "level" on, so the
  // rest can be compared exactly.
  std::vector<std::string> LinesWithoutTime() const {
    static const std::regex kTimePrefix(
        R"(\{"time":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z",)");
    std::vector<std::string> lines;
    const std::string text = stream_.str();
    EXPECT_TRUE(text.empty() || text.back() == '\n') << text;
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      std::string copy(line);
      std::smatch match;
      EXPECT_TRUE(
          std::regex_search(copy, match, kTimePrefix, std::regex_constants::match_continuous))
          << copy;
      lines.push_back(match.ready() && !match.empty() ? match.suffix().str() : copy);
    }
    return lines;
  }

  std::string Text() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
};

// What a line with only `msg` looks like after the time.
std::string Line(absl::string_view level, absl::string_view msg_json, absl::string_view rest = "") {
  return absl::StrCat(R"("level":")", level, R"(","service":"test-svc","msg":)", msg_json, rest,
                      "}");
}

TEST(ParseLevel, AcceptsTheFourNames) {
  EXPECT_EQ(*ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(*ParseLevel("info"), Level::kInfo);
  EXPECT_EQ(*ParseLevel("warning"), Level::kWarning);
  EXPECT_EQ(*ParseLevel("error"), Level::kError);
}

TEST(ParseLevel, RejectsOtherSpellings) {
  for (const char* text : {"", "INFO", "warn", "fatal", "info "}) {
    absl::StatusOr<Level> level = ParseLevel(text);
    ASSERT_FALSE(level.ok()) << text;
    EXPECT_EQ(level.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(
        level.status().message(),
        absl::StrCat("log level must be one of debug, info, warning, error, got \"", text, "\""));
  }
}

TEST(Log, WritesOneJsonObjectPerLineWithKeysInOrder) {
  CapturedLog log;
  Info("member enrolled", {{"member_id", "m1"}, {"points", 25}, {"vip", true}, {"ratio", 0.5}});
  EXPECT_THAT(log.LinesWithoutTime(),
              ElementsAre(Line("info", R"("member enrolled")",
                               R"(,"member_id":"m1","points":25,"vip":true,"ratio":0.5)")));
}

TEST(Log, NamesEachLevel) {
  CapturedLog log;
  Debug("d");
  Info("i");
  Warning("w");
  Error("e");
  Write(Level::kError, "x");
  EXPECT_THAT(
      log.LinesWithoutTime(),
      ElementsAre(Line("debug", R"("d")"), Line("info", R"("i")"), Line("warning", R"("w")"),
                  Line("error", R"("e")"), Line("error", R"("x")")));
}

TEST(Log, DropsLinesBelowTheMinimumLevel) {
  CapturedLog log(Level::kWarning);
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kWarning));
  Debug("d");
  Info("i");
  Warning("w");
  Error("e");
  EXPECT_THAT(log.LinesWithoutTime(),
              ElementsAre(Line("warning", R"("w")"), Line("error", R"("e")")));
}

TEST(Log, TimeIsUtcWithMicroseconds) {
  CapturedLog log;
  Info("x");
  EXPECT_THAT(log.Text(),
              ::testing::MatchesRegex(R"(\{"time":"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:)"
                                      R"([0-9]{2}\.[0-9]{6}Z",.*\}
)"));
}

TEST(Log, AddsTraceIdsOnlyInsideATraceScope) {
  CapturedLog log;
  Info("before");
  {
    ScopedTraceContext trace({.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                              .span_id = "00f067aa0ba902b7",
                              .flags = 1});
    Info("inside", {{"k", "v"}});
  }
  Info("after");
  EXPECT_THAT(log.LinesWithoutTime(),
              ElementsAre(Line("info", R"("before")"),
                          Line("info", R"("inside")",
                               R"(,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736")"
                               R"(,"span_id":"00f067aa0ba902b7","k":"v")"),
                          Line("info", R"("after")")));
}

TEST(Log, PrefixesFieldsThatCollideWithFixedKeys) {
  CapturedLog log;
  Info("m", {{"time", "t"},
             {"level", "l"},
             {"service", "s"},
             {"msg", "x"},
             {"trace_id", "a"},
             {"span_id", "b"},
             {"message", "kept"}});
  EXPECT_THAT(log.LinesWithoutTime(),
              ElementsAre(Line("info", R"("m")",
                               R"(,"field.time":"t","field.level":"l","field.service":"s")"
                               R"(,"field.msg":"x","field.trace_id":"a","field.span_id":"b")"
                               R"(,"message":"kept")")));
}

TEST(Log, EscapesKeysAndValuesSoNoLineCanBeSplitOrForged) {
  CapturedLog log;
  Info("a\"b\\c\nd", {{"k\"\n", "v\"},\"level\":\"error"}});
  EXPECT_THAT(
      log.LinesWithoutTime(),
      ElementsAre(Line("info", R"("a\"b\\c\u000ad")", R"(,"k\"\u000a":"v\"},\"level\":\"error")")));
}

TEST(Log, CarriesTheServiceNameFromInit) {
  CapturedLog log;
  Init("members\"svc", Level::kInfo);
  Info("x");
  EXPECT_THAT(log.LinesWithoutTime(),
              ElementsAre(R"("level":"info","service":"members\"svc","msg":"x"})"));
}

TEST(Log, WritesEachFieldType) {
  CapturedLog log;
  const std::string text = "s";
  const std::string_view view = "v";
  const absl::string_view absl_view = "a";
  Info("m", {{"c_string", "c"},
             {"string", text},
             {"string_view", view},
             {"absl_string_view", absl_view},
             {"int", -7},
             {"int64", int64_t{9'007'199'254'740'993}},
             {"size", size_t{3}},
             {"uint64_max", std::numeric_limits<uint64_t>::max()},
             {"bool", false},
             {"double", 1e21},
             {"nan", std::nan("")},
             {"inf", -std::numeric_limits<double>::infinity()}});
  EXPECT_THAT(log.LinesWithoutTime(),
              ElementsAre(Line("info", R"("m")",
                               R"(,"c_string":"c","string":"s","string_view":"v")"
                               R"(,"absl_string_view":"a","int":-7,"int64":9007199254740993)"
                               R"(,"size":3,"uint64_max":"18446744073709551615","bool":false)"
                               R"(,"double":1e+21,"nan":"NaN","inf":"-Infinity")")));
}

TEST(Log, LinesFromManyThreadsNeverInterleave) {
  CapturedLog log;
  constexpr int kThreads = 8;
  constexpr int kLinesPerThread = 500;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLinesPerThread; ++i) {
        Info("line", {{"thread", t}, {"i", i}, {"padding", std::string(200, 'x')}});
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<std::string> lines = log.LinesWithoutTime();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads) * kLinesPerThread);
  const std::regex kWhole(R"("level":"info","service":"test-svc","msg":"line","thread":\d,)"
                          R"("i":\d+,"padding":"x{200}"\})");
  for (const std::string& line : lines) EXPECT_TRUE(std::regex_match(line, kWhole)) << line;
}

TEST(LogDeathTest, WritesToStderrByDefault) {
  EXPECT_EXIT(
      {
        Init("stderr-svc", Level::kInfo);
        Info("to stderr");
        std::exit(0);
      },
      ExitedWithCode(0), R"("service":"stderr-svc","msg":"to stderr"\}
$)");
}

TEST(JsonQuote, PassesPrintableAsciiAndValidUtf8Through) {
  EXPECT_EQ(JsonQuote(""), R"("")");
  EXPECT_EQ(JsonQuote("plain / text ~"), R"("plain / text ~")");
  // 2-, 3- and 4-byte sequences, including the largest code point.
  EXPECT_EQ(JsonQuote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\x81 \xf4\x8f\xbf\xbf"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\x81 \xf4\x8f\xbf\xbf\"");
}

TEST(JsonQuote, EscapesQuoteAndBackslash) {
  EXPECT_EQ(JsonQuote(R"(say "hi" \o/)"), R"("say \"hi\" \\o/")");
}

TEST(JsonQuote, EscapesEveryControlCharacter) {
  EXPECT_EQ(JsonQuote(std::string("\0\x01\t\n\r\x1f\x7f", 7)),
            R"("\u0000\u0001\u0009\u000a\u000d\u001f\u007f")");
  // C1 controls, e.g. U+009B (CSI), and the Unicode line and paragraph separators.
  EXPECT_EQ(JsonQuote("\xc2\x80\xc2\x9b\xc2\x9f\xc2\xa0"), "\"\\u0080\\u009b\\u009f\xc2\xa0\"");
  EXPECT_EQ(JsonQuote("a\xe2\x80\xa8"
                      "b\xe2\x80\xa9"
                      "c"),
            R"("a\u2028b\u2029c")");
}

TEST(JsonQuote, ReplacesInvalidUtf8WithReplacementCharacter) {
  struct Case {
    std::string input;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"\xff", R"("\ufffd")"},                                // never valid in UTF-8
           {"a\x80z", R"("a\ufffdz")"},                            // stray continuation byte
           {"\xc0\xaf", R"("\ufffd\ufffd")"},                      // overlong '/'
           {"\xe0\x80\xaf", R"("\ufffd\ufffd\ufffd")"},            // overlong, 3 bytes
           {"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},            // UTF-16 surrogate D800
           {"\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},  // above U+10FFFF
           {"\xe2\x82", R"("\ufffd")"},                            // truncated at the end
           {"\xe2\x82z", R"("\ufffdz")"},        // truncated: the next character survives
           {"\xf0\x9f\x8e\"", R"("\ufffd\"")"},  // truncated before a quote
           {"\xc3", R"("\ufffd")"},
       }) {
    EXPECT_EQ(JsonQuote(c.input), c.expected) << c.expected;
  }
}

TEST(Log, ReplacesInvalidUtf8InMessagesAndFields) {
  CapturedLog log;
  Info("bad \xff byte", {{"field", "\xe2\x82"}});
  EXPECT_THAT(log.LinesWithoutTime(),
              ElementsAre(Line("info", R"("bad \ufffd byte")", R"(,"field":"\ufffd")")));
}

}  // namespace
}  // namespace loyalty::log
