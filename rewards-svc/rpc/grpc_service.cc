#include "rewards-svc/rpc/grpc_service.h"

#include "common/rpc/unary.h"

namespace loyalty::rewards {

grpc::ServerUnaryReactor* GrpcRewardsService::RedeemReward(grpc::CallbackServerContext* context,
                                                           const v1::RedeemRewardRequest* request,
                                                           v1::RedeemRewardResponse* response) {
  return rpc::AsyncUnary<v1::RedeemRewardRequest, v1::RedeemRewardResponse>(
      context, "RedeemReward", kErrorDomain, *request, response,
      [this](const v1::RedeemRewardRequest& r, RewardsHandler::RedeemDone done) {
        handler_.RedeemRewardAsync(r, std::move(done));
      });
}

#define LOYALTY_REWARDS_UNARY(Method)                                         \
  grpc::Status GrpcRewardsService::Method(grpc::ServerContext* context,       \
                                          const v1::Method##Request* request, \
                                          v1::Method##Response* response) {   \
    return rpc::Unary<v1::Method##Request, v1::Method##Response>(             \
        context, #Method, kErrorDomain, *request, response,                   \
        [this](const v1::Method##Request& r) { return handler_.Method(r); }); \
  }

LOYALTY_REWARDS_UNARY(CreateReward)
LOYALTY_REWARDS_UNARY(GetReward)
LOYALTY_REWARDS_UNARY(UpdateReward)
LOYALTY_REWARDS_UNARY(ListRewards)
LOYALTY_REWARDS_UNARY(ListRedemptions)
LOYALTY_REWARDS_UNARY(GetRedemption)
LOYALTY_REWARDS_UNARY(CancelRedemption)
LOYALTY_REWARDS_UNARY(UpdateFulfilment)
LOYALTY_REWARDS_UNARY(ValidateVoucher)
LOYALTY_REWARDS_UNARY(ConsumeVoucher)
LOYALTY_REWARDS_UNARY(CreatePunchCardDefinition)
LOYALTY_REWARDS_UNARY(ListPunchCards)
LOYALTY_REWARDS_UNARY(RecordStamp)
LOYALTY_REWARDS_UNARY(RevokeStamp)

#undef LOYALTY_REWARDS_UNARY

}  // namespace loyalty::rewards
