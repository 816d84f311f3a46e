#pragma once

// The gRPC face of points-svc: each method hands its request to PointsHandler through
// rpc::Unary; the only file of the service that sees grpc::. RecordPurchase uses gRPC's
// callback API (rpc::AsyncUnary): its answer comes from a group-commit writer thread, so no
// server thread waits for the batch.

#include "loyalty/points/v1/points_service.grpc.pb.h"
#include "points-svc/rpc/points_handler.h"

namespace loyalty::points {

// ErrorInfo domain of every error this service returns.
inline constexpr std::string_view kErrorDomain = "points.loyalty";

class GrpcPointsService final
    : public v1::PointsService::WithCallbackMethod_RecordPurchase<v1::PointsService::Service> {
 public:
  explicit GrpcPointsService(PointsHandler& handler) : handler_(handler) {}

#define LOYALTY_POINTS_DECLARE(Method)                                                  \
  grpc::Status Method(grpc::ServerContext* context, const v1::Method##Request* request, \
                      v1::Method##Response* response) override;
  grpc::ServerUnaryReactor* RecordPurchase(grpc::CallbackServerContext* context,
                                           const v1::RecordPurchaseRequest* request,
                                           v1::RecordPurchaseResponse* response) override;
  // v1::PointsService::Service
  LOYALTY_POINTS_DECLARE(RefundPurchase)
  LOYALTY_POINTS_DECLARE(RecordActivity)
  LOYALTY_POINTS_DECLARE(PreviewPurchase)
  LOYALTY_POINTS_DECLARE(GetBalance)
  LOYALTY_POINTS_DECLARE(ListTransactions)
  LOYALTY_POINTS_DECLARE(AdjustPoints)
  LOYALTY_POINTS_DECLARE(TransferPoints)
  LOYALTY_POINTS_DECLARE(GetEarningRules)
  LOYALTY_POINTS_DECLARE(UpdateEarningRules)
  LOYALTY_POINTS_DECLARE(GetLeaderboard)
  LOYALTY_POINTS_DECLARE(RunExpiry)
  LOYALTY_POINTS_DECLARE(CreateHold)
  LOYALTY_POINTS_DECLARE(CaptureHold)
  LOYALTY_POINTS_DECLARE(VoidHold)
  LOYALTY_POINTS_DECLARE(RefundHold)
  LOYALTY_POINTS_DECLARE(CreateHolds)
  LOYALTY_POINTS_DECLARE(CaptureHolds)
#undef LOYALTY_POINTS_DECLARE

 private:
  PointsHandler& handler_;
};

}  // namespace loyalty::points
