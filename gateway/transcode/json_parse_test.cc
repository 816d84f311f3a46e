#include "gateway/transcode/json_parse.h"

#include <memory>
#include <string>
#include <vector>

#include "common/testkit/invalid_field.h"
#include "common/testkit/message_fill.h"
#include "gateway/services.h"
#include "gateway/transcode/request_builder.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "loyalty/gatewaytest/v1/test_service.pb.h"
#include "loyalty/points/v1/points_service.pb.h"

namespace loyalty::gateway {
namespace {

using gatewaytest::v1::ThingRequest;
using google::protobuf::Descriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

std::unique_ptr<Message> NewMessage(const Descriptor& type) {
  return std::unique_ptr<Message>(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(&type)->New());
}

// The property the fast path promises: when it reads `json` at all, protobuf's parser reads it
// too, into an equal message. Returns whether the fast path read it.
bool FastPathAgreesWithProtobuf(const Descriptor& type, const std::string& json) {
  std::unique_ptr<Message> fast = NewMessage(type);
  if (!ParseJsonFastPath(json, *fast)) return false;
  std::unique_ptr<Message> expected = NewMessage(type);
  const auto status = google::protobuf::util::JsonStringToMessage(json, expected.get());
  EXPECT_TRUE(status.ok()) << type.full_name() << " " << json
                           << ": the fast path read what protobuf refuses: " << status.message();
  EXPECT_TRUE(MessageDifferencer::Equals(*fast, *expected))
      << type.full_name() << " " << json << "\nfast path: " << fast->ShortDebugString()
      << "\nprotobuf:  " << expected->ShortDebugString();
  return true;
}

std::vector<const Descriptor*> EveryLinkedMessage() {
  std::vector<const Descriptor*> types = {ThingRequest::descriptor()};
  for (const LinkedService& service : LinkedServices()) {
    for (int m = 0; m < service.descriptor->method_count(); ++m) {
      types.push_back(service.descriptor->method(m)->input_type());
      types.push_back(service.descriptor->method(m)->output_type());
    }
  }
  return types;
}

// Every request and response message of every linked service, filled with every field the fast
// path reads (and, apart, with every field), printed by protobuf with JSON or proto field names and
// with or without default values: the fast path must read each of those texts as protobuf does.
TEST(ParseJsonFastPath, ReadsEveryLinkedMessageAsProtobufDoes) {
  int texts = 0;
  int fast = 0;
  for (const Descriptor* type : EveryLinkedMessage()) {
    for (const bool fast_parse_only : {true, false}) {
      std::unique_ptr<Message> message = NewMessage(*type);
      int counter = 0;
      testkit::Fill(*message, counter, {.depth = 3, .fast_parse_only = fast_parse_only});
      for (const bool proto_names : {false, true}) {
        for (const bool defaults : {false, true}) {
          google::protobuf::util::JsonPrintOptions options;
          options.preserve_proto_field_names = proto_names;
          options.always_print_primitive_fields = defaults;
          options.add_whitespace = defaults;  // spaces and line breaks between tokens too
          std::string json;
          ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*message, &json, options).ok());
          ++texts;
          if (FastPathAgreesWithProtobuf(*type, json)) ++fast;
        }
      }
    }
  }
  EXPECT_GT(texts, 200);
  EXPECT_GT(fast, texts / 3) << "the plain texts should take the fast path";
}

TEST(ParseJsonFastPath, ReadsThePurchaseBody) {
  points::v1::RecordPurchaseRequest request;
  ASSERT_TRUE(ParseJsonFastPath(
      R"({"orderId":"o-1","currencyCode":"EUR","totalMinor":"4999",)"
      R"( "lines":[{"sku":"A-1","category":"shoes","quantity":2,"unitPriceMinor":"1500"}]})",
      request));
  EXPECT_EQ(request.order_id(), "o-1");
  EXPECT_EQ(request.currency_code(), "EUR");
  EXPECT_EQ(request.total_minor(), 4999);
  ASSERT_EQ(request.lines_size(), 1);
  EXPECT_EQ(request.lines(0).sku(), "A-1");
  EXPECT_EQ(request.lines(0).quantity(), 2);
  EXPECT_EQ(request.lines(0).unit_price_minor(), 1500);
}

// Texts the fast path reads, each checked against protobuf.
TEST(ParseJsonFastPath, ReadsPlainValuesOfEveryKind) {
  for (const std::string json : {
           R"({})", " \t\r\n{ } \n",
           R"({"shelf":"s","name":"","bigNumber":-9007199254740993,"smallNumber":2147483647})",
           R"({"big_number":"-9223372036854775808","small_number":"-2147483648"})",
           R"({"unsignedBig":18446744073709551615,"numbers":[0,-1,"7"],"tags":[]})",
           R"({"unsignedBig":"0","numbers":[],"tags":["a","b c"]})",
           R"({"flag":true,"color":"COLOR_BLUE"})", R"({"flag":false,"color":"COLOR_UNSPECIFIED"})",
           R"({"inner":{}})",
           R"({"inner":{"id":"i","count":4294967295,"innermost":{"note":"n/o:te"}}})",
           R"({"request_id":"k","requestId2":1})",  // unknown field: protobuf's
       }) {
    const bool unknown_field = json.find("requestId2") != std::string::npos;
    EXPECT_EQ(FastPathAgreesWithProtobuf(*ThingRequest::descriptor(), json), !unknown_field)
        << json;
  }
}

// What the fast path leaves to protobuf: whatever it cannot read with certainty, and every error.
TEST(ParseJsonFastPath, LeavesAnythingUnusualToProtobuf) {
  for (const std::string json : {
           "",
           "[]",
           "null",
           R"({"name":"x"} x)",
           R"({"name":"x",})",
           R"({"name":"x"  )",
           R"({name:"x"})",
           R"({'name':'x'})",
           R"({"name":"a\"b"})",
           R"({"name":"caf\u00e9"})",
           "{\"name\":\"caf\xc3\xa9\"}",
           "{\"name\":\"tab\there\"}",
           R"({"na\u006de":"x"})",
           R"({"name":null})",
           R"({"name":1})",
           R"({"name":"x","name":"y"})",
           R"({"name":"x","name":"x"})",
           R"({"bigNumber":1,"big_number":2})",
           R"({"bigNumber":1.0})",
           R"({"bigNumber":1e3})",
           R"({"bigNumber":"1e3"})",
           R"({"bigNumber":01})",
           R"({"bigNumber":-0})",
           R"({"bigNumber":+1})",
           R"({"bigNumber":" 1"})",
           R"({"bigNumber":9223372036854775808})",
           R"({"smallNumber":2147483648})",
           R"({"unsignedBig":-1})",
           R"({"inner":{"count":-1}})",
           R"({"numbers":[1,]})",
           R"({"numbers":[[1]]})",
           R"({"numbers":1})",
           R"({"tags":"a"})",
           R"({"flag":"true"})",
           R"({"flag":1})",
           R"({"flag":tru})",
           R"({"color":1})",
           R"({"color":"COLOR_GREEN"})",
           R"({"color":"color_blue"})",
           R"({"ratio":0.5})",
           R"({"weight":1})",
           R"({"blob":"aGk="})",
           R"({"when":"2026-01-15T12:00:00Z"})",
           R"({"updateMask":"name"})",
           R"({"wrapped":"42"})",
           R"({"labels":{"k":"v"}})",
           R"({"inner":[]})",
           R"({"inner":"x"})",
           R"({"nmae":"x"})",
       }) {
    ThingRequest request;
    EXPECT_FALSE(ParseJsonFastPath(json, request)) << json;
  }
}

// When the fast path gives up half way, ParseJsonInto starts over with protobuf's parser: nothing
// the fast path set survives, and the errors are protobuf's, naming the field.
TEST(ParseJsonInto, StartsOverWhenTheFastPathGivesUp) {
  points::v1::RecordPurchaseRequest request;
  const std::string json =
      R"({"orderId":"o","lines":[{"sku":"a"}],"occurTime":"2026-01-15T12:00:00.5Z"})";
  ASSERT_TRUE(ParseJsonInto(json, request, "").ok());
  points::v1::RecordPurchaseRequest expected;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &expected).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(request, expected)) << request.ShortDebugString();
  EXPECT_EQ(request.lines_size(), 1);

  EXPECT_TRUE(testkit::IsInvalidField(
      ParseJsonInto(R"({"orderId":"o","lines":[{"sku":"a","colour":"red"}]})", request, ""),
      "lines[0].colour", kReasonUnknownField));
  EXPECT_TRUE(testkit::IsInvalidField(
      ParseJsonInto(R"({"orderId":"o","totalMinor":"12x"})", request, "total"), "total.total_minor",
      kReasonInvalidFieldValue));
}

TEST(ParseJsonInto, ReplacesWhatTheMessageHeld) {
  points::v1::RecordPurchaseRequest request;
  request.set_order_id("old");
  request.add_lines()->set_sku("old");
  ASSERT_TRUE(ParseJsonInto(R"({"currencyCode":"EUR","lines":[{"sku":"new"}]})", request, "").ok());
  EXPECT_EQ(request.order_id(), "");
  ASSERT_EQ(request.lines_size(), 1);
  EXPECT_EQ(request.lines(0).sku(), "new");
}

}  // namespace
}  // namespace loyalty::gateway
