#include "gateway/services.h"

#include "common/check.h"
#include "google/rpc/error_details.pb.h"
#include "loyalty/members/v1/members_service.pb.h"
#include "loyalty/members/v1/webhooks_service.pb.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "loyalty/rewards/v1/rewards_service.pb.h"

namespace loyalty::gateway {
namespace {

// The service `name` in the proto file of the generated message T. Naming T makes the linker keep
// the generated code that registers the file in the generated descriptor pool.
template <typename T>
const google::protobuf::ServiceDescriptor* ServiceOf(const char* name) {
  const google::protobuf::ServiceDescriptor* service =
      T::descriptor()->file()->FindServiceByName(name);
  LOYALTY_CHECK(service != nullptr);
  return service;
}

}  // namespace

const std::vector<LinkedService>& LinkedServices() {
  static const auto* const services = new std::vector<LinkedService>{
      {"members", ServiceOf<members::v1::GetMemberRequest>("MembersService")},
      // members-svc serves the merchants' webhooks too (docs/webhooks.md).
      {"members", ServiceOf<members::v1::CreateWebhookRequest>("WebhooksService")},
      {"points", ServiceOf<points::v1::GetBalanceRequest>("PointsService")},
      {"rewards", ServiceOf<rewards::v1::GetRewardRequest>("RewardsService")},
  };
  return *services;
}

void LinkErrorDetailTypes() {
  // One message of error_details.proto is enough to register all of its types.
  (void)google::rpc::ErrorInfo::descriptor();
}

}  // namespace loyalty::gateway
