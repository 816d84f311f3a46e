#include "gateway/transcode/json_print.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testkit/message_fill.h"
#include "gateway/services.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/members/v1/members_service.pb.h"
#include "loyalty/points/v1/points_service.pb.h"

namespace loyalty::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::Message;

// What protobuf's own printer makes of `message`, with the options PrintJson promises.
std::string Protobuf(const Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(message, &json, options).ok());
  return json;
}

// Every request and response message of every service the gateway links, empty and filled.
TEST(PrintJson, PrintsEveryLinkedMessageExactlyAsProtobufDoes) {
  int messages = 0;
  int fast = 0;
  for (const LinkedService& service : LinkedServices()) {
    for (int m = 0; m < service.descriptor->method_count(); ++m) {
      const google::protobuf::MethodDescriptor& method = *service.descriptor->method(m);
      for (const Descriptor* type : {method.input_type(), method.output_type()}) {
        const Message* prototype =
            google::protobuf::MessageFactory::generated_factory()->GetPrototype(type);
        std::unique_ptr<Message> message(prototype->New());
        int counter = 0;
        for (const bool filled : {false, true}) {
          if (filled) testkit::Fill(*message, counter);
          ++messages;
          if (PrintJsonFastPath(*message).has_value()) ++fast;
          absl::StatusOr<std::string> printed = PrintJson(*message);
          ASSERT_TRUE(printed.ok()) << type->full_name();
          EXPECT_EQ(*printed, Protobuf(*message)) << type->full_name() << (filled ? " filled" : "");
        }
      }
    }
  }
  EXPECT_GT(messages, 40);
  EXPECT_GT(fast, messages / 2) << "most messages should take the fast path";
}

TEST(PrintJson, TheHotAnswersTakeTheFastPath) {
  int counter = 0;
  points::v1::RecordPurchaseResponse purchase;
  testkit::Fill(purchase, counter);
  EXPECT_TRUE(PrintJsonFastPath(purchase).has_value());
  points::v1::GetBalanceResponse balance;
  testkit::Fill(balance, counter);
  EXPECT_TRUE(PrintJsonFastPath(balance).has_value());
  members::v1::GetMemberResponse member;
  testkit::Fill(member, counter);
  EXPECT_TRUE(PrintJsonFastPath(member).has_value());
}

TEST(PrintJson, StringsProtobufWouldEscapeGoToProtobuf) {
  for (const std::string& name :
       {std::string("Zoë"), std::string("a\"b"), std::string("back\\slash"),
        std::string("<script>"), std::string("a&b=c"), std::string("it's"),
        std::string("tab\there"), std::string("nul\0byte", 8), std::string("del\x7f"),
        std::string("\xe2\x80\xa8line separator")}) {
    members::v1::Member member;
    member.mutable_profile()->set_display_name(name);
    EXPECT_FALSE(PrintJsonFastPath(member).has_value()) << name;
    EXPECT_EQ(*PrintJson(member), Protobuf(member)) << name;
  }
}

TEST(PrintJson, UnknownEnumValuesAndOddTimestampsGoToProtobuf) {
  members::v1::Member member;
  member.set_status(static_cast<members::v1::MemberStatus>(99));
  EXPECT_FALSE(PrintJsonFastPath(member).has_value());
  EXPECT_EQ(*PrintJson(member), Protobuf(member));

  points::v1::DatedPoints early;
  early.mutable_time()->set_seconds(-62135596800);  // 0001-01-01: protobuf pads the year
  EXPECT_FALSE(PrintJsonFastPath(early).has_value());
  EXPECT_EQ(*PrintJson(early), Protobuf(early));
  EXPECT_THAT(*PrintJson(early), ::testing::HasSubstr("0001-01-01T00:00:00Z"));

  points::v1::DatedPoints invalid;
  invalid.mutable_time()->set_nanos(-1);
  EXPECT_FALSE(PrintJsonFastPath(invalid).has_value());
  EXPECT_FALSE(PrintJson(invalid).ok());
}

TEST(PrintJson, TimestampsAcrossTheFastPathsRangePrintAsProtobufDoes) {
  // The edges of the range, both sides of 1970, leap days, century rules and each fraction length.
  for (const auto& [seconds, nanos] : std::vector<std::pair<int64_t, int32_t>>{
           {-30610224000, 0},          // 1000-01-01T00:00:00Z
           {253402300799, 999999999},  // 9999-12-31T23:59:59.999999999Z
           {-1, 1000},                 // 1969-12-31T23:59:59.000001Z
           {0, 0},                     // 1970-01-01T00:00:00Z
           {-86400, 500000000},        // 1969-12-31
           {951782400, 0},             // 2000-02-29
           {4107542400, 0},            // 2100-03-01 (2100 has no 29 February)
           {-2203891200, 0},           // 1900-03-01
           {1709251199, 123},          // 2024-02-29T23:59:59.000000123Z
           {-11644473600, 7000000},    // 1601-01-01
       }) {
    points::v1::DatedPoints dated;
    dated.mutable_time()->set_seconds(seconds);
    dated.mutable_time()->set_nanos(nanos);
    ASSERT_TRUE(PrintJsonFastPath(dated).has_value()) << seconds;
    EXPECT_EQ(*PrintJsonFastPath(dated), Protobuf(dated)) << seconds;
  }
  // Every day of a leap year and of the year before it, at a time of day that moves.
  for (int64_t day = 0; day < 731; ++day) {
    points::v1::DatedPoints dated;
    dated.mutable_time()->set_seconds(1'640'995'200 + day * 86'400 + day * 97 % 86'400);
    ASSERT_EQ(*PrintJsonFastPath(dated), Protobuf(dated)) << day;
  }
}

TEST(PrintJson, FastPathPrintsDefaultsAndLeavesUnsetMessagesOut) {
  points::v1::GetBalanceResponse empty;
  EXPECT_EQ(*PrintJsonFastPath(empty), "{}");
  points::v1::GetBalanceResponse zero;
  zero.mutable_balance();
  EXPECT_EQ(*PrintJsonFastPath(zero),
            R"({"balance":{"available":"0","pending":"0","held":"0","debt":"0",)"
            R"("lifetimeEarned":"0","nextExpiries":[],"upcomingAvailable":[]}})");
  points::v1::DatedPoints dated;
  dated.set_points(120);
  dated.mutable_time()->set_seconds(1800000000);
  dated.mutable_time()->set_nanos(5'000'000);
  EXPECT_EQ(*PrintJsonFastPath(dated), R"({"points":"120","time":"2027-01-15T08:00:00.005Z"})");
}

}  // namespace
}  // namespace loyalty::gateway
