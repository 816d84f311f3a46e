#include "members-svc/rpc/webhooks_grpc_service.h"

#include "common/rpc/unary.h"
#include "members-svc/rpc/grpc_service.h"

namespace loyalty::members {

// As in grpc_service.cc: rpc::Unary (trace context, status conversion, failure logging).
#define LOYALTY_WEBHOOKS_UNARY(Method)                                         \
  grpc::Status GrpcWebhooksService::Method(grpc::ServerContext* context,       \
                                           const v1::Method##Request* request, \
                                           v1::Method##Response* response) {   \
    return rpc::Unary<v1::Method##Request, v1::Method##Response>(              \
        context, #Method, kErrorDomain, *request, response,                    \
        [this](const v1::Method##Request& r) { return handler_.Method(r); });  \
  }

LOYALTY_WEBHOOKS_UNARY(CreateWebhook)
LOYALTY_WEBHOOKS_UNARY(ListWebhooks)
LOYALTY_WEBHOOKS_UNARY(GetWebhook)
LOYALTY_WEBHOOKS_UNARY(UpdateWebhook)
LOYALTY_WEBHOOKS_UNARY(DeleteWebhook)
LOYALTY_WEBHOOKS_UNARY(ListWebhookDeliveries)
LOYALTY_WEBHOOKS_UNARY(RetryWebhookDelivery)

#undef LOYALTY_WEBHOOKS_UNARY

}  // namespace loyalty::members
