// The redemption saga, its recovery, cancellation and the member's view of redemptions. The
// order of steps and why each is safe to repeat is in rewards_handler.h.

#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "common/validation/ids.h"
#include "loyalty/rewards/v1/reward_events.pb.h"
#include "rewards-svc/domain/voucher_code.h"
#include "rewards-svc/rpc/convert.h"
#include "rewards-svc/rpc/handler_util.h"
#include "rewards-svc/rpc/rewards_handler.h"
#include "rewards-svc/storage/queries.h"

namespace loyalty::rewards {
namespace {

absl::Status FailedError(const RedemptionRow& row, ErrorMetadata metadata = {}) {
  metadata["redemption"] = row.redemption_id;
  return ErrorWithReason(
      absl::StatusCode::kFailedPrecondition, row.failure_reason,
      absl::StrCat("redemption ", row.redemption_id, " failed: ", row.failure_reason), metadata);
}

absl::Status SetPointsState(pg::Pool& pool, const RedemptionRow& row, PointsState from,
                            PointsState to) {
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool.Acquire());
  return connection
      ->Execute(queries::kSetPointsState, pg::Params()
                                              .Add(row.program_id)
                                              .Add(row.redemption_id)
                                              .Add(static_cast<int64_t>(from))
                                              .Add(static_cast<int64_t>(to)))
      .status();
}

}  // namespace

v1::RewardRedeemed RedeemedEvent(const RedemptionRow& row) {
  v1::RewardRedeemed redeemed;
  redeemed.set_program(row.program_id);
  redeemed.set_member(row.member_id);
  redeemed.set_redemption(row.redemption_id);
  redeemed.set_reward(row.reward_id);
  redeemed.set_kind(static_cast<v1::RewardKind>(row.kind));
  redeemed.set_points(row.points);
  return redeemed;
}

RedemptionRow CompletedRow(const RedemptionRow& pending, PointsState points_state, absl::Time now) {
  RedemptionRow completed = pending;
  completed.status = RedemptionStatus::kCompleted;
  completed.points_state = points_state;
  completed.fulfilment =
      pending.kind == RewardKind::kExperience ? Fulfilment::kRequested : Fulfilment::kUnspecified;
  completed.update_time = now;
  return completed;
}

bool IsHoldRefusal(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied:
      return true;
    default:
      return false;
  }
}

namespace {

// Keyset cursor of ListRedemptions: microseconds since the epoch and the id.
constexpr absl::Time kFarFuture = absl::FromUnixSeconds(253402300799);  // 9999-12-31

}  // namespace

absl::StatusOr<Reward> RewardsHandler::RememberedReward(const std::string& program_id,
                                                        const std::string& reward_id,
                                                        absl::Time now) {
  const std::string key = absl::StrCat(program_id, "/", reward_id);
  if (std::optional<Reward> remembered = rewards_memory_.Fresh(key, now)) return *remembered;
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(Reward reward, SelectReward(*connection, program_id, reward_id));
  rewards_memory_.Remember(key, reward, now);
  return reward;
}

absl::StatusOr<std::shared_ptr<RedeemJob>> RewardsHandler::CheckRedemption(
    const v1::RedeemRewardRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_RETURN_IF_ERROR(ValidateResourceId(request.reward(), "reward"));
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  const std::string& program_id = request.program();
  const std::string& member_id = request.member();
  const absl::Time now = clock_.Now();
  // Outside the transaction (the tier may come from members-svc): the active window and the tier.
  // Stock and the per-member limit are checked inside, where they cannot race; points by the
  // hold. The reward read here may be remembered for a moment (reward_memory_ttl): the
  // reservation reads it again for what must be exact (stock, limit, cost, terms).
  LOYALTY_ASSIGN_OR_RETURN(Reward reward, RememberedReward(program_id, request.reward(), now));
  MemberFacts facts{.available_points = std::numeric_limits<int64_t>::max()};
  if (!reward.min_tier.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(
        MemberTier tier,
        tiers_.Tier(program_id, member_id, std::span<const std::string>(&reward.min_tier, 1)));
    facts.tier_rank = tier.tier_rank;
    const int rank = tier.rank_of(reward.min_tier);
    facts.min_tier_rank = rank < 0 ? std::numeric_limits<int>::max() : rank;
  }
  reward.stock.reset();
  const Eligibility eligibility = CheckEligibility(reward, facts, now);
  if (eligibility.reason != Ineligible::kNone) return IneligibleError(eligibility, reward.id);
  return std::make_shared<RedeemJob>(
      RedeemJob{.request = request,
                .call = MakeCall(request, "RedeemReward", program_id, request.request_id(), now)});
}

// The rest of the saga runs in a batch with whatever else is queued (redemption_batch.cc). The
// queue keys calls by member, so one member's redemptions are never in one batch.
absl::StatusOr<v1::RedeemRewardResponse> RewardsHandler::RedeemReward(
    const v1::RedeemRewardRequest& request) {
  LOYALTY_ASSIGN_OR_RETURN(std::shared_ptr<RedeemJob> job, CheckRedemption(request));
  LOYALTY_RETURN_IF_ERROR(redemptions_->Run(job,
                                            absl::StrCat(request.program(), "/", request.member()),
                                            absl::Now() + options_.redeem_wait_max));
  return std::move(job->result);
}

void RewardsHandler::RedeemRewardAsync(const v1::RedeemRewardRequest& request, RedeemDone done) {
  absl::StatusOr<std::shared_ptr<RedeemJob>> job = CheckRedemption(request);
  if (!job.ok()) return done(job.status());
  // `done` is shared by the callback and this frame: whichever runs answers.
  auto answer = std::make_shared<RedeemDone>(std::move(done));
  absl::Status queued =
      redemptions_->Submit(*job, absl::StrCat(request.program(), "/", request.member()),
                           [job = *job, answer] { (*answer)(std::move(job->result)); });
  if (!queued.ok()) (*answer)(queued);
}

absl::StatusOr<v1::Redemption> RewardsHandler::HoldRefused(const RedemptionRow& row,
                                                           const absl::Status& refusal) {
  const std::string reason = ErrorReason(refusal).value_or("HOLD_REFUSED");
  LOYALTY_RETURN_IF_ERROR(Compensate(row, reason, PointsState::kNone).status());
  ErrorMetadata metadata;
  const ErrorMetadata upstream = ErrorMetadataOf(refusal);
  int64_t available = 0, required = 0;
  if (upstream.count("available") && upstream.count("required") &&
      absl::SimpleAtoi(upstream.at("available"), &available) &&
      absl::SimpleAtoi(upstream.at("required"), &required)) {
    metadata["points_missing"] = std::to_string(required - available);
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(RedemptionRow now_row,
                           SelectRedemption(*connection, row.program_id, row.redemption_id));
  if (now_row.status == RedemptionStatus::kFailed) return FailedError(now_row, metadata);
  return View(*connection, now_row, /*with_code=*/true);
}

absl::StatusOr<v1::Redemption> RewardsHandler::HoldTooShort(const RedemptionRow& row) {
  LOYALTY_ASSIGN_OR_RETURN(bool failed_here, Compensate(row, "HOLD_EXPIRED", PointsState::kHeld));
  RedemptionRow failed = row;
  failed.status = RedemptionStatus::kFailed;
  failed.points_state = PointsState::kHeld;
  // Only the caller that failed the redemption voids its hold: a concurrent caller may have
  // completed it, and its capture must find the hold open.
  if (absl::Status settled = failed_here ? Settle(failed) : absl::OkStatus(); !settled.ok()) {
    log::Warning("rewards: void after compensation failed; the recovery loop retries",
                 {{"redemption", row.redemption_id}, {"status", StatusSummary(settled)}});
  }
  return FinalView(row);
}

absl::StatusOr<v1::Redemption> RewardsHandler::FinalView(const RedemptionRow& row) {
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(RedemptionRow final_row,
                           SelectRedemption(*connection, row.program_id, row.redemption_id));
  if (final_row.status == RedemptionStatus::kFailed) return FailedError(final_row);
  return View(*connection, final_row, /*with_code=*/true);
}

absl::StatusOr<v1::Redemption> RewardsHandler::Drive(const RedemptionRow& row,
                                                     const Reward* reward) {
  if (row.status == RedemptionStatus::kFailed) return FailedError(row);
  if (row.status != RedemptionStatus::kPending) {
    return LoadView(row.program_id, row.redemption_id, /*with_code=*/true);
  }
  // Step 2, the pivot: the points spent. The hold id is the redemption id, so a repeat finds the
  // same hold.
  absl::StatusOr<HoldInfo> hold =
      upstream_.SpendHold(row.program_id, row.member_id, row.redemption_id, row.points,
                          options_.hold_ttl, absl::StrCat("reward:", row.reward_id));
  if (!hold.ok()) {
    if (!IsHoldRefusal(hold.status())) return hold.status();
    return HoldRefused(row, hold.status());
  }
  const absl::Time now = clock_.Now();
  if (!MayComplete(hold->status, hold->expire_time, now, options_.completion_margin)) {
    return HoldTooShort(row);
  }
  RedemptionRow completed = CompletedRow(row, PointsState::kCaptured, now);
  if (hold->status != HoldStatus::kCaptured) {
    // An earlier version's open hold: captured first. A failure leaves the points HELD, for the
    // recovery loop to capture.
    if (absl::StatusOr<HoldInfo> captured =
            upstream_.CaptureHold(row.program_id, row.redemption_id);
        !captured.ok()) {
      log::Warning(
          "rewards: capture failed; the recovery loop retries",
          {{"redemption", row.redemption_id}, {"status", StatusSummary(captured.status())}});
      completed.points_state = PointsState::kHeld;
    }
  }
  AfterStep(SagaStep::kSpent);
  // Step 3: the decision and the voucher in one transaction.
  bool decided_here = false;
  std::optional<IssuedVoucher> issued;
  LOYALTY_RETURN_IF_ERROR(pool_.InTransaction([&](pg::Connection& connection) -> absl::Status {
    issued.reset();
    LOYALTY_ASSIGN_OR_RETURN(
        pg::Result decided,
        connection.Execute(queries::kCompleteRedemption,
                           pg::Params()
                               .Add(row.program_id)
                               .Add(row.redemption_id)
                               .Add(static_cast<int64_t>(completed.points_state))
                               .Add(static_cast<int64_t>(completed.fulfilment))
                               .Add(now)));
    decided_here = decided.affected_rows() == 1;
    if (!decided_here) return absl::OkStatus();
    v1::RewardRedeemed redeemed = RedeemedEvent(row);
    if (IssuesVoucher(row.kind)) {
      std::optional<Reward> read;
      if (reward == nullptr) {
        LOYALTY_ASSIGN_OR_RETURN(read, SelectReward(connection, row.program_id, row.reward_id));
      }
      LOYALTY_ASSIGN_OR_RETURN(issued, IssueVoucher(connection, row.program_id, row.redemption_id,
                                                    row.member_id, read ? *read : *reward, now));
      redeemed.set_voucher(issued->row.voucher_id);
    }
    return AppendRewardEvent(connection, row.program_id, "redemption", row.redemption_id, redeemed,
                             now);
  }));
  AfterStep(SagaStep::kCompleted);
  if (!decided_here) return FinalView(row);
  // The answer is what this call wrote; no need to read it back.
  v1::Redemption view = RedemptionView(completed);
  if (issued.has_value()) {
    *view.mutable_voucher() = VoucherView(issued->row, FormatVoucherCode(issued->code));
  }
  return view;
}

absl::StatusOr<bool> RewardsHandler::Compensate(const RedemptionRow& row, const std::string& reason,
                                                PointsState points_state) {
  const absl::Time now = clock_.Now();
  bool decided = false;
  LOYALTY_RETURN_IF_ERROR(pool_.InTransaction([&](pg::Connection& connection) -> absl::Status {
    LOYALTY_ASSIGN_OR_RETURN(
        pg::Result failed,
        connection.Execute(queries::kFailRedemption, pg::Params()
                                                         .Add(row.program_id)
                                                         .Add(row.redemption_id)
                                                         .Add(reason)
                                                         .Add(static_cast<int64_t>(points_state))
                                                         .Add(now)));
    decided = failed.rows() == 1;
    if (!decided) return absl::OkStatus();
    if (failed.Bool(0, "stock_reserved")) {
      LOYALTY_RETURN_IF_ERROR(
          connection
              .Execute(queries::kReleaseStock, pg::Params().Add(row.program_id).Add(row.reward_id))
              .status());
    }
    v1::RedemptionFailed event;
    event.set_program(row.program_id);
    event.set_member(row.member_id);
    event.set_redemption(row.redemption_id);
    event.set_reward(row.reward_id);
    event.set_reason(reason);
    return AppendRewardEvent(connection, row.program_id, "redemption", row.redemption_id, event,
                             now);
  }));
  return decided;
}

absl::Status RewardsHandler::Settle(RedemptionRow row) {
  const auto refused = [](const absl::StatusOr<HoldInfo>& result) {
    return result.status().code() == absl::StatusCode::kFailedPrecondition ||
           result.status().code() == absl::StatusCode::kNotFound;
  };
  if (row.points_state == PointsState::kHeld) {
    if (row.status == RedemptionStatus::kFailed) {
      absl::StatusOr<HoldInfo> voided = upstream_.VoidHold(row.program_id, row.redemption_id);
      if (voided.ok()) {
        return SetPointsState(pool_, row, PointsState::kHeld, PointsState::kReleased);
      }
      if (!refused(voided)) return voided.status();
      // Not open: expired or voided already, or captured by a saga that raced the failure (the
      // capture comes before the decision). A captured hold's points go back to the member.
      absl::StatusOr<HoldInfo> refunded = upstream_.RefundHold(row.program_id, row.redemption_id);
      if (refunded.ok()) {
        return SetPointsState(pool_, row, PointsState::kHeld, PointsState::kRefunded);
      }
      if (!refused(refunded)) return refunded.status();
      return SetPointsState(pool_, row, PointsState::kHeld, PointsState::kReleased);
    }
    // COMPLETED wants the capture; CANCELLED captures first and then refunds, so one path
    // returns the points whether or not the saga's own capture had happened.
    absl::StatusOr<HoldInfo> captured = upstream_.CaptureHold(row.program_id, row.redemption_id);
    if (!captured.ok() && !refused(captured)) return captured.status();
    if (!captured.ok()) {
      // The hold voided itself before the capture: the points never left the member.
      if (row.status == RedemptionStatus::kCompleted) {
        log::Error(
            "rewards: a completed redemption's hold expired before its capture",
            {{"redemption", row.redemption_id}, {"status", StatusSummary(captured.status())}});
      }
      return SetPointsState(pool_, row, PointsState::kHeld, PointsState::kReleased);
    }
    LOYALTY_RETURN_IF_ERROR(SetPointsState(pool_, row, PointsState::kHeld, PointsState::kCaptured));
    row.points_state = PointsState::kCaptured;
  }
  if (row.status == RedemptionStatus::kCancelled && row.points_state == PointsState::kCaptured) {
    LOYALTY_RETURN_IF_ERROR(upstream_.RefundHold(row.program_id, row.redemption_id).status());
    return SetPointsState(pool_, row, PointsState::kCaptured, PointsState::kRefunded);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> RewardsHandler::Recover(int limit) {
  const absl::Time cutoff = clock_.Now() - options_.recovery_grace;
  const pg::Params params = pg::Params().Add(cutoff).Add(static_cast<int64_t>(limit));
  std::vector<RedemptionRow> pending, unsettled;
  {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(pending,
                             QueryRedemptions(*connection, queries::kSelectStalePending, params));
  }
  int handled = 0;
  for (const RedemptionRow& row : pending) {
    absl::StatusOr<v1::Redemption> driven = Drive(row);
    if (driven.ok() || IsHoldRefusal(driven.status())) {
      ++handled;
    } else {
      // points-svc is most likely unreachable: the rest would wait out a deadline each, so the
      // round ends here (this also bounds the recovery run at start).
      log::Warning("rewards: recovery could not finish a redemption yet",
                   {{"redemption", row.redemption_id}, {"status", StatusSummary(driven.status())}});
      return handled;
    }
  }
  {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(unsettled,
                             QueryRedemptions(*connection, queries::kSelectUnsettled, params));
  }
  for (RedemptionRow& row : unsettled) {
    if (absl::Status settled = Settle(std::move(row)); settled.ok()) {
      ++handled;
    } else {
      log::Warning("rewards: recovery could not settle a hold yet",
                   {{"status", StatusSummary(settled)}});
      break;
    }
  }
  return handled;
}

absl::StatusOr<v1::Redemption> RewardsHandler::View(pg::Connection& connection,
                                                    const RedemptionRow& row, bool with_code) {
  v1::Redemption view = RedemptionView(row);
  const bool has_voucher =
      row.status == RedemptionStatus::kCompleted || row.status == RedemptionStatus::kCancelled;
  if (!has_voucher || !IssuesVoucher(row.kind)) return view;
  LOYALTY_ASSIGN_OR_RETURN(std::vector<VoucherRow> vouchers,
                           QueryVouchers(connection, queries::kSelectVoucher,
                                         pg::Params().Add(row.program_id).Add(row.redemption_id)));
  if (vouchers.empty()) return view;
  std::string code;
  if (with_code) {
    LOYALTY_ASSIGN_OR_RETURN(std::string canonical, keys_.Open(vouchers[0].code_sealed));
    code = FormatVoucherCode(canonical);
  }
  *view.mutable_voucher() = VoucherView(vouchers[0], code);
  return view;
}

absl::StatusOr<v1::Redemption> RewardsHandler::LoadView(const std::string& program_id,
                                                        const std::string& redemption_id,
                                                        bool with_code) {
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(RedemptionRow row,
                           SelectRedemption(*connection, program_id, redemption_id));
  return View(*connection, row, with_code);
}

absl::StatusOr<v1::GetRedemptionResponse> RewardsHandler::GetRedemption(
    const v1::GetRedemptionRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_RETURN_IF_ERROR(ValidateResourceId(request.redemption(), "redemption"));
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(RedemptionRow row,
                           SelectRedemption(*connection, request.program(), request.redemption()));
  if (row.member_id != request.member()) {
    return ErrorWithReason(
        absl::StatusCode::kNotFound, "REDEMPTION_NOT_FOUND",
        absl::StrCat("no redemption ", request.redemption(), " of member ", request.member()));
  }
  v1::GetRedemptionResponse response;
  LOYALTY_ASSIGN_OR_RETURN(*response.mutable_redemption(), View(*connection, row, true));
  return response;
}

absl::StatusOr<v1::ListRedemptionsResponse> RewardsHandler::ListRedemptions(
    const v1::ListRedemptionsRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_ASSIGN_OR_RETURN(int32_t page_size,
                           paging::EffectivePageSize(request.page_size(), "page_size"));
  const std::string fingerprint =
      absl::StrCat("program=", request.program(), "|member=", request.member());
  absl::Time before_time = kFarFuture;
  std::string before_id;
  if (!request.page_token().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(paging::PageCursor cursor,
                             page_tokens_.Decode(request.page_token(), fingerprint, "page_token"));
    int64_t micros = 0;
    if (cursor.keys.size() != 2 || !absl::SimpleAtoi(cursor.keys[0], &micros)) {
      return InvalidField("page_token", "INVALID_PAGE_TOKEN", "malformed cursor");
    }
    before_time = absl::FromUnixMicros(micros);
    before_id = cursor.keys[1];
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(std::vector<RedemptionRow> rows,
                           QueryRedemptions(*connection, queries::kListRedemptions,
                                            pg::Params()
                                                .Add(request.program())
                                                .Add(request.member())
                                                .Add(before_time)
                                                .Add(before_id)
                                                .Add(page_size + 1)));
  const bool more = static_cast<int32_t>(rows.size()) > page_size;
  if (more) rows.resize(page_size);
  v1::ListRedemptionsResponse response;
  for (const RedemptionRow& row : rows) {
    LOYALTY_ASSIGN_OR_RETURN(*response.add_redemptions(), View(*connection, row, true));
  }
  if (more) {
    response.set_next_page_token(
        page_tokens_.Encode({.keys = {std::to_string(absl::ToUnixMicros(rows.back().create_time)),
                                      rows.back().redemption_id}},
                            fingerprint));
  }
  return response;
}

absl::StatusOr<v1::CancelRedemptionResponse> RewardsHandler::CancelRedemption(
    const v1::CancelRedemptionRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_RETURN_IF_ERROR(ValidateResourceId(request.redemption(), "redemption"));
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  const absl::Time now = clock_.Now();
  const std::string& program_id = request.program();
  RedemptionRow cancelled;
  LOYALTY_ASSIGN_OR_RETURN(
      v1::CancelRedemptionResponse response,
      idempotency::RunIdempotent<v1::CancelRedemptionResponse>(
          pool_, MakeCall(request, "CancelRedemption", program_id, request.request_id(), now),
          [&](pg::Connection& connection) -> absl::StatusOr<v1::CancelRedemptionResponse> {
            LOYALTY_ASSIGN_OR_RETURN(
                RedemptionRow row,
                SelectRedemption(connection, program_id, request.redemption(), true));
            if (row.member_id != request.member()) {
              return ErrorWithReason(absl::StatusCode::kNotFound, "REDEMPTION_NOT_FOUND",
                                     absl::StrCat("no redemption ", request.redemption(),
                                                  " of member ", request.member()));
            }
            LOYALTY_ASSIGN_OR_RETURN(
                std::vector<VoucherRow> vouchers,
                QueryVouchers(connection, queries::kSelectVoucherForUpdate,
                              pg::Params().Add(program_id).Add(row.redemption_id)));
            const VoucherState voucher = vouchers.empty() ? VoucherState{} : vouchers[0].state();
            LOYALTY_RETURN_IF_ERROR(
                CheckCancellable(row.status, row.kind, row.fulfilment, voucher));
            LOYALTY_RETURN_IF_ERROR(
                connection
                    .Execute(queries::kCancelRedemption,
                             pg::Params().Add(program_id).Add(row.redemption_id).Add(now))
                    .status());
            LOYALTY_RETURN_IF_ERROR(
                connection
                    .Execute(queries::kUpdateVoucherUse,
                             pg::Params()
                                 .Add(program_id)
                                 .Add(row.redemption_id)
                                 .Add(vouchers[0].balance_minor)
                                 .Add(static_cast<int64_t>(VoucherStatus::kCancelled))
                                 .Add(now))
                    .status());
            if (row.stock_reserved) {
              LOYALTY_RETURN_IF_ERROR(connection
                                          .Execute(queries::kReleaseStock,
                                                   pg::Params().Add(program_id).Add(row.reward_id))
                                          .status());
            }
            v1::RedemptionCancelled event;
            event.set_program(program_id);
            event.set_member(row.member_id);
            event.set_redemption(row.redemption_id);
            event.set_reward(row.reward_id);
            event.set_points(row.points);
            LOYALTY_RETURN_IF_ERROR(AppendRewardEvent(connection, program_id, "redemption",
                                                      row.redemption_id, event, now));
            row.status = RedemptionStatus::kCancelled;
            row.update_time = now;
            cancelled = row;
            v1::CancelRedemptionResponse response;
            // No code: the answer is stored for replay, and a cancelled code is worthless.
            LOYALTY_ASSIGN_OR_RETURN(*response.mutable_redemption(),
                                     View(connection, row, /*with_code=*/false));
            return response;
          }));
  // Points back: capture if the saga had not yet, then refund. A replay (cancelled unset) or a
  // failure here is left to the recovery loop, which settles every CANCELLED redemption.
  if (!cancelled.redemption_id.empty()) {
    if (absl::Status settled = Settle(cancelled); !settled.ok()) {
      log::Warning("rewards: refund after cancel failed; the recovery loop retries",
                   {{"redemption", cancelled.redemption_id}, {"status", StatusSummary(settled)}});
    }
  }
  return response;
}

absl::StatusOr<v1::UpdateFulfilmentResponse> RewardsHandler::UpdateFulfilment(
    const v1::UpdateFulfilmentRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_RETURN_IF_ERROR(ValidateResourceId(request.redemption(), "redemption"));
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  if (request.status() < v1::FULFILMENT_STATUS_REQUESTED ||
      request.status() > v1::FULFILMENT_STATUS_DELIVERED) {
    return InvalidField("status", "INVALID_FULFILMENT_STATUS", "REQUESTED, SHIPPED or DELIVERED");
  }
  const absl::Time now = clock_.Now();
  return idempotency::RunIdempotent<v1::UpdateFulfilmentResponse>(
      pool_, MakeCall(request, "UpdateFulfilment", request.program(), request.request_id(), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::UpdateFulfilmentResponse> {
        LOYALTY_ASSIGN_OR_RETURN(RedemptionRow row, SelectRedemption(connection, request.program(),
                                                                     request.redemption(), true));
        if (row.member_id != request.member()) {
          return ErrorWithReason(absl::StatusCode::kNotFound, "REDEMPTION_NOT_FOUND",
                                 absl::StrCat("no redemption ", request.redemption()));
        }
        const Fulfilment from =
            row.status == RedemptionStatus::kCompleted ? row.fulfilment : Fulfilment::kUnspecified;
        const Fulfilment to = static_cast<Fulfilment>(request.status());
        LOYALTY_RETURN_IF_ERROR(CheckFulfilmentTransition(from, to));
        LOYALTY_RETURN_IF_ERROR(
            connection
                .Execute(queries::kSetFulfilment, pg::Params()
                                                      .Add(request.program())
                                                      .Add(row.redemption_id)
                                                      .Add(static_cast<int64_t>(to))
                                                      .Add(now))
                .status());
        row.fulfilment = to;
        row.update_time = now;
        v1::UpdateFulfilmentResponse response;
        LOYALTY_ASSIGN_OR_RETURN(*response.mutable_redemption(),
                                 View(connection, row, /*with_code=*/false));
        return response;
      });
}

}  // namespace loyalty::rewards
