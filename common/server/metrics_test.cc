#include "common/server/metrics.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status_code_enum.h"
#include "gtest/gtest.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace loyalty::server {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::SizeIs;
using Type = grpc::experimental::ServerRpcInfo::Type;

using Labels = std::map<std::string, std::string>;

// The label sets of family `name` in `registry`.
std::vector<Labels> LabelSets(prometheus::Registry& registry, const std::string& name) {
  std::vector<Labels> sets;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      Labels labels;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        labels[label.name] = label.value;
      }
      sets.push_back(std::move(labels));
    }
  }
  return sets;
}

TEST(GrpcCodeName, UsesTheGoNames) {
  std::vector<std::string> names;
  for (int code = 0; code <= 16; ++code) {
    names.emplace_back(GrpcCodeName(static_cast<grpc::StatusCode>(code)));
  }
  EXPECT_THAT(
      names, ElementsAre("OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
                         "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
                         "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal",
                         "Unavailable", "DataLoss", "Unauthenticated"));
}

TEST(GrpcCodeName, CodesOutsideTheCanonicalRangeReadUnknown) {
  EXPECT_EQ(GrpcCodeName(static_cast<grpc::StatusCode>(17)), "Unknown");
  EXPECT_EQ(GrpcCodeName(static_cast<grpc::StatusCode>(-1)), "Unknown");
}

TEST(ServerMetrics, AddMethodCreatesEveryChildAtZeroWithTheGoLabels) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry);

  metrics.AddMethod({"/loyalty.members.v1.MembersService/ListMembers", Type::SERVER_STREAMING});

  const Labels list_members = {{"grpc_type", "server_stream"},
                               {"grpc_service", "loyalty.members.v1.MembersService"},
                               {"grpc_method", "ListMembers"}};
  EXPECT_THAT(LabelSets(registry, "grpc_server_started_total"), Contains(list_members));
  EXPECT_THAT(LabelSets(registry, "grpc_server_handling_seconds"), Contains(list_members));
  Labels not_found = list_members;
  not_found["grpc_code"] = "NotFound";
  EXPECT_THAT(LabelSets(registry, "grpc_server_handled_total"), Contains(not_found));
  // 17 codes for the method and for "unknown".
  EXPECT_THAT(LabelSets(registry, "grpc_server_handled_total"), SizeIs(34));
}

TEST(ServerMetrics, ForMethodReturnsTheAddedMethodsChildren) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry);
  metrics.AddMethod({"/a.B/C", Type::UNARY});
  metrics.AddMethod({"/a.B/D", Type::UNARY});

  EXPECT_EQ(&metrics.ForMethod("/a.B/C"), &metrics.ForMethod("/a.B/C"));
  EXPECT_NE(&metrics.ForMethod("/a.B/C"), &metrics.ForMethod("/a.B/D"));
}

TEST(ServerMetrics, PathsNeverAddedShareTheUnknownChildren) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry);
  metrics.AddMethod({"/a.B/C", Type::UNARY});

  ServerMetrics::Method& unknown = metrics.ForMethod("/a.B/Other");
  EXPECT_EQ(&metrics.ForMethod("/x.Y/Z"), &unknown);
  EXPECT_EQ(&metrics.ForMethod(""), &unknown);
  EXPECT_NE(&metrics.ForMethod("/a.B/C"), &unknown);
  EXPECT_THAT(
      LabelSets(registry, "grpc_server_started_total"),
      Contains(Labels{
          {"grpc_type", "bidi_stream"}, {"grpc_service", "unknown"}, {"grpc_method", "unknown"}}));
}

TEST(ServerMetrics, AddedPathsNotOfTheFormServiceMethodAreLabelledUnknown) {
  for (const char* path : {"unknown", "/", "//", "/a.B/", "//C", "a.B/C"}) {
    prometheus::Registry registry;
    ServerMetrics metrics(registry);

    metrics.AddMethod({path, Type::UNARY});

    EXPECT_THAT(
        LabelSets(registry, "grpc_server_started_total"),
        Contains(Labels{
            {"grpc_type", "unary"}, {"grpc_service", "unknown"}, {"grpc_method", "unknown"}}))
        << "path: " << path;
  }
}

TEST(RegisterBuildInfo, SetsTheGaugeToOne) {
  prometheus::Registry registry;

  RegisterBuildInfo(registry, "members-svc", "1.4.0");

  const std::vector<prometheus::MetricFamily> families = registry.Collect();
  ASSERT_THAT(families, SizeIs(1));
  EXPECT_EQ(families[0].name, "loyalty_build_info");
  ASSERT_THAT(families[0].metric, SizeIs(1));
  EXPECT_EQ(families[0].metric[0].gauge.value, 1.0);
  EXPECT_THAT(LabelSets(registry, "loyalty_build_info"),
              ElementsAre(Labels{{"service", "members-svc"}, {"version", "1.4.0"}}));
}

}  // namespace
}  // namespace loyalty::server
