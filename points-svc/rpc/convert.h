#pragma once

// proto <-> domain conversion for points-svc.

#include "absl/status/statusor.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "points-svc/domain/earning.h"
#include "points-svc/domain/ledger.h"

namespace loyalty::points {

namespace v1 = ::loyalty::points::v1;

// Converts and validates (ValidateEarningRules) rules from the API. Field paths start "rules".
absl::StatusOr<EarningRules> ParseEarningRules(const v1::EarningRules& proto);
v1::EarningRules ToProto(const EarningRules& rules);

// Converts and validates a purchase (ValidatePurchase); `occur_time` defaults to `now`.
absl::StatusOr<Purchase> ParsePurchase(
    int64_t total_minor, const google::protobuf::RepeatedPtrField<v1::PurchaseLine>& lines,
    const google::protobuf::Timestamp* occur_time, absl::Time now);

void AppendBreakdown(const std::vector<BreakdownItem>& items,
                     google::protobuf::RepeatedPtrField<v1::EarnBreakdownItem>* out);

}  // namespace loyalty::points
