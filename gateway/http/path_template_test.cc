#include "gateway/http/path_template.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loyalty::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

std::optional<std::vector<std::string>> MatchText(const std::string& pattern,
                                                  const std::string& path) {
  absl::StatusOr<PathTemplate> parsed = PathTemplate::Parse(pattern);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<RequestPath> request = RequestPath::Parse(path);
  if (!request.ok()) return std::nullopt;
  return parsed->Match(*request);
}

TEST(PathTemplate, ParsesLiteralsVariablesAndVerb) {
  absl::StatusOr<PathTemplate> parsed =
      PathTemplate::Parse("/v1/programs/{program}/members/{member}:suspend");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->segments().size(), 5u);
  EXPECT_EQ(parsed->segments()[0].literal, "v1");
  EXPECT_EQ(parsed->segments()[2].kind, TemplateSegment::Kind::kSingle);
  EXPECT_EQ(parsed->verb(), "suspend");
  ASSERT_EQ(parsed->variables().size(), 2u);
  EXPECT_EQ(parsed->variables()[0].field_path, "program");
  EXPECT_EQ(parsed->variables()[1].first_segment, 4u);
  EXPECT_FALSE(parsed->variables()[1].multi_segment);
}

TEST(PathTemplate, SingleVariablesMatchOneSegmentAndAreDecoded) {
  EXPECT_THAT(MatchText("/v1/programs/{program}", "/v1/programs/demo"),
              Optional(ElementsAre("demo")));
  EXPECT_THAT(MatchText("/v1/programs/{program}", "/v1/programs/a%20b%2Fc"),
              Optional(ElementsAre("a b/c")));
  EXPECT_EQ(MatchText("/v1/programs/{program}", "/v1/programs/demo/x"), std::nullopt);
  EXPECT_EQ(MatchText("/v1/programs/{program}", "/v1/programs"), std::nullopt);
  EXPECT_EQ(MatchText("/v1/programs/{program}", "/v1/programs/"), std::nullopt);
  EXPECT_EQ(MatchText("/v1/programs/{program}", "/v2/programs/demo"), std::nullopt);
}

TEST(PathTemplate, MultiSegmentVariablesKeepEncodedSlashes) {
  EXPECT_THAT(MatchText("/v1/{name=programs/*/members/*}", "/v1/programs/p/members/m"),
              Optional(ElementsAre("programs/p/members/m")));
  EXPECT_THAT(MatchText("/v1/{name=programs/*/members/*}", "/v1/programs/p%2Fq/members/m"),
              Optional(ElementsAre("programs/p%2Fq/members/m")));
  EXPECT_EQ(MatchText("/v1/{name=programs/*/members/*}", "/v1/programs/p/other/m"), std::nullopt);
}

TEST(PathTemplate, DoubleWildcardTakesTheRestIncludingNothing) {
  EXPECT_THAT(MatchText("/files/{path=**}", "/files/a/b/c"), Optional(ElementsAre("a/b/c")));
  EXPECT_THAT(MatchText("/files/{path=**}", "/files"), Optional(ElementsAre("")));
  EXPECT_THAT(MatchText("/files/{path=**}:get", "/files/a/b:get"), Optional(ElementsAre("a/b")));
}

TEST(PathTemplate, VerbMustMatchExactlyAndIsNotPartOfTheVariable) {
  EXPECT_THAT(MatchText("/v1/members/{member}:suspend", "/v1/members/m1:suspend"),
              Optional(ElementsAre("m1")));
  EXPECT_EQ(MatchText("/v1/members/{member}:suspend", "/v1/members/m1:reactivate"), std::nullopt);
  EXPECT_EQ(MatchText("/v1/members/{member}:suspend", "/v1/members/m1"), std::nullopt);
  EXPECT_EQ(MatchText("/v1/members/{member}:suspend", "/v1/members/:suspend"), std::nullopt);
  // Without a verb in the template, a colon is just part of the segment.
  EXPECT_THAT(MatchText("/v1/members/{member}", "/v1/members/m1:suspend"),
              Optional(ElementsAre("m1:suspend")));
}

TEST(PathTemplate, LiteralsCompareDecoded) {
  EXPECT_THAT(MatchText("/v1/programs", "/v1/pro%67rams"), Optional(ElementsAre()));
}

TEST(PathTemplate, RejectsTemplatesOutsideTheGrammar) {
  for (const char* bad :
       {"", "v1/programs", "/v1//x", "/v1/{}", "/v1/{a.}", "/v1/{a=**}/x", "/v1/{a={b}}",
        "/v1/{a}/{a}", "/v1/x:", "/v1/x:a/b", "/v1/{a", "/v1/a b", "/v1/**/x", "/v1/{1a}"}) {
    EXPECT_FALSE(PathTemplate::Parse(bad).ok()) << bad;
  }
}

TEST(PathTemplate, SpecificityPrefersVerbsThenLiterals) {
  const int verb = PathTemplate::Parse("/v1/{a}/{b}:x")->specificity();
  const int literal = PathTemplate::Parse("/v1/a/{b}")->specificity();
  const int variable = PathTemplate::Parse("/v1/{a}/{b}")->specificity();
  EXPECT_GT(verb, literal);
  EXPECT_GT(literal, variable);
}

TEST(RequestPath, RejectsBadEscapesNulsAndOversizedPaths) {
  EXPECT_FALSE(RequestPath::Parse("relative").ok());
  EXPECT_FALSE(RequestPath::Parse("/a%2").ok());
  EXPECT_FALSE(RequestPath::Parse("/a%zz").ok());
  EXPECT_FALSE(RequestPath::Parse("/a%00b").ok());
  EXPECT_FALSE(RequestPath::Parse("/" + std::string(kRequestPathBytesMax, 'a')).ok());
  std::string deep;
  for (size_t i = 0; i <= kRequestPathSegmentsMax; ++i) deep += "/a";
  EXPECT_FALSE(RequestPath::Parse(deep).ok());
  EXPECT_TRUE(RequestPath::Parse("/a%2Fb%20c").ok());
}

TEST(PercentDecode, DecodesAndOptionallyKeepsSlashes) {
  EXPECT_EQ(PercentDecode("a%41%2f", /*keep_slash=*/false), "aA/");
  EXPECT_EQ(PercentDecode("a%41%2f", /*keep_slash=*/true), "aA%2f");
  EXPECT_EQ(PercentDecode("%4", false), std::nullopt);
  EXPECT_EQ(PercentDecode("%", false), std::nullopt);
}

}  // namespace
}  // namespace loyalty::gateway
