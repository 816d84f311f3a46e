#include "common/log/trace.h"

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loyalty::log {
namespace {

using ::testing::MatchesRegex;
using ::testing::Optional;

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kSpanId[] = "00f067aa0ba902b7";
constexpr char kHeader[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(ParseTraceParent, ReadsAVersion00Header) {
  EXPECT_THAT(ParseTraceParent(kHeader),
              Optional(TraceContext{.trace_id = kTraceId, .span_id = kSpanId, .flags = 0x01}));
  EXPECT_THAT(ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
              Optional(TraceContext{.trace_id = kTraceId, .span_id = kSpanId, .flags = 0x00}));
}

TEST(ParseTraceParent, KeepsEveryFlagBitOfVersion00) {
  std::optional<TraceContext> context =
      ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-a3");
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->flags, 0xa3);
}

TEST(ParseTraceParent, RejectsMalformedHeaders) {
  for (const char* header : {
           "",
           "00",
           // Wrong lengths of each part.
           "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e47360-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b70-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
           "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           // Version 00 allows nothing after the flags.
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
           // Uppercase and non-hex digits.
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
           "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
           "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           // Wrong separators.
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
           " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           // All-zero ids.
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           // Version ff is invalid whatever follows.
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
       }) {
    EXPECT_EQ(ParseTraceParent(header), std::nullopt) << header;
  }
}

TEST(ParseTraceParent, ReadsTheVersion00PrefixOfAHigherVersion) {
  EXPECT_THAT(ParseTraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
              Optional(TraceContext{.trace_id = kTraceId, .span_id = kSpanId, .flags = 0x01}));
  EXPECT_THAT(
      ParseTraceParent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future"),
      Optional(TraceContext{.trace_id = kTraceId, .span_id = kSpanId, .flags = 0x01}));
}

TEST(ParseTraceParent, KeepsOnlyTheSampledFlagOfAHigherVersion) {
  std::optional<TraceContext> context =
      ParseTraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe");
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->flags, 0x00);
}

TEST(ParseTraceParent, RejectsAHigherVersionWithoutADashAfterTheFlags) {
  EXPECT_EQ(ParseTraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"),
            std::nullopt);
  EXPECT_EQ(ParseTraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"),
            std::nullopt);
}

TEST(FormatTraceParent, WritesVersion00) {
  EXPECT_EQ(FormatTraceParent({.trace_id = kTraceId, .span_id = kSpanId, .flags = 0x01}), kHeader);
  EXPECT_EQ(FormatTraceParent({.trace_id = kTraceId, .span_id = kSpanId, .flags = 0xa3}),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-a3");
}

TEST(FormatTraceParent, RoundTripsThroughParse) {
  const TraceContext context = NewTraceContext();
  EXPECT_THAT(ParseTraceParent(FormatTraceParent(context)), Optional(context));
}

TEST(NewTraceContext, MakesValidSampledIds) {
  for (int i = 0; i < 100; ++i) {
    const TraceContext context = NewTraceContext();
    EXPECT_THAT(context.trace_id, MatchesRegex("[0-9a-f]{32}"));
    EXPECT_THAT(context.span_id, MatchesRegex("[0-9a-f]{16}"));
    EXPECT_NE(context.trace_id, std::string(32, '0'));
    EXPECT_NE(context.span_id, std::string(16, '0'));
    EXPECT_EQ(context.flags, kTraceFlagSampled);
  }
}

TEST(NewTraceContext, MakesDistinctIdsAcrossThreads) {
  constexpr int kPerThread = 1000;
  std::set<std::string> a;
  std::set<std::string> b;
  std::thread other([&] {
    for (int i = 0; i < kPerThread; ++i) a.insert(NewTraceContext().trace_id);
  });
  for (int i = 0; i < kPerThread; ++i) b.insert(NewTraceContext().trace_id);
  other.join();
  a.merge(b);
  EXPECT_EQ(a.size(), 2u * kPerThread);
}

TEST(ChildOf, KeepsTraceIdAndFlagsWithANewSpanId) {
  const TraceContext parent{.trace_id = kTraceId, .span_id = kSpanId, .flags = 0x00};
  const TraceContext child = ChildOf(parent);
  EXPECT_EQ(child.trace_id, kTraceId);
  EXPECT_EQ(child.flags, 0x00);
  EXPECT_THAT(child.span_id, MatchesRegex("[0-9a-f]{16}"));
  EXPECT_NE(child.span_id, kSpanId);
}

TEST(ScopedTraceContext, SetsAndRestoresTheCurrentContext) {
  EXPECT_EQ(CurrentTraceContext(), nullptr);
  {
    ScopedTraceContext scope({.trace_id = kTraceId, .span_id = kSpanId, .flags = 1});
    ASSERT_NE(CurrentTraceContext(), nullptr);
    EXPECT_EQ(CurrentTraceContext()->span_id, kSpanId);
    EXPECT_EQ(CurrentTraceContext(), &scope.context());
  }
  EXPECT_EQ(CurrentTraceContext(), nullptr);
}

TEST(ScopedTraceContext, NestsAndUnwindsInOrder) {
  const TraceContext outer = NewTraceContext();
  ScopedTraceContext outer_scope(outer);
  {
    const TraceContext inner = ChildOf(outer);
    ScopedTraceContext inner_scope(inner);
    EXPECT_EQ(*CurrentTraceContext(), inner);
    {
      ScopedTraceContext innermost_scope(ChildOf(inner));
      EXPECT_EQ(CurrentTraceContext()->trace_id, outer.trace_id);
      EXPECT_NE(CurrentTraceContext()->span_id, inner.span_id);
    }
    EXPECT_EQ(*CurrentTraceContext(), inner);
  }
  EXPECT_EQ(*CurrentTraceContext(), outer);
}

TEST(ScopedTraceContext, IsPerThread) {
  ScopedTraceContext scope(NewTraceContext());
  const TraceContext* seen_by_other_thread = &scope.context();
  std::thread other([&] { seen_by_other_thread = CurrentTraceContext(); });
  other.join();
  EXPECT_EQ(seen_by_other_thread, nullptr);
  EXPECT_EQ(CurrentTraceContext(), &scope.context());
}

TEST(ScopedTraceContextDeathTest, EndingOutOfOrderIsAProgrammerError) {
  EXPECT_DEATH(
      {
        auto outer = std::make_unique<ScopedTraceContext>(NewTraceContext());
        ScopedTraceContext inner(NewTraceContext());
        outer.reset();
      },
      "LOYALTY_CHECK");
}

}  // namespace
}  // namespace loyalty::log
