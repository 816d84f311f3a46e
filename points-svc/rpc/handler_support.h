#pragma once

// What points-svc's handlers share: request checks, idempotency calls, ledger helpers that work
// on a locked balance, and the proto views of balances and transactions. Used by
// points_handler.cc and purchase_writer.cc.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/events/outbox.h"
#include "common/idempotency/idempotency.h"
#include "common/pg/connection.h"
#include "common/pg/query.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "points-svc/domain/earning.h"
#include "points-svc/domain/ledger.h"
#include "points-svc/storage/ledger_store.h"
#include "points-svc/storage/purchase_batch_store.h"
#include "points-svc/storage/queries.h"

namespace loyalty::points {

namespace v1 = ::loyalty::points::v1;

// Dates of next expiries and of upcoming pending points shown with a balance.
inline constexpr int kBalanceDatedRowsMax = 5;

// Full RPC name, e.g. "loyalty.points.v1.PointsService/RecordPurchase".
std::string Method(std::string_view rpc);

// FAILED_PRECONDITION INSUFFICIENT_POINTS with both amounts.
absl::Status InsufficientPoints(int64_t available, int64_t required);

// Free text of at most `max_length` bytes without control characters; FIELD_REQUIRED when
// `required` and empty.
absl::Status ValidateText(std::string_view text, std::string_view field, size_t max_length,
                          bool required);

// The idempotency call of `request` (keys scoped by program).
idempotency::Call MakeCall(const google::protobuf::Message& request, std::string_view rpc,
                           const std::string& program_id, const std::string& request_id,
                           absl::Time now);

// `time` moved by whole calendar months (UTC), the day clamped to the month's last.
absl::Time AddMonths(absl::Time time, int months);
// When points credited at `from` expire under the rules (nullopt: never).
std::optional<absl::Time> ExpireTime(const EarningRules& rules, absl::Time from);
// The UTC day of `time` as YYYY-MM-DD.
std::string Day(absl::Time time);

// Applies the posting's change of `member_id` to an in-memory balance.
void ApplyToBalance(Balance& balance, const Posting& posting, const std::string& member_id);

// Adds the entries crediting `points` to the member from `source`: debt is paid first, the rest
// becomes available. Returns the split so the caller can open a lot for the available part.
CreditSplit Credit(Posting& posting, const std::string& member_id, const Balance& balance,
                   int64_t points, Account source);

// The program's earning rules and their version (defaults and 0 when never set), from the rows
// of queries::kSelectRules, or read.
absl::StatusOr<std::pair<EarningRules, int64_t>> RulesFromRows(const pg::Result& rows,
                                                               const std::string& program_id);
absl::StatusOr<std::pair<EarningRules, int64_t>> LoadRules(pg::Connection& connection,
                                                           const std::string& program_id,
                                                           pg::Query query = queries::kSelectRules);

// An etag for a rules version.
std::string Etag(int64_t version);

v1::Balance BalanceProto(const Balance& balance, const DatedBalance& dated);
// The member's stored balance with next expiries and upcoming pending points.
absl::StatusOr<v1::Balance> BalanceView(pg::Connection& connection, const std::string& program_id,
                                        const std::string& member_id);

v1::Transaction TransactionView(int64_t txn_id, const TransactionHeader& header, int64_t points);

// Member points (available + pending) a posting changes, for the transaction view.
int64_t MemberPoints(const Posting& posting, const std::string& member_id);

// The outbox event (docs/events.md) of a change to `member_id`'s points, with `payload` one of
// loyalty/points/v1/points_events.proto.
events::OutboxEvent MemberEvent(const std::string& program_id, const std::string& member_id,
                                const google::protobuf::Message& payload, absl::Time now);
// Appends it in the caller's transaction; it is numbered in the stream at COMMIT.
absl::Status AppendMemberEvent(pg::Connection& connection, const std::string& program_id,
                               const std::string& member_id,
                               const google::protobuf::Message& payload, absl::Time now);

// What a new hold of `points` for `member_id` writes: its posting (available → held; captured as
// it is made, available → redeemed), its ledger transaction's kind and the hold's status.
struct HoldEntries {
  Posting posting;
  int kind = 0;    // loyalty.points.v1.TransactionKind
  int status = 0;  // loyalty.points.v1.HoldStatus
};
HoldEntries NewHoldEntries(const std::string& member_id, int64_t points, bool capture);

// The PointsSpent payload of a captured hold, made by ledger transaction `txn_id`.
v1::PointsSpent SpentEvent(const std::string& program_id, const std::string& member_id,
                           int64_t txn_id, const std::string& hold_id, int64_t points);

}  // namespace loyalty::points
