#include "common/status/grpc_status.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "common/status/error.h"
#include "google/protobuf/any.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace loyalty {
namespace {

static_assert(static_cast<int>(absl::StatusCode::kCancelled) ==
              static_cast<int>(grpc::StatusCode::CANCELLED));
static_assert(static_cast<int>(absl::StatusCode::kInvalidArgument) ==
              static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
static_assert(static_cast<int>(absl::StatusCode::kFailedPrecondition) ==
              static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
static_assert(static_cast<int>(absl::StatusCode::kAborted) ==
              static_cast<int>(grpc::StatusCode::ABORTED));
static_assert(static_cast<int>(absl::StatusCode::kUnavailable) ==
              static_cast<int>(grpc::StatusCode::UNAVAILABLE));
static_assert(static_cast<int>(absl::StatusCode::kUnauthenticated) ==
              static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));

constexpr std::string_view kTypeUrlPrefix = "type.googleapis.com/";

}  // namespace

google::rpc::Status ToRpcStatus(const absl::Status& status, std::string_view domain) {
  google::rpc::Status rpc_status;
  if (status.ok()) return rpc_status;
  rpc_status.set_code(static_cast<int>(status.code()));
  rpc_status.set_message(std::string(status.message()));

  google::rpc::ErrorInfo info;
  if (absl::optional<absl::Cord> payload =
          status.GetPayload(absl::string_view(kErrorInfoTypeUrl.data(), kErrorInfoTypeUrl.size()));
      payload.has_value()) {
    info.ParseFromString(std::string(*payload));
  }
  if (info.reason().empty()) {
    // absl::StatusCodeToString gives e.g. "FAILED_PRECONDITION", already UPPER_SNAKE.
    info.set_reason(absl::StatusCodeToString(status.code()));
  }
  // An error relayed from another service keeps the domain it was raised in.
  if (info.domain().empty()) info.set_domain(std::string(domain));
  rpc_status.add_details()->PackFrom(info);

  // Every other payload is a serialized google.rpc detail keyed by its Any type URL.
  status.ForEachPayload([&rpc_status](absl::string_view type_url, const absl::Cord& payload) {
    if (type_url == absl::string_view(kErrorInfoTypeUrl.data(), kErrorInfoTypeUrl.size())) {
      return;
    }
    google::protobuf::Any* any = rpc_status.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(payload));
  });
  return rpc_status;
}

grpc::Status ToGrpcStatus(const absl::Status& status, std::string_view domain) {
  if (status.ok()) return grpc::Status::OK;
  const google::rpc::Status rpc_status = ToRpcStatus(status, domain);
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), rpc_status.message(),
                      rpc_status.SerializeAsString());
}

absl::Status FromRpcStatus(const google::rpc::Status& status) {
  if (status.code() == 0) return absl::OkStatus();
  return FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(status.code()), status.message(),
                                     status.SerializeAsString()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status result(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  google::rpc::Status rpc_status;
  if (!status.error_details().empty() && rpc_status.ParseFromString(status.error_details())) {
    for (const google::protobuf::Any& detail : rpc_status.details()) {
      if (!absl::StartsWith(detail.type_url(),
                            absl::string_view(kTypeUrlPrefix.data(), kTypeUrlPrefix.size()))) {
        continue;
      }
      result.SetPayload(detail.type_url(), absl::Cord(detail.value()));
    }
  }
  return result;
}

}  // namespace loyalty
