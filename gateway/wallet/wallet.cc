#include "gateway/wallet/wallet.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log/log.h"
#include "gateway/transcode/json_print.h"
#include "loyalty/members/v1/members_service.pb.h"
#include "loyalty/points/v1/points_service.pb.h"

namespace loyalty::gateway {
namespace {

constexpr char kGetMember[] = "/loyalty.members.v1.MembersService/GetMember";
constexpr char kGetTierStatus[] = "/loyalty.members.v1.MembersService/GetTierStatus";
constexpr char kGetBalance[] = "/loyalty.points.v1.PointsService/GetBalance";

// A part's result without fields yet; the part and the upstream that serves it share the name.
WalletPartResult ResultOf(std::string_view part, grpc::Status status) {
  WalletPartResult result;
  result.part = std::string(part);
  result.upstream = std::string(part);
  result.status = std::move(status);
  return result;
}

}  // namespace

bool IsPartialFailure(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

void AbsentWalletPart::Fetch(const WalletQuery& /*query*/,
                             std::function<void(WalletPartResult)> done) {
  WalletPartResult result =
      ResultOf(name_, grpc::Status(grpc::StatusCode::UNAVAILABLE, "not deployed"));
  result.absent = true;
  done(std::move(result));
}

void MembersWalletPart::Fetch(const WalletQuery& query,
                              std::function<void(WalletPartResult)> done) {
  struct Join {
    absl::Mutex mu;
    int pending ABSL_GUARDED_BY(mu) = 2;
    grpc::Status first_error ABSL_GUARDED_BY(mu);
    std::shared_ptr<members::v1::GetMemberResponse> member;
    std::shared_ptr<members::v1::GetTierStatusResponse> tier;
    std::function<void(WalletPartResult)> done;

    void Finish(const grpc::Status& status) {
      grpc::Status error;
      {
        absl::MutexLock lock(&mu);
        // A deciding error (NOT_FOUND) wins over a partial one from the other call.
        if (!status.ok() && (first_error.ok() || (IsPartialFailure(first_error.error_code()) &&
                                                  !IsPartialFailure(status.error_code())))) {
          first_error = status;
        }
        if (--pending > 0) return;
        error = first_error;
      }
      WalletPartResult result = ResultOf("members", error);
      if (error.ok()) {
        result.fields.emplace_back(
            "member", std::shared_ptr<const google::protobuf::Message>(member, &member->member()));
        result.fields.emplace_back("tierStatus", tier);
      }
      done(std::move(result));
    }
  };
  auto join = std::make_shared<Join>();
  join->member = std::make_shared<members::v1::GetMemberResponse>();
  join->tier = std::make_shared<members::v1::GetTierStatusResponse>();
  join->done = std::move(done);

  auto member_request = std::make_shared<members::v1::GetMemberRequest>();
  member_request->set_program(query.program);
  member_request->set_member(query.member);
  auto tier_request = std::make_shared<members::v1::GetTierStatusRequest>();
  tier_request->set_program(query.program);
  tier_request->set_member(query.member);
  upstreams_.Call("members", kGetMember, member_request, join->member, query.call,
                  [join](grpc::Status status) { join->Finish(status); });
  upstreams_.Call("members", kGetTierStatus, tier_request, join->tier, query.call,
                  [join](grpc::Status status) { join->Finish(status); });
}

void PointsWalletPart::Fetch(const WalletQuery& query, std::function<void(WalletPartResult)> done) {
  auto request = std::make_shared<points::v1::GetBalanceRequest>();
  request->set_program(query.program);
  request->set_member(query.member);
  auto response = std::make_shared<points::v1::GetBalanceResponse>();
  upstreams_.Call("points", kGetBalance, std::move(request), response, query.call,
                  [response, done = std::move(done)](grpc::Status status) {
                    WalletPartResult result = ResultOf("points", std::move(status));
                    if (result.status.ok()) {
                      result.fields.emplace_back("balance",
                                                 std::shared_ptr<const google::protobuf::Message>(
                                                     response, &response->balance()));
                    }
                    done(std::move(result));
                  });
}

WalletAnswer AssembleWallet(const std::vector<WalletPartResult>& results) {
  WalletAnswer answer;
  std::vector<std::string_view> partial;
  for (const WalletPartResult& result : results) {
    if (result.status.ok()) continue;
    if (!IsPartialFailure(result.status.error_code())) {
      answer.status = result.status;
      answer.upstream = result.upstream;
      return answer;
    }
    partial.push_back(result.part);
  }
  if (!results.empty() && partial.size() == results.size()) {
    answer.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "no wallet part answered");
    answer.upstream = "wallet";
    return answer;
  }
  std::string json = "{";
  for (const WalletPartResult& result : results) {
    if (!result.status.ok()) continue;
    for (const auto& [key, message] : result.fields) {
      absl::StatusOr<std::string> printed = PrintJson(*message);
      if (!printed.ok()) {
        answer.status = grpc::Status(grpc::StatusCode::INTERNAL, "cannot print the wallet");
        answer.upstream = "wallet";
        return answer;
      }
      absl::StrAppend(&json, json.size() > 1 ? "," : "", log::JsonQuote(key), ":", *printed);
    }
  }
  absl::StrAppend(&json, json.size() > 1 ? "," : "", "\"partial\":[");
  for (size_t i = 0; i < partial.size(); ++i) {
    absl::StrAppend(&json, i == 0 ? "" : ",", log::JsonQuote(partial[i]));
  }
  absl::StrAppend(&json, "]}");
  answer.json = std::move(json);
  return answer;
}

}  // namespace loyalty::gateway
