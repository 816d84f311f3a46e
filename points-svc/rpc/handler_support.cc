#include "points-svc/rpc/handler_support.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/rpc/proto_time.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "points-svc/rpc/convert.h"
#include "points-svc/storage/ledger_store.h"
#include "points-svc/storage/queries.h"

namespace loyalty::points {
namespace {

constexpr std::string_view kServiceName = "loyalty.points.v1.PointsService/";

}  // namespace

std::string Method(std::string_view rpc) {
  return absl::StrCat(absl::string_view(kServiceName.data(), kServiceName.size()),
                      absl::string_view(rpc.data(), rpc.size()));
}

absl::Status InsufficientPoints(int64_t available, int64_t required) {
  return ErrorWithReason(
      absl::StatusCode::kFailedPrecondition, "INSUFFICIENT_POINTS",
      absl::StrCat("available balance ", available, " is below ", required),
      {{"available", std::to_string(available)}, {"required", std::to_string(required)}});
}

absl::Status ValidateText(std::string_view text, std::string_view field, size_t max_length,
                          bool required) {
  if (text.empty()) {
    if (!required) return absl::OkStatus();
    return InvalidField(field, "FIELD_REQUIRED", "is required");
  }
  const bool printable = std::all_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
  });
  if (text.size() > max_length || !printable) {
    return InvalidField(
        field, text.size() > max_length ? "FIELD_TOO_LONG" : "INVALID_TEXT",
        absl::StrCat("must be at most ", max_length, " bytes without control characters"));
  }
  return absl::OkStatus();
}

idempotency::Call MakeCall(const google::protobuf::Message& request, std::string_view rpc,
                           const std::string& program_id, const std::string& request_id,
                           absl::Time now) {
  const std::string method = Method(rpc);
  return idempotency::Call{.scope = program_id,
                           .request_id = request_id,
                           .method = method,
                           .request_hash = idempotency::RequestHash(method, request),
                           .now = now};
}

absl::Time AddMonths(absl::Time time, int months) {
  const absl::CivilSecond civil = absl::ToCivilSecond(time, absl::UTCTimeZone());
  const absl::CivilMonth month = absl::CivilMonth(civil) + months;
  const int days_in_month =
      static_cast<int>(absl::CivilDay(absl::CivilMonth(month + 1)) - absl::CivilDay(month));
  const absl::CivilSecond moved(month.year(), month.month(), std::min(civil.day(), days_in_month),
                                civil.hour(), civil.minute(), civil.second());
  return absl::FromCivil(moved, absl::UTCTimeZone()) +
         (time - absl::FromCivil(civil, absl::UTCTimeZone()));
}

// When points credited at `from` expire under the rules (nullopt: never).
std::optional<absl::Time> ExpireTime(const EarningRules& rules, absl::Time from) {
  if (rules.expiry_months == 0) return std::nullopt;
  return AddMonths(from, rules.expiry_months);
}

std::string Day(absl::Time time) { return absl::FormatTime("%Y-%m-%d", time, absl::UTCTimeZone()); }

void ApplyToBalance(Balance& balance, const Posting& posting, const std::string& member_id) {
  const BalanceDelta delta = DeltaFor(posting, member_id);
  balance.available += delta.available;
  balance.pending += delta.pending;
  balance.held += delta.held;
  balance.debt += delta.debt;
}

// Adds the entries crediting `points` to the member from `source`: debt is paid first, the rest
// becomes available. Returns the split so the caller can open a lot for the available part.
CreditSplit Credit(Posting& posting, const std::string& member_id, const Balance& balance,
                   int64_t points, Account source) {
  const CreditSplit split = SplitCredit(points, balance.debt);
  posting.Add("", source, -points);
  posting.Add(member_id, Account::kDebt, split.to_debt);
  posting.Add(member_id, Account::kAvailable, split.to_available);
  return split;
}

absl::StatusOr<std::pair<EarningRules, int64_t>> RulesFromRows(const pg::Result& rows,
                                                               const std::string& program_id) {
  if (rows.rows() == 0) return std::make_pair(DefaultEarningRules(), int64_t{0});
  v1::EarningRules proto;
  if (!proto.ParseFromString(rows.Bytes(0, "rules"))) {
    return absl::InternalError(
        absl::StrCat("stored earning rules of ", program_id, " are corrupt"));
  }
  LOYALTY_ASSIGN_OR_RETURN(EarningRules rules, ParseEarningRules(proto));
  return std::make_pair(std::move(rules), rows.Int64(0, "version"));
}

absl::StatusOr<std::pair<EarningRules, int64_t>> LoadRules(pg::Connection& connection,
                                                           const std::string& program_id,
                                                           pg::Query query) {
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows,
                           connection.Execute(query, pg::Params().Add(program_id)));
  return RulesFromRows(rows, program_id);
}

std::string Etag(int64_t version) { return absl::StrCat("\"v", version, "\""); }

v1::Balance BalanceProto(const Balance& balance, const DatedBalance& dated) {
  v1::Balance view;
  view.set_available(balance.available);
  view.set_pending(balance.pending);
  view.set_held(balance.held);
  view.set_debt(balance.debt);
  view.set_lifetime_earned(balance.lifetime_earned);
  for (const DatedPoints& expiry : dated.next_expiries) {
    v1::DatedPoints* out = view.add_next_expiries();
    out->set_points(expiry.points);
    *out->mutable_time() = ToTimestamp(expiry.time);
  }
  for (const DatedPoints& upcoming : dated.upcoming_available) {
    v1::DatedPoints* out = view.add_upcoming_available();
    out->set_points(upcoming.points);
    *out->mutable_time() = ToTimestamp(upcoming.time);
  }
  return view;
}

absl::StatusOr<v1::Balance> BalanceView(pg::Connection& connection, const std::string& program_id,
                                        const std::string& member_id) {
  LOYALTY_ASSIGN_OR_RETURN(Balance balance, ReadBalance(connection, program_id, member_id));
  LOYALTY_ASSIGN_OR_RETURN(DatedBalance dated, ReadDatedBalance(connection, {program_id, member_id},
                                                                balance, kBalanceDatedRowsMax));
  return BalanceProto(balance, dated);
}

v1::Transaction TransactionView(int64_t txn_id, const TransactionHeader& header, int64_t points) {
  v1::Transaction transaction;
  transaction.set_id(std::to_string(txn_id));
  transaction.set_kind(static_cast<v1::TransactionKind>(header.kind));
  transaction.set_points(points);
  if (header.reason) transaction.set_reason(*header.reason);
  if (header.order_id) transaction.set_order_id(*header.order_id);
  if (header.hold_id) transaction.set_hold_id(*header.hold_id);
  if (header.counterparty_member) transaction.set_counterparty_member(*header.counterparty_member);
  *transaction.mutable_create_time() = ToTimestamp(header.time);
  return transaction;
}

// Member points (available + pending) a posting changes, for the transaction view.
int64_t MemberPoints(const Posting& posting, const std::string& member_id) {
  return posting.AmountOf(member_id, Account::kAvailable) +
         posting.AmountOf(member_id, Account::kPending);
}

events::OutboxEvent MemberEvent(const std::string& program_id, const std::string& member_id,
                                const google::protobuf::Message& payload, absl::Time now) {
  return events::MakeEvent(program_id, "member", member_id, payload, now);
}

absl::Status AppendMemberEvent(pg::Connection& connection, const std::string& program_id,
                               const std::string& member_id,
                               const google::protobuf::Message& payload, absl::Time now) {
  return events::AppendEvent(connection, MemberEvent(program_id, member_id, payload, now));
}

HoldEntries NewHoldEntries(const std::string& member_id, int64_t points, bool capture) {
  HoldEntries entries;
  if (capture) {
    entries.posting.Move(member_id, Account::kAvailable, "", Account::kRedeemed, points);
    entries.kind = v1::TRANSACTION_KIND_HOLD_CAPTURE;
    entries.status = v1::HOLD_STATUS_CAPTURED;
  } else {
    entries.posting.Move(member_id, Account::kAvailable, member_id, Account::kHeld, points);
    entries.kind = v1::TRANSACTION_KIND_HOLD;
    entries.status = v1::HOLD_STATUS_OPEN;
  }
  return entries;
}

v1::PointsSpent SpentEvent(const std::string& program_id, const std::string& member_id,
                           int64_t txn_id, const std::string& hold_id, int64_t points) {
  v1::PointsSpent event;
  event.set_program(program_id);
  event.set_member(member_id);
  event.set_transaction_id(txn_id);
  event.set_hold_id(hold_id);
  event.set_points(points);
  return event;
}

}  // namespace loyalty::points
