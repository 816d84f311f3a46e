#pragma once

// The gRPC face of WebhooksService: each method hands its request to WebhooksHandler.

#include "loyalty/members/v1/webhooks_service.grpc.pb.h"
#include "members-svc/rpc/webhooks_handler.h"

namespace loyalty::members {

class GrpcWebhooksService final : public v1::WebhooksService::Service {
 public:
  explicit GrpcWebhooksService(WebhooksHandler& handler) : handler_(handler) {}

  // v1::WebhooksService::Service
  grpc::Status CreateWebhook(grpc::ServerContext* context, const v1::CreateWebhookRequest* request,
                             v1::CreateWebhookResponse* response) override;
  grpc::Status ListWebhooks(grpc::ServerContext* context, const v1::ListWebhooksRequest* request,
                            v1::ListWebhooksResponse* response) override;
  grpc::Status GetWebhook(grpc::ServerContext* context, const v1::GetWebhookRequest* request,
                          v1::GetWebhookResponse* response) override;
  grpc::Status UpdateWebhook(grpc::ServerContext* context, const v1::UpdateWebhookRequest* request,
                             v1::UpdateWebhookResponse* response) override;
  grpc::Status DeleteWebhook(grpc::ServerContext* context, const v1::DeleteWebhookRequest* request,
                             v1::DeleteWebhookResponse* response) override;
  grpc::Status ListWebhookDeliveries(grpc::ServerContext* context,
                                     const v1::ListWebhookDeliveriesRequest* request,
                                     v1::ListWebhookDeliveriesResponse* response) override;
  grpc::Status RetryWebhookDelivery(grpc::ServerContext* context,
                                    const v1::RetryWebhookDeliveryRequest* request,
                                    v1::RetryWebhookDeliveryResponse* response) override;

 private:
  WebhooksHandler& handler_;
};

}  // namespace loyalty::members
