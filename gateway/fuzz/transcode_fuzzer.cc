// libFuzzer target: the path matcher and the HTTP -> proto transcoding (query parsing, field
// binding, the fast JSON path and protobuf's JSON parser behind it) on arbitrary input. Whatever
// the fast JSON path (transcode/json_parse.h) reads, protobuf's parser must read alike.
//
// Input: byte 0 picks the HTTP method, then the request target up to the first '\n', then the
// body. Routes are those of members-svc and of the test service with every kind of rule. The
// target also goes through PathTemplate::Parse, which sees template text only at start-up but
// should not crash on anything either.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/check.h"
#include "gateway/http/path_template.h"
#include "gateway/http/router.h"
#include "gateway/transcode/json_parse.h"
#include "gateway/transcode/request_builder.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "loyalty/gatewaytest/v1/test_service.pb.h"
#include "loyalty/members/v1/members_service.pb.h"

namespace {

using loyalty::gateway::Router;

const Router& Routes() {
  static const Router* const router = [] {
    auto* built = new Router();
    LOYALTY_CHECK(
        built
            ->AddService(
                *loyalty::members::v1::GetMemberRequest::descriptor()->file()->FindServiceByName(
                    "MembersService"),
                "members")
            .ok());
    LOYALTY_CHECK(
        built
            ->AddService(
                *loyalty::gatewaytest::v1::ThingRequest::descriptor()->file()->FindServiceByName(
                    "ThingService"),
                "things")
            .ok());
    return built;
  }();
  return *router;
}

// The fast JSON path may only read what protobuf's parser reads, and into the same message.
void CheckFastJsonPath(const google::protobuf::Descriptor& type, std::string_view body) {
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(&type);
  std::unique_ptr<google::protobuf::Message> fast(prototype->New());
  if (!loyalty::gateway::ParseJsonFastPath(body, *fast)) return;
  std::unique_ptr<google::protobuf::Message> expected(prototype->New());
  LOYALTY_CHECK(google::protobuf::util::JsonStringToMessage(body, expected.get()).ok());
  LOYALTY_CHECK(google::protobuf::util::MessageDifferencer::Equals(*fast, *expected));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr const char* kMethods[] = {"GET", "POST", "PATCH", "PUT", "DELETE", "PURGE"};
  const char* method = kMethods[data[0] % (sizeof(kMethods) / sizeof(kMethods[0]))];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t newline = input.find('\n');
  const std::string_view target = input.substr(0, newline);
  const std::string_view body =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  (void)loyalty::gateway::PathTemplate::Parse(target);

  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  const Router::Result result = Routes().Match(method, path);
  if (result.outcome != Router::Outcome::kMatched) return 0;
  const loyalty::gateway::Route& route = *result.match.route;
  std::unique_ptr<google::protobuf::Message> request(
      google::protobuf::MessageFactory::generated_factory()
          ->GetPrototype(route.method->input_type())
          ->New());
  CheckFastJsonPath(*route.method->input_type(), body);
  if (route.body_field != nullptr) CheckFastJsonPath(*route.body_field->message_type(), body);
  if (loyalty::gateway::BuildRequest(result.match, query, body, *request).ok()) {
    // What would go upstream must serialize (strings valid UTF-8, and so on).
    std::string wire;
    LOYALTY_CHECK(request->SerializeToString(&wire));
  }
  return 0;
}
