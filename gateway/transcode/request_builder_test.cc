#include "gateway/transcode/request_builder.h"

#include <string>

#include "common/status/error.h"
#include "common/testkit/invalid_field.h"
#include "common/testkit/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loyalty/gatewaytest/v1/test_service.pb.h"

namespace loyalty::gateway {
namespace {

using gatewaytest::v1::ThingRequest;
using ::loyalty::testkit::IsInvalidField;
using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;
using ::testing::ElementsAre;
using C = absl::StatusCode;

class RequestBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(
        router_.AddService(*ThingRequest::descriptor()->file()->FindServiceByName("ThingService"),
                           "things"),
        IsOk());
  }

  absl::Status Build(const std::string& method, const std::string& target, const std::string& body,
                     ThingRequest& request) {
    const size_t question = target.find('?');
    Router::Result result = router_.Match(method, target.substr(0, question));
    EXPECT_EQ(result.outcome, Router::Outcome::kMatched) << target;
    if (result.outcome != Router::Outcome::kMatched) return absl::NotFoundError(target);
    const std::string query = question == std::string::npos ? "" : target.substr(question + 1);
    return BuildRequest(result.match, query, body, request);
  }

  Router router_;
};

TEST_F(RequestBuilderTest, PathVariablesAndQueryParametersSetFieldsOfEveryType) {
  ThingRequest request;
  ASSERT_THAT(Build("GET",
                    "/v1/shelves/s%201/things?"
                    "bigNumber=-9007199254740993&small_number=7&tags=a&tags=b+c&color=COLOR_BLUE"
                    "&when=2026-01-15T12:00:00Z&updateMask=bigNumber,inner.count&flag=true"
                    "&blob=aGk%3D&ratio=0.25&wrapped=42&inner.innermost.note=deep%2Fnote"
                    "&numbers=1&numbers=2&weight=1.5&unsignedBig=18446744073709551615"
                    "&inner.count=3",
                    "", request),
              IsOk());
  EXPECT_EQ(request.shelf(), "s 1");
  EXPECT_EQ(request.big_number(), -9007199254740993);
  EXPECT_EQ(request.small_number(), 7);
  EXPECT_THAT(request.tags(), ElementsAre("a", "b c"));
  EXPECT_EQ(request.color(), gatewaytest::v1::COLOR_BLUE);
  EXPECT_EQ(request.when().seconds(), 1768478400);
  EXPECT_THAT(request.update_mask().paths(), ElementsAre("big_number", "inner.count"));
  EXPECT_TRUE(request.flag());
  EXPECT_EQ(request.blob(), "hi");
  EXPECT_EQ(request.ratio(), 0.25);
  EXPECT_EQ(request.wrapped().value(), 42);
  EXPECT_EQ(request.inner().innermost().note(), "deep/note");
  EXPECT_THAT(request.numbers(), ElementsAre(1, 2));
  EXPECT_EQ(request.weight(), 1.5f);
  EXPECT_EQ(request.unsigned_big(), 18446744073709551615u);
  EXPECT_EQ(request.inner().count(), 3u);
}

TEST_F(RequestBuilderTest, EnumsTakeNumbersThatAreDefined) {
  ThingRequest request;
  ASSERT_THAT(Build("GET", "/v1/shelves/s/things?color=1", "", request), IsOk());
  EXPECT_EQ(request.color(), gatewaytest::v1::COLOR_RED);
  ThingRequest unknown;
  EXPECT_TRUE(IsInvalidField(Build("GET", "/v1/shelves/s/things?color=9", "", unknown), "color",
                             kReasonInvalidFieldValue));
}

TEST_F(RequestBuilderTest, BadQueryValuesNameTheField) {
  struct Case {
    const char* query;
    const char* field;
  };
  for (const Case& c :
       {Case{"bigNumber=12x", "big_number"}, Case{"smallNumber=3000000000", "small_number"},
        Case{"flag=yes", "flag"}, Case{"when=yesterday", "when"}, Case{"blob=%%%", ""},
        Case{"unsignedBig=-1", "unsigned_big"}, Case{"ratio=abc", "ratio"},
        Case{"inner.count=-1", "inner.count"}, Case{"shelf2=x", ""}}) {
    ThingRequest request;
    const absl::Status status =
        Build("GET", std::string("/v1/shelves/s/things?") + c.query, "", request);
    EXPECT_EQ(status.code(), C::kInvalidArgument) << c.query;
    if (std::string(c.field).empty()) continue;
    EXPECT_TRUE(IsInvalidField(status, c.field, kReasonInvalidFieldValue)) << c.query << status;
  }
}

TEST_F(RequestBuilderTest, UnknownQueryParametersAreUnknownFields) {
  ThingRequest request;
  EXPECT_TRUE(IsInvalidField(Build("GET", "/v1/shelves/s/things?colour=1", "", request), "colour",
                             kReasonUnknownField));
  EXPECT_TRUE(IsInvalidField(Build("GET", "/v1/shelves/s/things?inner.nope=1", "", request),
                             "inner.nope", kReasonUnknownField));
}

TEST_F(RequestBuilderTest, QueryCannotOverrideThePathOrTheBody) {
  ThingRequest request;
  EXPECT_TRUE(IsInvalidField(Build("GET", "/v1/shelves/s/things?shelf=other", "", request), "shelf",
                             kReasonUnknownField));
  EXPECT_TRUE(
      IsInvalidField(Build("PATCH", "/v1/shelves/s/things/t?inner.id=x", R"({"id":"y"})", request),
                     "inner.id", kReasonUnknownField));
  EXPECT_TRUE(IsInvalidField(Build("POST", "/v1/shelves/s/things?flag=true", "{}", request), "flag",
                             kReasonUnknownField));
}

TEST_F(RequestBuilderTest, SingularParametersGivenTwiceAreRefused) {
  ThingRequest request;
  EXPECT_TRUE(IsInvalidField(Build("GET", "/v1/shelves/s/things?flag=true&flag=false", "", request),
                             "flag", kReasonInvalidFieldValue));
}

TEST_F(RequestBuilderTest, MessageAndMapFieldsCannotComeFromTheQuery) {
  ThingRequest request;
  EXPECT_TRUE(IsInvalidField(Build("GET", "/v1/shelves/s/things?inner=x", "", request), "inner",
                             kReasonInvalidFieldValue));
  EXPECT_EQ(Build("GET", "/v1/shelves/s/things?labels=x", "", request).code(), C::kInvalidArgument);
}

TEST_F(RequestBuilderTest, WholeBodyIsTheRequestAndThePathWinsOverIt) {
  ThingRequest request;
  ASSERT_THAT(Build("POST", "/v1/shelves/s1/things",
                    R"({"shelf":"evil","name":"n","bigNumber":"12","inner":{"count":2},)"
                    R"("labels":{"k":"v"},"updateMask":"bigNumber"})",
                    request),
              IsOk());
  EXPECT_EQ(request.shelf(), "s1");
  EXPECT_EQ(request.name(), "n");
  EXPECT_EQ(request.big_number(), 12);
  EXPECT_EQ(request.inner().count(), 2u);
  EXPECT_EQ(request.labels().at("k"), "v");
  EXPECT_THAT(request.update_mask().paths(), ElementsAre("big_number"));
}

TEST_F(RequestBuilderTest, BodyFieldRoutesTakeTheFieldFromTheBodyAndTheRestFromTheQuery) {
  ThingRequest request;
  ASSERT_THAT(Build("PATCH", "/v1/shelves/s/things/t?updateMask=count&requestId=k1",
                    R"({"id":"i","count":5})", request),
              IsOk());
  EXPECT_EQ(request.inner().id(), "i");
  EXPECT_EQ(request.inner().count(), 5u);
  EXPECT_THAT(request.update_mask().paths(), ElementsAre("count"));
  EXPECT_EQ(request.request_id(), "k1");
  EXPECT_EQ(request.name(), "t");
}

TEST_F(RequestBuilderTest, EmptyBodyReadsAsAnEmptyObject) {
  ThingRequest request;
  ASSERT_THAT(Build("POST", "/v1/shelves/s/things/t:archive", "", request), IsOk());
  EXPECT_EQ(request.name(), "t");
}

TEST_F(RequestBuilderTest, BodyOnARouteWithoutOneIsRefused) {
  ThingRequest request;
  EXPECT_THAT(Build("GET", "/v1/shelves/s/things", "{}", request),
              StatusIs(C::kInvalidArgument, std::string(kReasonUnexpectedBody)));
}

TEST_F(RequestBuilderTest, JsonErrorsAreClassifiedAndNameTheField) {
  ThingRequest request;
  EXPECT_THAT(Build("POST", "/v1/shelves/s/things", R"({"name":"x")", request),
              StatusIs(C::kInvalidArgument, std::string(kReasonMalformedJson)));
  EXPECT_THAT(Build("POST", "/v1/shelves/s/things", "[1]", request),
              StatusIs(C::kInvalidArgument, std::string(kReasonMalformedJson)));
  EXPECT_THAT(Build("POST", "/v1/shelves/s/things", "{\"name\":\"\xff\"}", request),
              StatusIs(C::kInvalidArgument, std::string(kReasonMalformedJson)));
  EXPECT_TRUE(IsInvalidField(Build("POST", "/v1/shelves/s/things", R"({"nmae":"x"})", request),
                             "nmae", kReasonUnknownField));
  EXPECT_TRUE(IsInvalidField(
      Build("POST", "/v1/shelves/s/things", R"({"inner":{"innermost":{"bogus":1}}})", request),
      "inner.innermost.bogus", kReasonUnknownField));
  EXPECT_TRUE(
      IsInvalidField(Build("POST", "/v1/shelves/s/things", R"({"bigNumber":"ten"})", request),
                     "big_number", kReasonInvalidFieldValue));
  EXPECT_TRUE(IsInvalidField(Build("POST", "/v1/shelves/s/things", R"({"inner":[]})", request),
                             "inner", kReasonInvalidFieldValue));
  // Errors inside a body field are named from the request's root.
  EXPECT_TRUE(IsInvalidField(Build("PATCH", "/v1/shelves/s/things/t", R"({"count":"x"})", request),
                             "inner.count", kReasonInvalidFieldValue));
  EXPECT_TRUE(IsInvalidField(Build("PATCH", "/v1/shelves/s/things/t", R"({"cnt":1})", request),
                             "inner.cnt", kReasonUnknownField));
}

TEST_F(RequestBuilderTest, StringsFromThePathMustBeValidUtf8) {
  ThingRequest request;
  EXPECT_TRUE(IsInvalidField(Build("GET", "/v1/shelves/%ff/things", "", request), "shelf",
                             kReasonInvalidFieldValue));
  ASSERT_THAT(Build("GET", "/v1/shelves/%C3%A9/things", "", request), IsOk());
  EXPECT_EQ(request.shelf(), "\xc3\xa9");
}

TEST(ParseQuery, DecodesFormEncodingAndBoundsTheCount) {
  absl::StatusOr<std::vector<QueryParameter>> parameters = ParseQuery("a=1&&b=x+y%21&c");
  ASSERT_TRUE(parameters.ok());
  ASSERT_EQ(parameters->size(), 3u);
  EXPECT_EQ((*parameters)[1].value, "x y!");
  EXPECT_EQ((*parameters)[2].name, "c");
  EXPECT_EQ((*parameters)[2].value, "");
  EXPECT_THAT(ParseQuery("a=%zz"),
              StatusIs(C::kInvalidArgument, std::string(kReasonMalformedQuery)));
  EXPECT_THAT(ParseQuery("=1"), StatusIs(C::kInvalidArgument, std::string(kReasonMalformedQuery)));
  std::string many;
  for (size_t i = 0; i <= kQueryParametersMax; ++i) many += "a=1&";
  EXPECT_THAT(ParseQuery(many), StatusIs(C::kInvalidArgument, std::string(kReasonMalformedQuery)));
}

TEST(IsValidUtf8, AcceptsWellFormedAndRefusesOverlongSurrogatesAndTruncated) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

}  // namespace
}  // namespace loyalty::gateway
