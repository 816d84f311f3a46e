#include "common/json/json_print.h"

#include <memory>
#include <string>
#include <vector>

#include "common/testkit/message_fill.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/members/v1/member_events.pb.h"
#include "loyalty/members/v1/members_service.pb.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "loyalty/rewards/v1/reward_events.pb.h"
#include "loyalty/rewards/v1/rewards_service.pb.h"

namespace loyalty::json {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::Message;

// What protobuf's own printer makes of `message` with the same options.
std::string Protobuf(const Message& message, PrintOptions options) {
  google::protobuf::util::JsonPrintOptions protobuf_options;
  protobuf_options.always_print_primitive_fields = options.print_defaults;
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(message, &json, protobuf_options).ok());
  return json;
}

// Every message type declared in the services' and their events' proto files, nested ones too.
std::vector<const Descriptor*> EveryMessageType() {
  std::vector<const Descriptor*> types;
  std::vector<const Descriptor*> pending;
  for (const Descriptor* file_anchor :
       {members::v1::MemberEnrolled::descriptor(), members::v1::GetMemberRequest::descriptor(),
        points::v1::PointsEarned::descriptor(), points::v1::RecordPurchaseRequest::descriptor(),
        rewards::v1::RewardRedeemed::descriptor(),
        rewards::v1::RedeemRewardRequest::descriptor()}) {
    const google::protobuf::FileDescriptor& file = *file_anchor->file();
    for (int i = 0; i < file.message_type_count(); ++i) pending.push_back(file.message_type(i));
  }
  while (!pending.empty()) {
    const Descriptor* type = pending.back();
    pending.pop_back();
    if (type->options().map_entry()) continue;
    types.push_back(type);
    for (int i = 0; i < type->nested_type_count(); ++i) pending.push_back(type->nested_type(i));
  }
  return types;
}

// Both styles, every message empty, half filled (shallow) and filled, against protobuf.
TEST(PrintJson, PrintsEveryMessageExactlyAsProtobufDoesInBothStyles) {
  int printed_count = 0;
  int fast = 0;
  for (const Descriptor* type : EveryMessageType()) {
    const Message* prototype =
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(type);
    for (const bool print_defaults : {false, true}) {
      const PrintOptions options{.print_defaults = print_defaults};
      for (const int depth : {-1, 0, 4}) {
        std::unique_ptr<Message> message(prototype->New());
        int counter = 0;
        if (depth >= 0) testkit::Fill(*message, counter, {.depth = depth});
        ++printed_count;
        if (PrintJsonFastPath(*message, options).has_value()) ++fast;
        absl::StatusOr<std::string> printed = PrintJson(*message, options);
        ASSERT_TRUE(printed.ok()) << type->full_name();
        EXPECT_EQ(*printed, Protobuf(*message, options))
            << type->full_name() << " depth " << depth << " defaults " << print_defaults;
      }
    }
  }
  EXPECT_GT(printed_count, 300);
  EXPECT_GT(fast, printed_count / 2) << "most messages should take the fast path";
}

// The events every purchase and redemption writes take the fast path.
TEST(PrintJson, TheHotEventsTakeTheFastPath) {
  int counter = 0;
  points::v1::PointsEarned earned;
  testkit::Fill(earned, counter);
  EXPECT_TRUE(PrintJsonFastPath(earned).has_value());
  rewards::v1::RewardRedeemed redeemed;
  testkit::Fill(redeemed, counter);
  EXPECT_TRUE(PrintJsonFastPath(redeemed).has_value());
  members::v1::TierChanged tier;
  testkit::Fill(tier, counter);
  EXPECT_TRUE(PrintJsonFastPath(tier).has_value());
}

TEST(PrintJson, WithoutDefaultsOnlyWhatDiffersIsPrintedInFieldNumberOrder) {
  points::v1::DatedPoints dated;
  EXPECT_EQ(*PrintJsonFastPath(dated), "{}");
  dated.mutable_time()->set_seconds(1800000000);
  dated.set_points(120);
  EXPECT_EQ(*PrintJsonFastPath(dated), R"({"points":"120","time":"2027-01-15T08:00:00Z"})");
  dated.set_points(0);
  EXPECT_EQ(*PrintJsonFastPath(dated), R"({"time":"2027-01-15T08:00:00Z"})");
  EXPECT_EQ(*PrintJsonFastPath(dated, {.print_defaults = true}),
            R"({"points":"0","time":"2027-01-15T08:00:00Z"})");
}

}  // namespace
}  // namespace loyalty::json
