#include "points-svc/rpc/grpc_service.h"

#include "common/rpc/unary.h"

namespace loyalty::points {

grpc::ServerUnaryReactor* GrpcPointsService::RecordPurchase(
    grpc::CallbackServerContext* context, const v1::RecordPurchaseRequest* request,
    v1::RecordPurchaseResponse* response) {
  return rpc::AsyncUnary<v1::RecordPurchaseRequest, v1::RecordPurchaseResponse>(
      context, "RecordPurchase", kErrorDomain, *request, response,
      [this](const v1::RecordPurchaseRequest& r, PurchaseWriter::Done done) {
        handler_.RecordPurchaseAsync(r, std::move(done));
      });
}

#define LOYALTY_POINTS_UNARY(Method)                                          \
  grpc::Status GrpcPointsService::Method(grpc::ServerContext* context,        \
                                         const v1::Method##Request* request,  \
                                         v1::Method##Response* response) {    \
    return rpc::Unary<v1::Method##Request, v1::Method##Response>(             \
        context, #Method, kErrorDomain, *request, response,                   \
        [this](const v1::Method##Request& r) { return handler_.Method(r); }); \
  }

LOYALTY_POINTS_UNARY(RefundPurchase)
LOYALTY_POINTS_UNARY(RecordActivity)
LOYALTY_POINTS_UNARY(PreviewPurchase)
LOYALTY_POINTS_UNARY(GetBalance)
LOYALTY_POINTS_UNARY(ListTransactions)
LOYALTY_POINTS_UNARY(AdjustPoints)
LOYALTY_POINTS_UNARY(TransferPoints)
LOYALTY_POINTS_UNARY(GetEarningRules)
LOYALTY_POINTS_UNARY(UpdateEarningRules)
LOYALTY_POINTS_UNARY(GetLeaderboard)
LOYALTY_POINTS_UNARY(RunExpiry)
LOYALTY_POINTS_UNARY(CreateHold)
LOYALTY_POINTS_UNARY(CaptureHold)
LOYALTY_POINTS_UNARY(VoidHold)
LOYALTY_POINTS_UNARY(RefundHold)
LOYALTY_POINTS_UNARY(CreateHolds)
LOYALTY_POINTS_UNARY(CaptureHolds)

#undef LOYALTY_POINTS_UNARY

}  // namespace loyalty::points
