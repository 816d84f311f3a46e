#pragma once

// What the single-hold RPCs (points_handler.cc) and the batched ones (hold_batches.cc) share, so
// a hold in a batch is checked, maintained and shown exactly as it would be alone.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "points-svc/domain/ledger.h"

namespace loyalty::points {

namespace v1 = ::loyalty::points::v1;

// CreateHold's checks of its input; returns the hold's TTL. INVALID_ARGUMENT naming the field.
absl::StatusOr<absl::Duration> ValidateCreateHold(const v1::CreateHoldRequest& request);
// The checks of a request naming one hold (capture, void, refund). INVALID_ARGUMENT.
absl::Status ValidateHoldRef(const std::string& program_id, const std::string& hold_id);

// Brings the member's time-driven state up to date: due pending points released, expired holds
// voided. Needs the member's balance locked; `balance` follows what it writes.
absl::Status MaintainMember(pg::Connection& connection, const std::string& program_id,
                            const std::string& member_id, Balance& balance, absl::Time now);

// Returns a hold's points to the available balance (void or expiry, by `status`), in the
// member's locked transaction.
absl::Status ReturnHeldPoints(pg::Connection& connection, const std::string& program_id,
                              const std::string& member_id, const std::string& hold_id,
                              int64_t points, v1::HoldStatus status, Balance& balance,
                              absl::Time now);

v1::Hold HoldView(const std::string& hold_id, const std::string& member_id, int64_t points,
                  int status, absl::Time expire_time);

}  // namespace loyalty::points
