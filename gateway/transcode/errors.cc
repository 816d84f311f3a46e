#include "gateway/transcode/errors.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status/grpc_status.h"
#include "gateway/strings.h"
#include "gateway/transcode/json_print.h"
#include "google/protobuf/descriptor.h"
#include "google/rpc/error_details.pb.h"

namespace loyalty::gateway {
namespace {

// A status with one gateway ErrorInfo.
google::rpc::Status GatewayStatus(
    grpc::StatusCode code, std::string_view reason, std::string message,
    std::initializer_list<std::pair<std::string, std::string>> metadata) {
  google::rpc::Status status;
  status.set_code(static_cast<int>(code));
  status.set_message(std::move(message));
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(kGatewayErrorDomain));
  for (const auto& [key, value] : metadata) (*info.mutable_metadata())[key] = value;
  status.add_details()->PackFrom(info);
  return status;
}

ErrorReply Reply(google::rpc::Status status) {
  ErrorReply reply;
  reply.http_status = HttpStatusFromCode(static_cast<grpc::StatusCode>(status.code()));
  reply.body = StatusToJson(status);
  reply.status = std::move(status);
  return reply;
}

}  // namespace

int HttpStatusFromCode(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
    default:
      return 500;
  }
}

std::string StatusToJson(const google::rpc::Status& status) {
  absl::StatusOr<std::string> json = PrintJson(status);
  if (json.ok()) return *std::move(json);
  // Some detail is an Any this binary has no descriptor for: keep the details it can print.
  google::rpc::Status printable = status;
  printable.clear_details();
  for (const google::protobuf::Any& detail : status.details()) {
    const std::string_view url = detail.type_url();
    const size_t slash = url.rfind('/');
    const std::string type_name(url.substr(slash == std::string_view::npos ? 0 : slash + 1));
    if (google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type_name) !=
        nullptr) {
      *printable.add_details() = detail;
    }
  }
  json = PrintJson(printable);
  if (json.ok()) return *std::move(json);
  printable.clear_details();
  return PrintJson(printable).value_or(R"({"code":13,"message":"internal error","details":[]})");
}

ErrorReply UpstreamErrorReply(const grpc::Status& status, std::string_view upstream,
                              std::string_view trace_id) {
  const grpc::StatusCode code = status.error_code();
  if (code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN ||
      code == grpc::StatusCode::DATA_LOSS) {
    return Reply(GatewayStatus(code, kReasonInternal,
                               absl::StrCat("internal error; quote trace id ", Absl(trace_id)),
                               {{"trace_id", std::string(trace_id)}}));
  }
  google::rpc::Status details;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details()) &&
      details.details_size() > 0) {
    // Our services attach an ErrorInfo to every error: pass it on as it is, with the code of the
    // call (which is what the status is about) rather than trusting the copy inside.
    details.set_code(static_cast<int>(code));
    return Reply(std::move(details));
  }
  const std::string service(upstream);
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE: {
      ErrorReply reply = Reply(GatewayStatus(
          code, kReasonUpstreamUnavailable,
          absl::StrCat("the ", service, " service is unavailable; retry"), {{"service", service}}));
      reply.retry_after_seconds = 1;
      return reply;
    }
    case grpc::StatusCode::RESOURCE_EXHAUSTED: {
      ErrorReply reply = Reply(GatewayStatus(
          grpc::StatusCode::UNAVAILABLE, kReasonUpstreamOverloaded,
          absl::StrCat("the ", service, " service is busy; retry"), {{"service", service}}));
      reply.retry_after_seconds = 1;
      return reply;
    }
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Reply(GatewayStatus(code, kReasonUpstreamDeadlineExceeded,
                                 absl::StrCat("the ", service, " service did not answer in time"),
                                 {{"service", service}}));
    default:
      return Reply(GatewayStatus(code, kReasonUpstreamError,
                                 absl::StrCat("the ", service, " service failed the call"),
                                 {{"service", service}}));
  }
}

ErrorReply GatewayErrorReply(const absl::Status& status, int http_status) {
  const grpc::Status wire = ToGrpcStatus(status, kGatewayErrorDomain);
  google::rpc::Status rpc_status;
  if (!rpc_status.ParseFromString(wire.error_details())) {
    rpc_status.set_code(static_cast<int>(status.code()));
    rpc_status.set_message(std::string(status.message()));
  }
  ErrorReply reply = Reply(std::move(rpc_status));
  if (http_status != 0) reply.http_status = http_status;
  return reply;
}

}  // namespace loyalty::gateway
