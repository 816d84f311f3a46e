#include "points-svc/rpc/points_handler.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/idempotency/idempotency.h"
#include "common/log/log.h"
#include "common/rpc/proto_time.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "common/validation/ids.h"
#include "loyalty/members/v1/members_service.pb.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "points-svc/rpc/convert.h"
#include "points-svc/rpc/handler_support.h"
#include "points-svc/rpc/holds.h"
#include "points-svc/rpc/member_events.h"
#include "points-svc/rpc/purchase_writer.h"
#include "points-svc/storage/hold_batch_store.h"
#include "points-svc/storage/ledger_store.h"
#include "points-svc/storage/queries.h"

namespace loyalty::points {
namespace {

constexpr int64_t kAdjustPointsAbsMax = 1'000'000'000;
constexpr size_t kReasonLengthMax = 500;
constexpr size_t kOrderIdLengthMax = 128;
constexpr size_t kReferenceLengthMax = 128;
constexpr size_t kHoldIdLengthMax = 128;
constexpr absl::Duration kHoldTtlDefault = absl::Minutes(15);
constexpr absl::Duration kHoldTtlMax = absl::Hours(24 * 7);
constexpr int32_t kLeaderboardTopDefault = 10;
constexpr int32_t kLeaderboardTopMax = 100;
constexpr int32_t kExpiryBatchDefault = 1000;
constexpr int32_t kExpiryBatchMax = 10000;

using members::v1::MemberStatus;

// A background refresh that failed leaves the stale copy in place; the next call that finds the
// copy stale schedules another. Debug, as members-svc being down would repeat it for every member.
void LogRefreshFailure(const absl::Status& status) {
  if (status.ok()) return;
  log::Debug("projection refresh failed",
             {{"code", absl::StatusCodeToString(status.code())}, {"error", status.message()}});
}

}  // namespace

// Makes pending points that are due available (debt first), in the member's locked transaction.
absl::StatusOr<int> ReleasePendingFor(pg::Connection& connection, const std::string& program_id,
                                      const std::string& member_id, Balance& balance,
                                      absl::Time now) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result due, connection.Execute(queries::kSelectDuePending,
                                         pg::Params().Add(program_id).Add(member_id).Add(now)));
  for (int row = 0; row < due.rows(); ++row) {
    const int64_t pending_id = due.Int64(row, "pending_id");
    const int64_t amount = due.Int64(row, "amount");
    const std::optional<std::string> order_id = due.OptionalString(row, "order_id");
    if (amount > 0) {
      Posting posting;
      const CreditSplit split = SplitCredit(amount, balance.debt);
      posting.Add(member_id, Account::kPending, -amount)
          .Add(member_id, Account::kDebt, split.to_debt)
          .Add(member_id, Account::kAvailable, split.to_available);
      const TransactionHeader header{
          .kind = v1::TRANSACTION_KIND_PENDING_RELEASE, .order_id = order_id, .time = now};
      LOYALTY_ASSIGN_OR_RETURN(int64_t txn_id,
                               WritePosting(connection, program_id, header, posting));
      if (split.to_available > 0) {
        LOYALTY_RETURN_IF_ERROR(InsertLot(connection, program_id, member_id, txn_id,
                                          split.to_available, due.OptionalTime(row, "expire_time"),
                                          order_id)
                                    .status());
      }
      ApplyToBalance(balance, posting, member_id);
    }
    LOYALTY_RETURN_IF_ERROR(
        connection
            .Execute(queries::kReleasePending,
                     pg::Params().Add(program_id).Add(member_id).Add(pending_id))
            .status());
  }
  return due.rows();
}

// Returns a hold's points to the available balance (void or expiry), in the member's locked
// transaction.
absl::Status ReturnHeldPoints(pg::Connection& connection, const std::string& program_id,
                              const std::string& member_id, const std::string& hold_id,
                              int64_t points, v1::HoldStatus status, Balance& balance,
                              absl::Time now) {
  Posting posting;
  posting.Move(member_id, Account::kHeld, member_id, Account::kAvailable, points);
  const TransactionHeader header{.kind = v1::TRANSACTION_KIND_HOLD_VOID,
                                 .reason = status == v1::HOLD_STATUS_EXPIRED
                                               ? std::optional<std::string>("hold expired")
                                               : std::nullopt,
                                 .hold_id = hold_id,
                                 .time = now};
  LOYALTY_RETURN_IF_ERROR(WritePosting(connection, program_id, header, posting).status());
  ApplyToBalance(balance, posting, member_id);
  return connection
      .Execute(queries::kResolveHold,
               pg::Params().Add(program_id).Add(hold_id).Add(static_cast<int64_t>(status)).Add(now))
      .status();
}

absl::Status VoidExpiredHoldsFor(pg::Connection& connection, const std::string& program_id,
                                 const std::string& member_id, Balance& balance, absl::Time now) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result expired, connection.Execute(queries::kSelectMemberExpiredHolds,
                                             pg::Params().Add(program_id).Add(member_id).Add(now)));
  for (int row = 0; row < expired.rows(); ++row) {
    const std::string hold_id = expired.String(row, "hold_id");
    LOYALTY_ASSIGN_OR_RETURN(pg::Result hold,
                             connection.Execute(queries::kSelectHoldForUpdate,
                                                pg::Params().Add(program_id).Add(hold_id)));
    LOYALTY_RETURN_IF_ERROR(ReturnHeldPoints(connection, program_id, member_id, hold_id,
                                             hold.Int64(0, "points"), v1::HOLD_STATUS_EXPIRED,
                                             balance, now));
  }
  return absl::OkStatus();
}

// Brings the member's time-driven state up to date: due pending points released, expired holds
// voided. Needs the member's balance locked.
absl::Status MaintainMember(pg::Connection& connection, const std::string& program_id,
                            const std::string& member_id, Balance& balance, absl::Time now) {
  LOYALTY_RETURN_IF_ERROR(
      ReleasePendingFor(connection, program_id, member_id, balance, now).status());
  return VoidExpiredHoldsFor(connection, program_id, member_id, balance, now);
}

v1::Hold HoldView(const std::string& hold_id, const std::string& member_id, int64_t points,
                  int status, absl::Time expire_time) {
  v1::Hold hold;
  hold.set_hold_id(hold_id);
  hold.set_member(member_id);
  hold.set_points(points);
  hold.set_status(static_cast<v1::HoldStatus>(status));
  *hold.mutable_expire_time() = ToTimestamp(expire_time);
  return hold;
}

absl::StatusOr<absl::Duration> ValidateCreateHold(const v1::CreateHoldRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_RETURN_IF_ERROR(ValidateText(request.hold_id(), "hold_id", kHoldIdLengthMax, true));
  if (request.points() <= 0 || request.points() > kAdjustPointsAbsMax) {
    return InvalidField("points", "INVALID_POINTS",
                        absl::StrCat("must be in [1, ", kAdjustPointsAbsMax, "]"));
  }
  absl::Duration ttl = kHoldTtlDefault;
  if (request.has_ttl()) {
    ttl = absl::Seconds(request.ttl().seconds()) + absl::Nanoseconds(request.ttl().nanos());
    if (ttl < absl::Seconds(1) || ttl > kHoldTtlMax) {
      return InvalidField("ttl", "INVALID_TTL", "must be between 1 second and 7 days");
    }
  }
  LOYALTY_RETURN_IF_ERROR(ValidateText(request.reason(), "reason", 200, false));
  return ttl;
}

absl::Status ValidateHoldRef(const std::string& program_id, const std::string& hold_id) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(program_id, "program"));
  return ValidateText(hold_id, "hold_id", kHoldIdLengthMax, true);
}

PointsHandler::PointsHandler(pg::Pool& pool, const Clock& clock, MemberDirectory& directory,
                             PointsHandlerOptions options)
    : pool_(pool),
      clock_(clock),
      directory_(directory),
      options_(std::move(options)),
      page_tokens_(options_.page_token_key),
      members_memory_(options_.projection_ttl, options_.projection_cache_max),
      currencies_memory_(options_.projection_ttl, options_.projection_cache_max),
      projection_refreshes_(static_cast<size_t>(options_.projection_refreshes_max)),
      purchases_(std::make_unique<PurchaseWriter>(pool_, options_.purchase_writes)),
      balance_reads_(std::make_unique<BalanceReader>(pool_, options_.balance_reads)) {}

// --- Projections ---------------------------------------------------------------------------

bool PointsHandler::Answerable(absl::Time refresh_time, absl::Time now, bool serve_stale,
                               absl::FunctionRef<void()> refresh_later) {
  if (refresh_time + options_.projection_ttl > now) return true;
  if (!serve_stale ||
      refresh_time + options_.projection_ttl + options_.projection_stale_grace <= now) {
    return false;
  }
  refresh_later();
  return true;
}

void PointsHandler::RefreshMemberLater(const std::string& program_id,
                                       const std::string& member_id) {
  projection_refreshes_.Schedule(MemberName(program_id, member_id), [this, program_id, member_id] {
    LogRefreshFailure(LoadMember(program_id, member_id, /*serve_stale=*/false).status());
  });
}

void PointsHandler::RefreshProgramLater(const std::string& program_id) {
  projection_refreshes_.Schedule(ProgramName(program_id), [this, program_id] {
    LogRefreshFailure(LoadProgramCurrency(program_id, /*serve_stale=*/false).status());
  });
}

absl::StatusOr<PointsHandler::MemberState> PointsHandler::ResolveMember(
    const std::string& program_id, const std::string& member_id) {
  const absl::Time now = clock_.Now();
  if (std::optional<ProjectionMemory<MemberState>::Copy> copy =
          members_memory_.Find(MemberName(program_id, member_id));
      copy.has_value() && Answerable(copy->refresh_time, now, /*serve_stale=*/true,
                                     [&] { RefreshMemberLater(program_id, member_id); })) {
    return copy->value;
  }
  return LoadMember(program_id, member_id, /*serve_stale=*/true);
}

absl::StatusOr<PointsHandler::MemberState> PointsHandler::LoadMember(const std::string& program_id,
                                                                     const std::string& member_id,
                                                                     bool serve_stale) {
  const absl::Time now = clock_.Now();
  const std::string key = MemberName(program_id, member_id);
  std::optional<MemberState> known;
  {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(pg::Result rows,
                             connection->Execute(queries::kSelectMemberProjection,
                                                 pg::Params().Add(program_id).Add(member_id)));
    if (rows.rows() == 1) {
      known = MemberState{.status = static_cast<int>(rows.Int64(0, "status")),
                          .tier_multiplier_percent =
                              static_cast<int32_t>(rows.Int64(0, "tier_multiplier_percent"))};
      const absl::Time refresh_time = rows.Time(0, "refresh_time");
      if (Answerable(refresh_time, now, serve_stale,
                     [&] { RefreshMemberLater(program_id, member_id); })) {
        members_memory_.Remember(key, *known, refresh_time);
        return *known;
      }
    }
  }
  absl::StatusOr<MemberInfo> info = directory_.GetMember(program_id, member_id);
  if (!info.ok()) {
    // members-svc down: a member we already know keeps earning on what we know.
    if (known.has_value() && info.status().code() == absl::StatusCode::kUnavailable) return *known;
    if (info.status().code() == absl::StatusCode::kNotFound) {
      return ErrorWithReason(
          absl::StatusCode::kNotFound, "MEMBER_NOT_FOUND",
          absl::StrCat("member ", MemberName(program_id, member_id), " not found"),
          {{"member", MemberName(program_id, member_id)}});
    }
    return info.status();
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_RETURN_IF_ERROR(
      connection
          ->Execute(queries::kUpsertMemberProjection,
                    pg::Params()
                        .Add(program_id)
                        .Add(member_id)
                        .Add(static_cast<int64_t>(info->status))
                        .Add(info->tier)
                        .Add(static_cast<int64_t>(info->tier_multiplier_percent))
                        .Add(now))
          .status());
  const MemberState state{.status = info->status,
                          .tier_multiplier_percent = info->tier_multiplier_percent};
  members_memory_.Remember(key, state, now);
  return state;
}

absl::Status PointsHandler::ApplyMemberEvent(pg::Connection& connection,
                                             const events::v1::Event& event) {
  const absl::Time now = clock_.Now();
  LOYALTY_ASSIGN_OR_RETURN(std::optional<std::string> changed,
                           points::ApplyMemberEvent(connection, event, now));
  // Before the commit: a reader that loads the old row meanwhile cannot remember it, as its
  // refresh_time is older than `now`.
  if (changed.has_value()) members_memory_.Invalidate(*changed, now);
  return absl::OkStatus();
}

absl::StatusOr<PointsHandler::MemberState> PointsHandler::RequireActiveMember(
    const std::string& program_id, const std::string& member_id) {
  LOYALTY_ASSIGN_OR_RETURN(MemberState member, ResolveMember(program_id, member_id));
  if (member.status == MemberStatus::MEMBER_STATUS_ACTIVE) return member;
  const bool erased = member.status == MemberStatus::MEMBER_STATUS_ERASED;
  return ErrorWithReason(absl::StatusCode::kFailedPrecondition,
                         erased ? "MEMBER_ERASED" : "MEMBER_SUSPENDED",
                         absl::StrCat("member ", MemberName(program_id, member_id),
                                      erased ? " was erased" : " is suspended"),
                         {{"member", MemberName(program_id, member_id)}});
}

absl::StatusOr<std::string> PointsHandler::ResolveProgramCurrency(const std::string& program_id) {
  const absl::Time now = clock_.Now();
  if (std::optional<ProjectionMemory<std::string>::Copy> copy = currencies_memory_.Find(program_id);
      copy.has_value() && Answerable(copy->refresh_time, now, /*serve_stale=*/true,
                                     [&] { RefreshProgramLater(program_id); })) {
    return copy->value;
  }
  return LoadProgramCurrency(program_id, /*serve_stale=*/true);
}

absl::StatusOr<std::string> PointsHandler::LoadProgramCurrency(const std::string& program_id,
                                                               bool serve_stale) {
  const absl::Time now = clock_.Now();
  std::optional<std::string> known;
  {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection->Execute(queries::kSelectProgramProjection,
                                                                  pg::Params().Add(program_id)));
    if (rows.rows() == 1) {
      known = rows.String(0, "currency_code");
      const absl::Time refresh_time = rows.Time(0, "refresh_time");
      if (Answerable(refresh_time, now, serve_stale, [&] { RefreshProgramLater(program_id); })) {
        currencies_memory_.Remember(program_id, *known, refresh_time);
        return *known;
      }
    }
  }
  absl::StatusOr<ProgramInfo> info = directory_.GetProgram(program_id);
  if (!info.ok()) {
    if (known.has_value() && info.status().code() == absl::StatusCode::kUnavailable) return *known;
    if (info.status().code() == absl::StatusCode::kNotFound) {
      return InvalidField("program", "UNKNOWN_PROGRAM",
                          absl::StrCat("no program with id ", program_id));
    }
    return info.status();
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_RETURN_IF_ERROR(
      connection
          ->Execute(queries::kUpsertProgramProjection,
                    pg::Params().Add(program_id).Add(info->currency_code).Add(now))
          .status());
  currencies_memory_.Remember(program_id, info->currency_code, now);
  return info->currency_code;
}

// --- Earning -------------------------------------------------------------------------------

template <typename Request>
absl::StatusOr<Purchase> PointsHandler::ParseProgramPurchase(const Request& request,
                                                             absl::Time now) {
  LOYALTY_RETURN_IF_ERROR(ValidateCurrencyCode(request.currency_code(), "currency_code"));
  LOYALTY_ASSIGN_OR_RETURN(
      Purchase purchase,
      ParsePurchase(request.total_minor(), request.lines(),
                    request.has_occur_time() ? &request.occur_time() : nullptr, now));
  LOYALTY_ASSIGN_OR_RETURN(std::string currency, ResolveProgramCurrency(request.program()));
  if (currency != request.currency_code()) {
    return InvalidField("currency_code", "CURRENCY_MISMATCH",
                        absl::StrCat("the program's currency is ", currency));
  }
  return purchase;
}

absl::StatusOr<PurchaseJob> PointsHandler::CheckPurchase(const v1::RecordPurchaseRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_RETURN_IF_ERROR(ValidateText(request.order_id(), "order_id", kOrderIdLengthMax, true));
  const absl::Time now = clock_.Now();
  LOYALTY_ASSIGN_OR_RETURN(Purchase purchase, ParseProgramPurchase(request, now));
  LOYALTY_ASSIGN_OR_RETURN(MemberState member,
                           RequireActiveMember(request.program(), request.member()));
  return PurchaseJob{
      .request = request,
      .purchase = std::move(purchase),
      .tier_multiplier_percent = member.tier_multiplier_percent,
      .call = MakeCall(request, "RecordPurchase", request.program(), request.request_id(), now)};
}

// The ledger work happens in purchase_writer.cc, batched with concurrent purchases.
absl::StatusOr<v1::RecordPurchaseResponse> PointsHandler::RecordPurchase(
    const v1::RecordPurchaseRequest& request) {
  LOYALTY_ASSIGN_OR_RETURN(PurchaseJob job, CheckPurchase(request));
  return purchases_->Record(std::move(job));
}

void PointsHandler::RecordPurchaseAsync(const v1::RecordPurchaseRequest& request,
                                        PurchaseWriter::Done done) {
  absl::StatusOr<PurchaseJob> job = CheckPurchase(request);
  if (!job.ok()) return done(job.status());
  purchases_->RecordAsync(*std::move(job), std::move(done));
}

absl::StatusOr<v1::RefundPurchaseResponse> PointsHandler::RefundPurchase(
    const v1::RefundPurchaseRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_RETURN_IF_ERROR(ValidateText(request.order_id(), "order_id", kOrderIdLengthMax, true));
  if (request.amount_minor() < 0) {
    return InvalidField("amount_minor", "INVALID_REFUND", "must not be negative");
  }
  if (!request.lines().empty() && request.amount_minor() != 0) {
    return InvalidField("amount_minor", "INVALID_REFUND", "give either lines or amount_minor");
  }
  for (int i = 0; i < request.lines_size(); ++i) {
    if (request.lines(i).quantity() <= 0) {
      return InvalidField(absl::StrCat("lines[", i, "].quantity"), "INVALID_REFUND",
                          "must be positive");
    }
  }
  const absl::Time now = clock_.Now();
  const std::string& program_id = request.program();
  const std::string& member_id = request.member();
  return idempotency::RunIdempotent<v1::RefundPurchaseResponse>(
      pool_, MakeCall(request, "RefundPurchase", program_id, request.request_id(), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::RefundPurchaseResponse> {
        // Lock order everywhere: the member's balance, then what belongs to the member.
        LOYALTY_ASSIGN_OR_RETURN(Balance balance, LockBalance(connection, program_id, member_id));
        LOYALTY_ASSIGN_OR_RETURN(
            pg::Result purchase,
            connection.Execute(queries::kSelectPurchaseForUpdate,
                               pg::Params().Add(program_id).Add(request.order_id())));
        if (purchase.rows() == 0 || purchase.String(0, "member_id") != member_id) {
          return ErrorWithReason(absl::StatusCode::kNotFound, "ORDER_NOT_FOUND",
                                 absl::StrCat("no order ", request.order_id(), " for member ",
                                              MemberName(program_id, member_id)),
                                 {{"order_id", request.order_id()}});
        }
        const int64_t total = purchase.Int64(0, "total_minor");
        const int64_t earned = purchase.Int64(0, "points_earned");
        const int64_t refunded_before = purchase.Int64(0, "refunded_minor");
        const int64_t reversed_before = purchase.Int64(0, "reversed_points");
        const int64_t remaining_minor = total - refunded_before;
        if (remaining_minor == 0 && reversed_before >= earned) {
          return ErrorWithReason(
              absl::StatusCode::kFailedPrecondition, "ORDER_FULLY_REFUNDED",
              absl::StrCat("order ", request.order_id(), " is already fully refunded"),
              {{"order_id", request.order_id()}});
        }
        // What this refund returns, in minor units.
        int64_t refund_minor = remaining_minor;
        std::vector<int64_t> refunded_lines, refunded_quantities;
        if (!request.lines().empty()) {
          LOYALTY_ASSIGN_OR_RETURN(
              pg::Result lines,
              connection.Execute(queries::kSelectPurchaseLines,
                                 pg::Params().Add(program_id).Add(request.order_id())));
          struct Line {
            int64_t line_no, quantity_left, unit_price;
            std::string sku;
          };
          std::vector<Line> open;
          absl::int128 lines_total = 0;
          for (int row = 0; row < lines.rows(); ++row) {
            open.push_back({lines.Int64(row, "line_no"),
                            lines.Int64(row, "quantity") - lines.Int64(row, "refunded_quantity"),
                            lines.Int64(row, "unit_price_minor"), lines.String(row, "sku")});
            lines_total +=
                absl::int128(lines.Int64(row, "quantity")) * lines.Int64(row, "unit_price_minor");
          }
          absl::int128 gross = 0;
          for (int i = 0; i < request.lines_size(); ++i) {
            int64_t wanted = request.lines(i).quantity();
            for (Line& line : open) {
              if (line.sku != request.lines(i).sku() || line.quantity_left == 0) continue;
              const int64_t take = std::min(wanted, line.quantity_left);
              line.quantity_left -= take;
              wanted -= take;
              gross += absl::int128(take) * line.unit_price;
              refunded_lines.push_back(line.line_no);
              refunded_quantities.push_back(take);
              if (wanted == 0) break;
            }
            if (wanted > 0) {
              return InvalidField(absl::StrCat("lines[", i, "].quantity"),
                                  "REFUND_EXCEEDS_PURCHASE",
                                  "more units than the order has left to refund");
            }
          }
          // An order-level discount shrank what was paid for each line by the same factor.
          if (lines_total > total && lines_total > 0) gross = gross * total / lines_total;
          refund_minor = std::min<int64_t>(absl::Int128Low64(gross), remaining_minor);
        } else if (request.amount_minor() > 0) {
          if (request.amount_minor() > remaining_minor) {
            return InvalidField("amount_minor", "REFUND_EXCEEDS_PURCHASE",
                                absl::StrCat("at most ", remaining_minor, " is left to refund"));
          }
          refund_minor = request.amount_minor();
        }
        const int64_t reversed =
            RefundPoints(earned, total, refunded_before, reversed_before, refund_minor);

        // Take back pending points of the order first, then available points (the order's
        // own lot first), and record what the member already spent as debt.
        int64_t from_pending = 0;
        if (std::optional<int64_t> pending_id = purchase.OptionalInt64(0, "pending_id");
            pending_id.has_value()) {
          LOYALTY_ASSIGN_OR_RETURN(
              pg::Result credit,
              connection.Execute(queries::kSelectPendingById,
                                 pg::Params().Add(program_id).Add(member_id).Add(*pending_id)));
          if (credit.rows() == 1 && !credit.Bool(0, "released")) {
            from_pending = std::min(reversed, credit.Int64(0, "amount"));
            LOYALTY_RETURN_IF_ERROR(connection
                                        .Execute(queries::kReducePending, pg::Params()
                                                                              .Add(program_id)
                                                                              .Add(member_id)
                                                                              .Add(*pending_id)
                                                                              .Add(from_pending))
                                        .status());
          }
        }
        const int64_t from_available = std::min(reversed - from_pending, balance.available);
        const int64_t to_debt = reversed - from_pending - from_available;
        LOYALTY_RETURN_IF_ERROR(SpendLots(connection, program_id, member_id, from_available,
                                          purchase.OptionalInt64(0, "lot_id")));
        Posting posting;
        posting.Add(member_id, Account::kPending, -from_pending)
            .Add(member_id, Account::kAvailable, -from_available)
            .Add(member_id, Account::kDebt, -to_debt)
            .Add("", Account::kIssued, reversed);
        const TransactionHeader header{
            .kind = v1::TRANSACTION_KIND_REFUND, .order_id = request.order_id(), .time = now};
        LOYALTY_ASSIGN_OR_RETURN(int64_t txn_id,
                                 WritePosting(connection, program_id, header, posting));
        LOYALTY_RETURN_IF_ERROR(
            connection
                .Execute(queries::kUpdatePurchaseRefund, pg::Params()
                                                             .Add(program_id)
                                                             .Add(request.order_id())
                                                             .Add(refund_minor)
                                                             .Add(reversed))
                .status());
        if (!refunded_lines.empty()) {
          LOYALTY_RETURN_IF_ERROR(
              connection
                  .Execute(queries::kUpdateLineRefunds, pg::Params()
                                                            .Add(program_id)
                                                            .Add(request.order_id())
                                                            .Add(Int64Array(refunded_lines))
                                                            .Add(Int64Array(refunded_quantities)))
                  .status());
        }
        // Refunded points no longer count for caps and leaderboards of the purchase's day.
        LOYALTY_RETURN_IF_ERROR(
            connection
                .Execute(queries::kAddEarnDaily, pg::Params()
                                                     .Add(program_id)
                                                     .Add(member_id)
                                                     .Add(Day(purchase.Time(0, "occur_time")))
                                                     .Add(-reversed)
                                                     .Add(-reversed))
                .status());
        v1::RefundPurchaseResponse response;
        // The member's view of a refund includes the debt it created.
        *response.mutable_transaction() =
            TransactionView(txn_id, header, -from_pending - from_available);
        response.set_points_reversed(reversed);
        response.set_debt_added(to_debt);
        LOYALTY_ASSIGN_OR_RETURN(*response.mutable_balance(),
                                 BalanceView(connection, program_id, member_id));
        v1::PointsRefunded event;
        event.set_program(program_id);
        event.set_member(member_id);
        event.set_transaction_id(txn_id);
        event.set_order_id(request.order_id());
        event.set_points(reversed);
        event.set_debt_added(to_debt);
        event.set_refund_minor(refund_minor);
        event.set_order_fully_refunded(refunded_before + refund_minor >= total);
        LOYALTY_RETURN_IF_ERROR(AppendMemberEvent(connection, program_id, member_id, event, now));
        return response;
      });
}

absl::StatusOr<v1::RecordActivityResponse> PointsHandler::RecordActivity(
    const v1::RecordActivityRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  if (request.type() == v1::ACTIVITY_TYPE_UNSPECIFIED ||
      !v1::ActivityType_IsValid(request.type())) {
    return InvalidField("type", "INVALID_ENUM_VALUE", "a known activity type is required");
  }
  if (request.type() == v1::ACTIVITY_TYPE_CUSTOM) {
    LOYALTY_RETURN_IF_ERROR(ValidateText(request.custom_name(), "custom_name", 64, true));
  } else if (!request.custom_name().empty()) {
    return InvalidField("custom_name", "INVALID_ACTIVITY", "only CUSTOM activities have a name");
  }
  LOYALTY_RETURN_IF_ERROR(
      ValidateText(request.reference(), "reference", kReferenceLengthMax, true));
  const absl::Time now = clock_.Now();
  absl::Time occur_time = now;
  if (request.has_occur_time()) {
    LOYALTY_ASSIGN_OR_RETURN(occur_time, ParseTimestamp(request.occur_time(), "occur_time"));
  }
  LOYALTY_RETURN_IF_ERROR(RequireActiveMember(request.program(), request.member()).status());
  const std::string& program_id = request.program();
  const std::string& member_id = request.member();
  const ActivityType type = static_cast<ActivityType>(request.type());
  const std::string activity_key =
      type == ActivityType::kCustom
          ? absl::StrCat("custom:", request.custom_name())
          : std::string(v1::ActivityType_Name(request.type()).substr(sizeof("ACTIVITY_TYPE_") - 1));
  return idempotency::RunIdempotent<v1::RecordActivityResponse>(
      pool_, MakeCall(request, "RecordActivity", program_id, request.request_id(), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::RecordActivityResponse> {
        LOYALTY_ASSIGN_OR_RETURN(Balance balance, LockBalance(connection, program_id, member_id));
        LOYALTY_ASSIGN_OR_RETURN(auto rules, LoadRules(connection, program_id));
        LOYALTY_ASSIGN_OR_RETURN(ActivityRule rule,
                                 FindActivityRule(rules.first, type, request.custom_name()));
        LOYALTY_ASSIGN_OR_RETURN(
            pg::Result exists,
            connection.Execute(queries::kActivityAwardExists, pg::Params()
                                                                  .Add(program_id)
                                                                  .Add(member_id)
                                                                  .Add(activity_key)
                                                                  .Add(request.reference())));
        if (exists.Bool(0, 0)) {
          return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "ACTIVITY_ALREADY_AWARDED",
                                 "this activity reference was already awarded",
                                 {{"reference", request.reference()}});
        }
        LOYALTY_ASSIGN_OR_RETURN(
            pg::Result count,
            connection.Execute(queries::kCountActivityAwards,
                               pg::Params()
                                   .Add(program_id)
                                   .Add(member_id)
                                   .Add(activity_key)
                                   .Add(LimitPeriodStart(rule.limit_period, occur_time))));
        LOYALTY_ASSIGN_OR_RETURN(Evaluation evaluation, EvaluateActivity(rule, count.Int64(0, 0)));
        Posting posting;
        const CreditSplit split =
            Credit(posting, member_id, balance, evaluation.points, Account::kIssued);
        const TransactionHeader header{
            .kind = v1::TRANSACTION_KIND_ACTIVITY, .reason = activity_key, .time = now};
        LOYALTY_ASSIGN_OR_RETURN(int64_t txn_id,
                                 WritePosting(connection, program_id, header, posting,
                                              {{member_id, evaluation.points}}));
        if (split.to_available > 0) {
          LOYALTY_RETURN_IF_ERROR(InsertLot(connection, program_id, member_id, txn_id,
                                            split.to_available, ExpireTime(rules.first, now),
                                            std::nullopt)
                                      .status());
        }
        LOYALTY_RETURN_IF_ERROR(
            connection
                .Execute(queries::kInsertActivityAward, pg::Params()
                                                            .Add(program_id)
                                                            .Add(member_id)
                                                            .Add(activity_key)
                                                            .Add(request.reference())
                                                            .Add(evaluation.points)
                                                            .Add(occur_time)
                                                            .Add(txn_id))
                .status());
        LOYALTY_RETURN_IF_ERROR(connection
                                    .Execute(queries::kAddEarnDaily, pg::Params()
                                                                         .Add(program_id)
                                                                         .Add(member_id)
                                                                         .Add(Day(occur_time))
                                                                         .Add(int64_t{0})
                                                                         .Add(evaluation.points))
                                    .status());
        v1::RecordActivityResponse response;
        *response.mutable_transaction() =
            TransactionView(txn_id, header, MemberPoints(posting, member_id));
        response.set_points(evaluation.points);
        AppendBreakdown(evaluation.breakdown, response.mutable_breakdown());
        LOYALTY_ASSIGN_OR_RETURN(*response.mutable_balance(),
                                 BalanceView(connection, program_id, member_id));
        v1::PointsEarned event;
        event.set_program(program_id);
        event.set_member(member_id);
        event.set_transaction_id(txn_id);
        event.set_source(v1::EARN_SOURCE_ACTIVITY);
        event.set_points(evaluation.points);
        *event.mutable_available_time() = ToTimestamp(now);
        *event.mutable_occur_time() = ToTimestamp(occur_time);
        event.set_activity_type(request.type());
        event.set_custom_name(request.custom_name());
        event.set_reference(request.reference());
        LOYALTY_RETURN_IF_ERROR(AppendMemberEvent(connection, program_id, member_id, event, now));
        return response;
      });
}

absl::StatusOr<v1::PreviewPurchaseResponse> PointsHandler::PreviewPurchase(
    const v1::PreviewPurchaseRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  if (!request.member().empty())
    LOYALTY_RETURN_IF_ERROR(ValidateMemberId(request.member(), "member"));
  const absl::Time now = clock_.Now();
  LOYALTY_ASSIGN_OR_RETURN(Purchase purchase, ParseProgramPurchase(request, now));
  MemberEarnContext context;
  if (!request.member().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(MemberState member,
                             ResolveMember(request.program(), request.member()));
    context.tier_multiplier_percent = member.tier_multiplier_percent;
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(auto rules, LoadRules(*connection, request.program()));
  if (!request.member().empty()) {
    const MemberRef member[] = {{request.program(), request.member()}};
    const absl::Time time[] = {purchase.occur_time};
    const pg::Statement earned_so_far = PurchasePointsInWindows(member, time);
    LOYALTY_ASSIGN_OR_RETURN(pg::Result rows,
                             connection->Execute(*earned_so_far.query, earned_so_far.params));
    const EarnedSoFar earned = ParseEarned(rows, 1)[0];
    context.earned_today = earned.today;
    context.earned_this_month = earned.this_month;
  }
  const Evaluation evaluation = EvaluatePurchase(rules.first, purchase, context);
  v1::PreviewPurchaseResponse response;
  response.set_points(evaluation.points);
  AppendBreakdown(evaluation.breakdown, response.mutable_breakdown());
  return response;
}

// --- Reads ---------------------------------------------------------------------------------

absl::StatusOr<v1::GetBalanceResponse> PointsHandler::GetBalance(
    const v1::GetBalanceRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  // An unknown member is NOT_FOUND rather than an empty balance.
  LOYALTY_RETURN_IF_ERROR(ResolveMember(request.program(), request.member()).status());
  const absl::Time now = clock_.Now();
  const std::string& program_id = request.program();
  const std::string& member_id = request.member();
  v1::GetBalanceResponse response;
  {
    // One statement, shared with the reads queued beside this one: the balance with its dates as
    // stored, and whether anything came due.
    LOYALTY_ASSIGN_OR_RETURN(BalanceRead read, balance_reads_->Read({program_id, member_id}, now));
    if (!read.due) {
      *response.mutable_balance() = BalanceProto(read.balance, read.dated);
      return response;
    }
  }
  // Pending points that came due and holds that ran out change the balance by themselves: the
  // read applies them (in a short write transaction) so the member never sees stale numbers.
  LOYALTY_RETURN_IF_ERROR(pool_.InTransaction([&](pg::Connection& connection) -> absl::Status {
    LOYALTY_ASSIGN_OR_RETURN(Balance balance, LockBalance(connection, program_id, member_id));
    return MaintainMember(connection, program_id, member_id, balance, now);
  }));
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(*response.mutable_balance(),
                           BalanceView(*connection, program_id, member_id));
  return response;
}

absl::StatusOr<v1::ListTransactionsResponse> PointsHandler::ListTransactions(
    const v1::ListTransactionsRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_ASSIGN_OR_RETURN(int32_t page_size,
                           paging::EffectivePageSize(request.page_size(), "page_size"));
  LOYALTY_RETURN_IF_ERROR(ResolveMember(request.program(), request.member()).status());
  const std::string filters =
      absl::StrCat("program=", request.program(), "|member=", request.member());
  int64_t before = std::numeric_limits<int64_t>::max();
  if (!request.page_token().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(paging::PageCursor cursor,
                             page_tokens_.Decode(request.page_token(), filters, "page_token"));
    if (cursor.keys.size() != 1 || !absl::SimpleAtoi(cursor.keys[0], &before)) {
      return InvalidField("page_token", "INVALID_PAGE_TOKEN", "malformed page token");
    }
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows,
                           connection->Execute(queries::kListTransactions,
                                               pg::Params()
                                                   .Add(request.program())
                                                   .Add(request.member())
                                                   .Add(before)
                                                   .Add(static_cast<int64_t>(page_size) + 1)));
  v1::ListTransactionsResponse response;
  const int count = std::min(rows.rows(), page_size);
  for (int row = 0; row < count; ++row) {
    TransactionHeader header{.kind = static_cast<int>(rows.Int64(row, "kind")),
                             .reason = rows.OptionalString(row, "reason"),
                             .order_id = rows.OptionalString(row, "order_id"),
                             .hold_id = rows.OptionalString(row, "hold_id"),
                             .counterparty_member = rows.OptionalString(row, "counterparty_member"),
                             .member_id = rows.OptionalString(row, "member_id"),
                             .time = rows.Time(row, "create_time")};
    const int64_t points = rows.Int64(row, "points");
    // A transfer is stored once, from the giver's side; the receiver sees it as incoming.
    if (header.kind == v1::TRANSACTION_KIND_TRANSFER_OUT &&
        header.counterparty_member == request.member()) {
      header.kind = v1::TRANSACTION_KIND_TRANSFER_IN;
      header.counterparty_member = rows.OptionalString(row, "member_id");
    }
    *response.add_transactions() = TransactionView(rows.Int64(row, "txn_id"), header, points);
  }
  if (rows.rows() > page_size) {
    response.set_next_page_token(page_tokens_.Encode(
        paging::PageCursor{{std::to_string(rows.Int64(count - 1, "txn_id"))}}, filters));
  }
  return response;
}

// --- Admin ---------------------------------------------------------------------------------

absl::StatusOr<v1::AdjustPointsResponse> PointsHandler::AdjustPoints(
    const v1::AdjustPointsRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  if (request.points() == 0 || request.points() > kAdjustPointsAbsMax ||
      request.points() < -kAdjustPointsAbsMax) {
    return InvalidField("points", "INVALID_POINTS",
                        absl::StrCat("must be non-zero and within +-", kAdjustPointsAbsMax));
  }
  LOYALTY_RETURN_IF_ERROR(ValidateText(request.reason(), "reason", kReasonLengthMax, true));
  // Admins may correct a suspended member too; an erased one has nothing left to correct.
  LOYALTY_ASSIGN_OR_RETURN(MemberState member, ResolveMember(request.program(), request.member()));
  if (member.status == MemberStatus::MEMBER_STATUS_ERASED) {
    return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "MEMBER_ERASED",
                           "the member was erased",
                           {{"member", MemberName(request.program(), request.member())}});
  }
  const absl::Time now = clock_.Now();
  const std::string& program_id = request.program();
  const std::string& member_id = request.member();
  return idempotency::RunIdempotent<v1::AdjustPointsResponse>(
      pool_, MakeCall(request, "AdjustPoints", program_id, request.request_id(), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::AdjustPointsResponse> {
        LOYALTY_ASSIGN_OR_RETURN(Balance balance, LockBalance(connection, program_id, member_id));
        LOYALTY_RETURN_IF_ERROR(MaintainMember(connection, program_id, member_id, balance, now));
        Posting posting;
        CreditSplit split;
        int64_t earned = 0;
        if (request.points() > 0) {
          split = Credit(posting, member_id, balance, request.points(), Account::kAdjustments);
          earned = request.points();
        } else {
          const int64_t points = -request.points();
          if (balance.available < points) return InsufficientPoints(balance.available, points);
          LOYALTY_RETURN_IF_ERROR(SpendLots(connection, program_id, member_id, points));
          posting.Move(member_id, Account::kAvailable, "", Account::kAdjustments, points);
        }
        const TransactionHeader header{
            .kind = v1::TRANSACTION_KIND_ADJUSTMENT, .reason = request.reason(), .time = now};
        LOYALTY_ASSIGN_OR_RETURN(int64_t txn_id, WritePosting(connection, program_id, header,
                                                              posting, {{member_id, earned}}));
        if (split.to_available > 0) {
          LOYALTY_ASSIGN_OR_RETURN(auto rules, LoadRules(connection, program_id));
          LOYALTY_RETURN_IF_ERROR(InsertLot(connection, program_id, member_id, txn_id,
                                            split.to_available, ExpireTime(rules.first, now),
                                            std::nullopt)
                                      .status());
        }
        v1::AdjustPointsResponse response;
        *response.mutable_transaction() =
            TransactionView(txn_id, header, MemberPoints(posting, member_id));
        LOYALTY_ASSIGN_OR_RETURN(*response.mutable_balance(),
                                 BalanceView(connection, program_id, member_id));
        v1::PointsAdjusted event;
        event.set_program(program_id);
        event.set_member(member_id);
        event.set_transaction_id(txn_id);
        event.set_points(request.points());
        event.set_reason(request.reason());
        LOYALTY_RETURN_IF_ERROR(AppendMemberEvent(connection, program_id, member_id, event, now));
        return response;
      });
}

absl::StatusOr<v1::TransferPointsResponse> PointsHandler::TransferPoints(
    const v1::TransferPointsRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_RETURN_IF_ERROR(ValidateMemberId(request.to_member(), "to_member"));
  if (request.to_member() == request.member()) {
    return InvalidField("to_member", "SELF_TRANSFER", "a member cannot transfer to themselves");
  }
  if (request.points() <= 0 || request.points() > kAdjustPointsAbsMax) {
    return InvalidField("points", "INVALID_POINTS",
                        absl::StrCat("must be in [1, ", kAdjustPointsAbsMax, "]"));
  }
  LOYALTY_RETURN_IF_ERROR(ValidateText(request.reason(), "reason", kReasonLengthMax, false));
  LOYALTY_RETURN_IF_ERROR(RequireActiveMember(request.program(), request.member()).status());
  LOYALTY_RETURN_IF_ERROR(RequireActiveMember(request.program(), request.to_member()).status());
  const absl::Time now = clock_.Now();
  const std::string& program_id = request.program();
  const std::string& giver = request.member();
  const std::string& receiver = request.to_member();
  const int64_t points = request.points();
  return idempotency::RunIdempotent<v1::TransferPointsResponse>(
      pool_, MakeCall(request, "TransferPoints", program_id, request.request_id(), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::TransferPointsResponse> {
        // Two members: lock in id order, so opposite transfers cannot deadlock.
        Balance giver_balance, receiver_balance;
        if (giver < receiver) {
          LOYALTY_ASSIGN_OR_RETURN(giver_balance, LockBalance(connection, program_id, giver));
          LOYALTY_ASSIGN_OR_RETURN(receiver_balance, LockBalance(connection, program_id, receiver));
        } else {
          LOYALTY_ASSIGN_OR_RETURN(receiver_balance, LockBalance(connection, program_id, receiver));
          LOYALTY_ASSIGN_OR_RETURN(giver_balance, LockBalance(connection, program_id, giver));
        }
        LOYALTY_RETURN_IF_ERROR(MaintainMember(connection, program_id, giver, giver_balance, now));
        if (giver_balance.available < points) {
          return InsufficientPoints(giver_balance.available, points);
        }
        LOYALTY_RETURN_IF_ERROR(SpendLots(connection, program_id, giver, points));
        Posting posting;
        posting.Add(giver, Account::kAvailable, -points);
        const CreditSplit split = SplitCredit(points, receiver_balance.debt);
        posting.Add(receiver, Account::kDebt, split.to_debt)
            .Add(receiver, Account::kAvailable, split.to_available);
        const TransactionHeader header{
            .kind = v1::TRANSACTION_KIND_TRANSFER_OUT,
            .reason = request.reason().empty() ? std::nullopt : std::optional(request.reason()),
            .counterparty_member = receiver,
            .member_id = giver,
            .time = now};
        LOYALTY_ASSIGN_OR_RETURN(int64_t txn_id, WritePosting(connection, program_id, header,
                                                              posting, {{receiver, points}}));
        if (split.to_available > 0) {
          LOYALTY_ASSIGN_OR_RETURN(auto rules, LoadRules(connection, program_id));
          LOYALTY_RETURN_IF_ERROR(InsertLot(connection, program_id, receiver, txn_id,
                                            split.to_available, ExpireTime(rules.first, now),
                                            std::nullopt)
                                      .status());
        }
        v1::TransferPointsResponse response;
        *response.mutable_transaction() = TransactionView(txn_id, header, -points);
        LOYALTY_ASSIGN_OR_RETURN(*response.mutable_balance(),
                                 BalanceView(connection, program_id, giver));
        v1::PointsTransferred event;
        event.set_program(program_id);
        event.set_member(giver);
        event.set_to_member(receiver);
        event.set_transaction_id(txn_id);
        event.set_points(points);
        LOYALTY_RETURN_IF_ERROR(AppendMemberEvent(connection, program_id, giver, event, now));
        return response;
      });
}

absl::StatusOr<v1::GetEarningRulesResponse> PointsHandler::GetEarningRules(
    const v1::GetEarningRulesRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  LOYALTY_RETURN_IF_ERROR(ResolveProgramCurrency(request.program()).status());
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(auto rules, LoadRules(*connection, request.program()));
  v1::GetEarningRulesResponse response;
  *response.mutable_rules() = ToProto(rules.first);
  response.set_etag(Etag(rules.second));
  return response;
}

absl::StatusOr<v1::UpdateEarningRulesResponse> PointsHandler::UpdateEarningRules(
    const v1::UpdateEarningRulesRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  if (!request.has_rules()) return InvalidField("rules", "FIELD_REQUIRED", "rules are required");
  LOYALTY_ASSIGN_OR_RETURN(EarningRules rules, ParseEarningRules(request.rules()));
  LOYALTY_RETURN_IF_ERROR(ResolveProgramCurrency(request.program()).status());
  const absl::Time now = clock_.Now();
  const std::string& program_id = request.program();
  return idempotency::RunIdempotent<v1::UpdateEarningRulesResponse>(
      pool_, MakeCall(request, "UpdateEarningRules", program_id, request.request_id(), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::UpdateEarningRulesResponse> {
        LOYALTY_ASSIGN_OR_RETURN(auto current,
                                 LoadRules(connection, program_id, queries::kLockRules));
        if (!request.etag().empty() && request.etag() != Etag(current.second)) {
          return ErrorWithReason(absl::StatusCode::kAborted, "ETAG_MISMATCH",
                                 "the rules changed since they were read; read them again",
                                 {{"etag", Etag(current.second)}});
        }
        const v1::EarningRules stored = ToProto(rules);
        const int64_t version = current.second + 1;
        LOYALTY_RETURN_IF_ERROR(
            connection
                .Execute(queries::kUpsertRules, pg::Params()
                                                    .Add(program_id)
                                                    .AddBytes(stored.SerializeAsString())
                                                    .Add(version)
                                                    .Add(now))
                .status());
        v1::UpdateEarningRulesResponse response;
        *response.mutable_rules() = stored;
        response.set_etag(Etag(version));
        return response;
      });
}

absl::StatusOr<v1::GetLeaderboardResponse> PointsHandler::GetLeaderboard(
    const v1::GetLeaderboardRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  if (!request.member().empty())
    LOYALTY_RETURN_IF_ERROR(ValidateMemberId(request.member(), "member"));
  if (!v1::LeaderboardPeriod_IsValid(request.period())) {
    return InvalidField("period", "INVALID_ENUM_VALUE", "unknown leaderboard period");
  }
  if (request.top() < 0 || request.top() > kLeaderboardTopMax) {
    return InvalidField("top", "INVALID_TOP",
                        absl::StrCat("must be in [0, ", kLeaderboardTopMax, "]"));
  }
  const int32_t top = request.top() == 0 ? kLeaderboardTopDefault : request.top();
  const absl::CivilDay today = absl::ToCivilDay(clock_.Now(), absl::UTCTimeZone());
  std::optional<absl::CivilDay> start;
  switch (request.period()) {
    case v1::LEADERBOARD_PERIOD_WEEK:
      // absl::Weekday counts from Monday (0), the ISO week start.
      start = today - static_cast<int>(absl::GetWeekday(today));
      break;
    case v1::LEADERBOARD_PERIOD_YEAR:
      start = absl::CivilDay(absl::CivilYear(today));
      break;
    case v1::LEADERBOARD_PERIOD_ALL_TIME:
      break;
    default:
      start = absl::CivilDay(absl::CivilMonth(today));
      break;
  }
  const std::string since = start.has_value() ? absl::FormatCivilTime(*start) : "0001-01-01";
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection->Execute(
          queries::kLeaderboardTop,
          pg::Params().Add(request.program()).Add(since).Add(static_cast<int64_t>(top))));
  v1::GetLeaderboardResponse response;
  for (int row = 0; row < rows.rows(); ++row) {
    v1::LeaderboardEntry* entry = response.add_entries();
    entry->set_rank(rows.Int64(row, "rank"));
    entry->set_member(rows.String(row, "member_id"));
    entry->set_points(rows.Int64(row, "total"));
  }
  if (!request.member().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(
        pg::Result own,
        connection->Execute(queries::kLeaderboardMember,
                            pg::Params().Add(request.program()).Add(since).Add(request.member())));
    if (own.rows() == 1) {
      v1::LeaderboardEntry* entry = response.mutable_member_entry();
      entry->set_rank(own.Int64(0, "rank"));
      entry->set_member(request.member());
      entry->set_points(own.Int64(0, "total"));
    }
  }
  if (start.has_value()) {
    *response.mutable_period_start_time() =
        ToTimestamp(absl::FromCivil(*start, absl::UTCTimeZone()));
  }
  return response;
}

// --- Expiry --------------------------------------------------------------------------------

absl::StatusOr<v1::RunExpiryResponse> PointsHandler::RunExpiry(
    const v1::RunExpiryRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  if (request.batch_size() < 0 || request.batch_size() > kExpiryBatchMax) {
    return InvalidField("batch_size", "INVALID_BATCH_SIZE",
                        absl::StrCat("must be in [0, ", kExpiryBatchMax, "]"));
  }
  const int32_t batch = request.batch_size() == 0 ? kExpiryBatchDefault : request.batch_size();
  const absl::Time now = clock_.Now();
  absl::Time as_of = now;
  if (request.has_as_of()) {
    LOYALTY_ASSIGN_OR_RETURN(as_of, ParseTimestamp(request.as_of(), "as_of"));
  }
  if (as_of > now) return InvalidField("as_of", "AS_OF_IN_FUTURE", "cannot expire the future");
  const std::string& program_id = request.program();
  std::vector<std::string> members;
  int64_t selected = 0;
  {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(
        pg::Result due,
        connection->Execute(
            queries::kSelectDueLots,
            pg::Params().Add(program_id).Add(as_of).Add(static_cast<int64_t>(batch))));
    selected = due.rows();
    for (int row = 0; row < due.rows(); ++row) {
      const std::string member_id = due.String(row, "member_id");
      if (std::find(members.begin(), members.end(), member_id) == members.end()) {
        members.push_back(member_id);
      }
    }
  }
  v1::RunExpiryResponse response;
  for (const std::string& member_id : members) {
    // One short transaction per member; running again expires nothing twice because each lot's
    // remainder is taken down in the same transaction as the ledger entry.
    LOYALTY_RETURN_IF_ERROR(pool_.InTransaction([&](pg::Connection& connection) -> absl::Status {
      LOYALTY_ASSIGN_OR_RETURN(Balance balance, LockBalance(connection, program_id, member_id));
      LOYALTY_ASSIGN_OR_RETURN(std::vector<Lot> lots,
                               MemberDueLots(connection, program_id, member_id, as_of));
      int64_t due_points = 0;
      for (const Lot& lot : lots) due_points += lot.remaining;
      // Points of expired lots that back an open hold stay until the hold resolves: only what is
      // available can expire.
      const int64_t points = std::min(due_points, balance.available);
      if (points == 0) return absl::OkStatus();
      std::optional<std::vector<LotTake>> takes = AllocateFromLots(lots, points);
      LOYALTY_CHECK(takes.has_value());
      LOYALTY_RETURN_IF_ERROR(TakeFromLots(connection, program_id, member_id, *takes));
      Posting posting;
      posting.Move(member_id, Account::kAvailable, "", Account::kExpired, points);
      const TransactionHeader header{.kind = v1::TRANSACTION_KIND_EXPIRY, .time = now};
      LOYALTY_ASSIGN_OR_RETURN(const int64_t txn_id,
                               WritePosting(connection, program_id, header, posting));
      v1::PointsExpired event;
      event.set_program(program_id);
      event.set_member(member_id);
      event.set_transaction_id(txn_id);
      event.set_points(points);
      LOYALTY_RETURN_IF_ERROR(AppendMemberEvent(connection, program_id, member_id, event, now));
      response.set_lots_expired(response.lots_expired() + static_cast<int64_t>(takes->size()));
      response.set_points_expired(response.points_expired() + points);
      return absl::OkStatus();
    }));
  }
  response.set_more(selected == batch);
  return response;
}

absl::StatusOr<int> PointsHandler::ReleaseDuePending(const std::string& program_id, int limit) {
  const absl::Time now = clock_.Now();
  std::vector<std::string> members;
  {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(
        pg::Result rows,
        connection->Execute(
            queries::kSelectMembersWithDuePending,
            pg::Params().Add(program_id).Add(now).Add(static_cast<int64_t>(limit))));
    for (int row = 0; row < rows.rows(); ++row) members.push_back(rows.String(row, "member_id"));
  }
  int released = 0;
  for (const std::string& member_id : members) {
    LOYALTY_RETURN_IF_ERROR(pool_.InTransaction([&](pg::Connection& connection) -> absl::Status {
      LOYALTY_ASSIGN_OR_RETURN(Balance balance, LockBalance(connection, program_id, member_id));
      LOYALTY_ASSIGN_OR_RETURN(int count,
                               ReleasePendingFor(connection, program_id, member_id, balance, now));
      released += count;
      return absl::OkStatus();
    }));
  }
  return released;
}

// --- Holds ---------------------------------------------------------------------------------

absl::StatusOr<v1::CreateHoldResponse> PointsHandler::CreateHold(
    const v1::CreateHoldRequest& request) {
  LOYALTY_ASSIGN_OR_RETURN(const absl::Duration ttl, ValidateCreateHold(request));
  LOYALTY_RETURN_IF_ERROR(RequireActiveMember(request.program(), request.member()).status());
  const absl::Time now = clock_.Now();
  const std::string& program_id = request.program();
  const std::string& member_id = request.member();
  v1::CreateHoldResponse response;
  LOYALTY_RETURN_IF_ERROR(pool_.InTransaction([&](pg::Connection& connection) -> absl::Status {
    LOYALTY_ASSIGN_OR_RETURN(Balance balance, LockBalance(connection, program_id, member_id));
    LOYALTY_ASSIGN_OR_RETURN(
        pg::Result existing,
        connection.Execute(queries::kSelectHold,
                           pg::Params().Add(program_id).Add(request.hold_id())));
    if (existing.rows() == 1) {
      // The saga retries CreateHold with the same id after a crash: same hold, same answer.
      if (existing.String(0, "member_id") != member_id ||
          existing.Int64(0, "points") != request.points()) {
        return InvalidField("hold_id", "IDEMPOTENCY_KEY_REUSED",
                            "this hold id was used for another hold");
      }
      *response.mutable_hold() =
          HoldView(request.hold_id(), member_id, request.points(),
                   static_cast<int>(existing.Int64(0, "status")), existing.Time(0, "expire_time"));
      return absl::OkStatus();
    }
    LOYALTY_RETURN_IF_ERROR(MaintainMember(connection, program_id, member_id, balance, now));
    if (balance.available < request.points()) {
      return InsufficientPoints(balance.available, request.points());
    }
    // A hold moves the points from available to held; a hold captured at once spends them
    // (oldest lots first), as CaptureHold would a moment later.
    const bool capture = request.capture();
    if (capture) {
      LOYALTY_RETURN_IF_ERROR(SpendLots(connection, program_id, member_id, request.points()));
    }
    const HoldEntries entries = NewHoldEntries(member_id, request.points(), capture);
    const TransactionHeader header{
        .kind = entries.kind,
        .reason = request.reason().empty() ? std::nullopt : std::optional(request.reason()),
        .hold_id = request.hold_id(),
        .time = now};
    LOYALTY_ASSIGN_OR_RETURN(const int64_t txn_id,
                             WritePosting(connection, program_id, header, entries.posting));
    const NewHold hold{.ref = {program_id, request.hold_id()},
                       .member_id = member_id,
                       .points = request.points(),
                       .reason = request.reason(),
                       .expire_time = now + ttl,
                       .create_time = now,
                       .status = entries.status};
    const pg::Statement insert[] = {InsertHolds({&hold, 1})};
    LOYALTY_RETURN_IF_ERROR(connection.ExecutePipeline(insert).status());
    *response.mutable_hold() =
        HoldView(request.hold_id(), member_id, request.points(), entries.status, now + ttl);
    if (!capture) return absl::OkStatus();
    return AppendMemberEvent(
        connection, program_id, member_id,
        SpentEvent(program_id, member_id, txn_id, request.hold_id(), request.points()), now);
  }));
  return response;
}

namespace {

// A hold with its member's balance and its own row locked, in the lock order of every other
// path: the hold is looked up, its member's balance locked, then the hold row.
struct LockedHold {
  std::string member_id;
  Balance balance;
  int64_t points = 0;
  int status = 0;
  absl::Time expire_time;
};

absl::StatusOr<LockedHold> LockHold(pg::Connection& connection, const std::string& program_id,
                                    const std::string& hold_id) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result found,
      connection.Execute(queries::kSelectHold, pg::Params().Add(program_id).Add(hold_id)));
  if (found.rows() == 0) {
    return ErrorWithReason(absl::StatusCode::kNotFound, "HOLD_NOT_FOUND",
                           absl::StrCat("no hold ", hold_id), {{"hold_id", hold_id}});
  }
  LockedHold locked{.member_id = found.String(0, "member_id")};
  LOYALTY_ASSIGN_OR_RETURN(locked.balance, LockBalance(connection, program_id, locked.member_id));
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result hold,
      connection.Execute(queries::kSelectHoldForUpdate, pg::Params().Add(program_id).Add(hold_id)));
  locked.points = hold.Int64(0, "points");
  locked.status = static_cast<int>(hold.Int64(0, "status"));
  locked.expire_time = hold.Time(0, "expire_time");
  return locked;
}

struct HoldResolution {
  v1::Hold hold;
  // Set when the hold could not be resolved as asked (the transaction still commits, e.g. an
  // expired hold voids itself); returned to the caller after the commit.
  absl::Status refusal;
};

// Resolves a hold at most once: capture spends the points, void returns them. Both look the
// hold up, lock its member's balance, then the hold row (the lock order of every other path).
absl::StatusOr<HoldResolution> ResolveHold(pg::Pool& pool, const Clock& clock,
                                           const std::string& program_id,
                                           const std::string& hold_id, bool capture) {
  const absl::Time now = clock.Now();
  HoldResolution resolution;
  LOYALTY_RETURN_IF_ERROR(pool.InTransaction([&](pg::Connection& connection) -> absl::Status {
    resolution.refusal = absl::OkStatus();
    LOYALTY_ASSIGN_OR_RETURN(LockedHold locked, LockHold(connection, program_id, hold_id));
    const std::string& member_id = locked.member_id;
    Balance& balance = locked.balance;
    const int64_t points = locked.points;
    int status = locked.status;
    const absl::Time expire_time = locked.expire_time;
    if (status == v1::HOLD_STATUS_OPEN && expire_time <= now) {
      LOYALTY_RETURN_IF_ERROR(ReturnHeldPoints(connection, program_id, member_id, hold_id, points,
                                               v1::HOLD_STATUS_EXPIRED, balance, now));
      status = v1::HOLD_STATUS_EXPIRED;
    }
    if (status == v1::HOLD_STATUS_OPEN) {
      if (capture) {
        LOYALTY_RETURN_IF_ERROR(SpendLots(connection, program_id, member_id, points));
        Posting posting;
        posting.Move(member_id, Account::kHeld, "", Account::kRedeemed, points);
        const TransactionHeader header{
            .kind = v1::TRANSACTION_KIND_HOLD_CAPTURE, .hold_id = hold_id, .time = now};
        LOYALTY_ASSIGN_OR_RETURN(const int64_t txn_id,
                                 WritePosting(connection, program_id, header, posting));
        LOYALTY_RETURN_IF_ERROR(
            connection
                .Execute(queries::kResolveHold,
                         pg::Params()
                             .Add(program_id)
                             .Add(hold_id)
                             .Add(static_cast<int64_t>(v1::HOLD_STATUS_CAPTURED))
                             .Add(now))
                .status());
        LOYALTY_RETURN_IF_ERROR(
            AppendMemberEvent(connection, program_id, member_id,
                              SpentEvent(program_id, member_id, txn_id, hold_id, points), now));
        status = v1::HOLD_STATUS_CAPTURED;
      } else {
        LOYALTY_RETURN_IF_ERROR(ReturnHeldPoints(connection, program_id, member_id, hold_id, points,
                                                 v1::HOLD_STATUS_VOIDED, balance, now));
        status = v1::HOLD_STATUS_VOIDED;
      }
    } else if (capture && status != v1::HOLD_STATUS_CAPTURED) {
      resolution.refusal = ErrorWithReason(
          absl::StatusCode::kFailedPrecondition,
          status == v1::HOLD_STATUS_EXPIRED ? "HOLD_EXPIRED" : "HOLD_NOT_OPEN",
          absl::StrCat("hold ", hold_id, " can no longer be captured"), {{"hold_id", hold_id}});
    } else if (!capture &&
               (status == v1::HOLD_STATUS_CAPTURED || status == v1::HOLD_STATUS_REFUNDED)) {
      resolution.refusal =
          ErrorWithReason(absl::StatusCode::kFailedPrecondition, "HOLD_ALREADY_CAPTURED",
                          absl::StrCat("hold ", hold_id, " was captured"), {{"hold_id", hold_id}});
    }
    resolution.hold = HoldView(hold_id, member_id, points, status, expire_time);
    return absl::OkStatus();
  }));
  return resolution;
}

}  // namespace

absl::StatusOr<v1::CaptureHoldResponse> PointsHandler::CaptureHold(
    const v1::CaptureHoldRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateHoldRef(request.program(), request.hold_id()));
  LOYALTY_ASSIGN_OR_RETURN(HoldResolution resolution,
                           ResolveHold(pool_, clock_, request.program(), request.hold_id(),
                                       /*capture=*/true));
  LOYALTY_RETURN_IF_ERROR(resolution.refusal);
  v1::CaptureHoldResponse response;
  *response.mutable_hold() = std::move(resolution.hold);
  return response;
}

absl::StatusOr<v1::VoidHoldResponse> PointsHandler::VoidHold(const v1::VoidHoldRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateHoldRef(request.program(), request.hold_id()));
  LOYALTY_ASSIGN_OR_RETURN(HoldResolution resolution,
                           ResolveHold(pool_, clock_, request.program(), request.hold_id(),
                                       /*capture=*/false));
  LOYALTY_RETURN_IF_ERROR(resolution.refusal);
  v1::VoidHoldResponse response;
  *response.mutable_hold() = std::move(resolution.hold);
  return response;
}

absl::StatusOr<v1::RefundHoldResponse> PointsHandler::RefundHold(
    const v1::RefundHoldRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateHoldRef(request.program(), request.hold_id()));
  const absl::Time now = clock_.Now();
  const std::string& program_id = request.program();
  const std::string& hold_id = request.hold_id();
  v1::RefundHoldResponse response;
  LOYALTY_RETURN_IF_ERROR(pool_.InTransaction([&](pg::Connection& connection) -> absl::Status {
    LOYALTY_ASSIGN_OR_RETURN(LockedHold locked, LockHold(connection, program_id, hold_id));
    const std::string& member_id = locked.member_id;
    const int64_t points = locked.points;
    const int status = locked.status;
    const absl::Time expire_time = locked.expire_time;
    Balance& balance = locked.balance;
    if (status == v1::HOLD_STATUS_REFUNDED) {  // A retried refund: same answer, no second credit.
      *response.mutable_hold() = HoldView(hold_id, member_id, points, status, expire_time);
      return absl::OkStatus();
    }
    if (status != v1::HOLD_STATUS_CAPTURED) {
      return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "HOLD_NOT_CAPTURED",
                             absl::StrCat("hold ", hold_id, " was not captured"),
                             {{"hold_id", hold_id}});
    }
    // The points come back from the redeemed account as fresh points: debt is paid first and the
    // rest opens a lot with the program's expiry, as any credit does. Lifetime earnings do not
    // grow: nothing was earned.
    Posting posting;
    const CreditSplit split = Credit(posting, member_id, balance, points, Account::kRedeemed);
    const TransactionHeader header{.kind = v1::TRANSACTION_KIND_HOLD_REFUND,
                                   .reason = std::string("redemption cancelled"),
                                   .hold_id = hold_id,
                                   .time = now};
    LOYALTY_ASSIGN_OR_RETURN(int64_t txn_id, WritePosting(connection, program_id, header, posting));
    if (split.to_available > 0) {
      LOYALTY_ASSIGN_OR_RETURN(auto rules, LoadRules(connection, program_id));
      LOYALTY_RETURN_IF_ERROR(InsertLot(connection, program_id, member_id, txn_id,
                                        split.to_available, ExpireTime(rules.first, now),
                                        std::nullopt)
                                  .status());
    }
    LOYALTY_RETURN_IF_ERROR(
        connection
            .Execute(queries::kResolveHold, pg::Params()
                                                .Add(program_id)
                                                .Add(hold_id)
                                                .Add(static_cast<int64_t>(v1::HOLD_STATUS_REFUNDED))
                                                .Add(now))
            .status());
    *response.mutable_hold() =
        HoldView(hold_id, member_id, points, v1::HOLD_STATUS_REFUNDED, expire_time);
    v1::PointsReturned event;
    event.set_program(program_id);
    event.set_member(member_id);
    event.set_transaction_id(txn_id);
    event.set_hold_id(hold_id);
    event.set_points(points);
    return AppendMemberEvent(connection, program_id, member_id, event, now);
  }));
  return response;
}

absl::StatusOr<int> PointsHandler::ExpireHolds(int limit) {
  const absl::Time now = clock_.Now();
  std::vector<std::pair<std::string, std::string>> holds;
  {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(
        pg::Result rows,
        connection->Execute(queries::kSelectExpiredHolds,
                            pg::Params().Add(now).Add(static_cast<int64_t>(limit))));
    for (int row = 0; row < rows.rows(); ++row) {
      holds.emplace_back(rows.String(row, "program_id"), rows.String(row, "hold_id"));
    }
  }
  for (const auto& [program_id, hold_id] : holds) {
    // Voiding an expired hold marks it EXPIRED (ResolveHold sees the expiry first).
    LOYALTY_RETURN_IF_ERROR(
        ResolveHold(pool_, clock_, program_id, hold_id, /*capture=*/false).status());
  }
  return static_cast<int>(holds.size());
}

absl::StatusOr<int> PointsHandler::Maintain(int limit) {
  LOYALTY_ASSIGN_OR_RETURN(int handled, ExpireHolds(limit));
  std::vector<std::string> programs;
  {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection->Execute(queries::kListPrograms));
    for (int row = 0; row < rows.rows(); ++row) programs.push_back(rows.String(row, 0));
  }
  for (const std::string& program_id : programs) {
    LOYALTY_ASSIGN_OR_RETURN(int released, ReleaseDuePending(program_id, limit));
    v1::RunExpiryRequest expiry;
    expiry.set_program(program_id);
    expiry.set_batch_size(limit);
    LOYALTY_ASSIGN_OR_RETURN(v1::RunExpiryResponse expired, RunExpiry(expiry));
    handled += released + static_cast<int>(expired.lots_expired());
  }
  return handled;
}

}  // namespace loyalty::points
