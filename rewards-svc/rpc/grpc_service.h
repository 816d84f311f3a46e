#pragma once

// The gRPC face of rewards-svc: each method hands its request to RewardsHandler through
// rpc::Unary; the only file of the service that sees grpc::. RedeemReward uses gRPC's callback
// API (rpc::AsyncUnary): its answer comes from a batch's writer thread, so no server thread
// waits for the saga.

#include "loyalty/rewards/v1/rewards_service.grpc.pb.h"
#include "rewards-svc/rpc/rewards_handler.h"

namespace loyalty::rewards {

// ErrorInfo domain of every error this service returns.
inline constexpr std::string_view kErrorDomain = "rewards.loyalty";

class GrpcRewardsService final
    : public v1::RewardsService::WithCallbackMethod_RedeemReward<v1::RewardsService::Service> {
 public:
  explicit GrpcRewardsService(RewardsHandler& handler) : handler_(handler) {}

#define LOYALTY_REWARDS_DECLARE(Method)                                                 \
  grpc::Status Method(grpc::ServerContext* context, const v1::Method##Request* request, \
                      v1::Method##Response* response) override;
  grpc::ServerUnaryReactor* RedeemReward(grpc::CallbackServerContext* context,
                                         const v1::RedeemRewardRequest* request,
                                         v1::RedeemRewardResponse* response) override;
  // v1::RewardsService::Service
  LOYALTY_REWARDS_DECLARE(CreateReward)
  LOYALTY_REWARDS_DECLARE(GetReward)
  LOYALTY_REWARDS_DECLARE(UpdateReward)
  LOYALTY_REWARDS_DECLARE(ListRewards)
  LOYALTY_REWARDS_DECLARE(ListRedemptions)
  LOYALTY_REWARDS_DECLARE(GetRedemption)
  LOYALTY_REWARDS_DECLARE(CancelRedemption)
  LOYALTY_REWARDS_DECLARE(UpdateFulfilment)
  LOYALTY_REWARDS_DECLARE(ValidateVoucher)
  LOYALTY_REWARDS_DECLARE(ConsumeVoucher)
  LOYALTY_REWARDS_DECLARE(CreatePunchCardDefinition)
  LOYALTY_REWARDS_DECLARE(ListPunchCards)
  LOYALTY_REWARDS_DECLARE(RecordStamp)
  LOYALTY_REWARDS_DECLARE(RevokeStamp)
#undef LOYALTY_REWARDS_DECLARE

 private:
  RewardsHandler& handler_;
};

}  // namespace loyalty::rewards
