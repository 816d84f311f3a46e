#pragma once

// rewards-svc's RPCs as transport-agnostic handlers: proto in, absl::StatusOr<proto> out.
//
// The redemption saga (DESIGN.md section 3), keyed by the redemption id, which is also the
// points-svc hold id:
//   1. one transaction: reserve stock (conditional decrement) and insert the PENDING redemption,
//      under the caller's request_id (common/idempotency);
//   2. points-svc CreateHold with `capture`: the pivot, which spends the points as it holds them.
//      A refusal (INSUFFICIENT_POINTS, MEMBER_SUSPENDED, ...) compensates: FAILED with the
//      reason and the stock back, in one transaction. After the pivot the saga only goes
//      forward, so nothing is ever held and then given back. (A hold that comes back OPEN, made
//      without capture by an earlier version of this service, is captured here, only while it
//      outlives a safety margin so the capture cannot find it expired; one too short
//      compensates as a refusal does.)
//   3. one transaction: PENDING -> COMPLETED with the points state and the voucher.
// RedeemReward runs these steps for many redemptions at once (group commit,
// rpc/redemption_batch.cc): concurrent calls are queued, and a writer takes what is queued and
// does each step for the whole batch (one transaction for step 1, one CreateHolds call, one
// transaction for step 3), answering each caller exactly as a saga of its own would have.
// PENDING -> COMPLETED / FAILED is a conditional update, the single decision point. A hold is
// voided or refunded only after a FAILED or CANCELLED decision is committed; the spend comes
// before the decision, so a redemption failed meanwhile (the recovery loop finding it stale with
// an earlier version's open hold too short) has its captured hold refunded when it is settled.
// Recover() (a background loop, also at start) drives stale PENDING redemptions through the same
// steps with the same ids and settles decided ones whose hold does not match their status yet.

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/batch/group_commit.h"
#include "common/clock.h"
#include "common/idempotency/idempotency.h"
#include "common/paging/page_token.h"
#include "common/pg/pool.h"
#include "common/projection_memory.h"
#include "loyalty/events/v1/events.pb.h"
#include "loyalty/rewards/v1/rewards_service.pb.h"
#include "rewards-svc/domain/redemption.h"
#include "rewards-svc/rpc/member_tiers.h"
#include "rewards-svc/rpc/upstream.h"
#include "rewards-svc/rpc/voucher_keys.h"
#include "rewards-svc/storage/redemption_batch_store.h"
#include "rewards-svc/storage/reward_store.h"

namespace loyalty::rewards {

namespace v1 = ::loyalty::rewards::v1;

// Saga steps after which a fault-injection hook may run (tests kill the process there).
enum class SagaStep { kReserved = 1, kSpent = 2, kCompleted = 3 };

struct RewardsHandlerOptions {
  // HMAC key for page tokens (>= 16 bytes).
  std::string page_token_key;
  // The TTL of the saga's holds. They are captured as they are made; the TTL matters only to an
  // open hold an earlier version made, which voids itself after it.
  absl::Duration hold_ttl = absl::Minutes(10);
  // A PENDING redemption whose hold is open completes only while the hold has at least this
  // long left (then it is captured first).
  absl::Duration completion_margin = absl::Minutes(1);
  // The recovery loop leaves redemptions younger than this to the call that made them.
  absl::Duration recovery_grace = absl::Seconds(30);
  // Called after each saga step; unset in production (see main.cc's test-only crash setting).
  std::function<void(SagaStep)> after_step;
  // Group commit of RedeemReward: redemptions per batch, redemptions waiting (more:
  // RESOURCE_EXHAUSTED), batches in flight at once.
  batch::GroupCommitOptions redeem_batches{.max_batch = 64, .max_queued = 4096, .writers = 2};
  // The longest a RedeemReward caller waits for its batch (then DEADLINE_EXCEEDED; the saga
  // still finishes, and a retry with the same request_id gets its answer).
  absl::Duration redeem_wait_max = absl::Seconds(30);
  // How long RedeemReward trusts a reward it read for its checks before the reservation (the
  // active window and the minimum tier); the reservation reads the reward again for the rest.
  // An update through this replica is seen at once; through another, within this time.
  absl::Duration reward_memory_ttl = absl::Seconds(1);
};

// A RedeemReward call on its way through the batched saga (rpc/redemption_batch.cc).
struct RedeemJob {
  v1::RedeemRewardRequest request;
  idempotency::Call call;
  // Set by the batch.
  absl::StatusOr<v1::RedeemRewardResponse> result = absl::InternalError("not redeemed");
};

class RewardsHandler {
 public:
  // `pool`, `clock` and `upstream` must outlive the handler.
  RewardsHandler(pg::Pool& pool, const Clock& clock, Upstream& upstream, VoucherKeys keys,
                 RewardsHandlerOptions options);

  absl::StatusOr<v1::CreateRewardResponse> CreateReward(const v1::CreateRewardRequest& request);
  absl::StatusOr<v1::GetRewardResponse> GetReward(const v1::GetRewardRequest& request);
  absl::StatusOr<v1::UpdateRewardResponse> UpdateReward(const v1::UpdateRewardRequest& request);
  absl::StatusOr<v1::ListRewardsResponse> ListRewards(const v1::ListRewardsRequest& request);
  absl::StatusOr<v1::RedeemRewardResponse> RedeemReward(const v1::RedeemRewardRequest& request);
  // RedeemReward without blocking the calling thread: `done` runs with the answer, at once for a
  // call refused before the saga, else on a batch's writer thread.
  using RedeemDone = std::function<void(absl::StatusOr<v1::RedeemRewardResponse>)>;
  void RedeemRewardAsync(const v1::RedeemRewardRequest& request, RedeemDone done);
  absl::StatusOr<v1::ListRedemptionsResponse> ListRedemptions(
      const v1::ListRedemptionsRequest& request);
  absl::StatusOr<v1::GetRedemptionResponse> GetRedemption(const v1::GetRedemptionRequest& request);
  absl::StatusOr<v1::CancelRedemptionResponse> CancelRedemption(
      const v1::CancelRedemptionRequest& request);
  absl::StatusOr<v1::UpdateFulfilmentResponse> UpdateFulfilment(
      const v1::UpdateFulfilmentRequest& request);
  absl::StatusOr<v1::ValidateVoucherResponse> ValidateVoucher(
      const v1::ValidateVoucherRequest& request);
  absl::StatusOr<v1::ConsumeVoucherResponse> ConsumeVoucher(
      const v1::ConsumeVoucherRequest& request);
  absl::StatusOr<v1::CreatePunchCardDefinitionResponse> CreatePunchCardDefinition(
      const v1::CreatePunchCardDefinitionRequest& request);
  absl::StatusOr<v1::ListPunchCardsResponse> ListPunchCards(
      const v1::ListPunchCardsRequest& request);
  absl::StatusOr<v1::RecordStampResponse> RecordStamp(const v1::RecordStampRequest& request);
  absl::StatusOr<v1::RevokeStampResponse> RevokeStamp(const v1::RevokeStampRequest& request);

  // One recovery round (main.cc's loop, and tests): finishes or compensates at most `limit`
  // stale PENDING redemptions and settles at most `limit` holds. A round ends at the first call
  // points-svc does not answer (the rest would wait out a deadline each). Returns how many it
  // handled.
  absl::StatusOr<int> Recover(int limit);

  // RedeemReward calls waiting for a batch now (for metrics and tests).
  int queued_redemptions() const { return redemptions_->queued(); }

  // rewards-svc as a consumer of points-svc's events (docs/events.md): a PointsEarned of a
  // purchase stamps the member's punch cards as RecordStamp would, and a PointsRefunded that
  // refunds the rest of an order revokes its stamp as RevokeStamp would, inside the consumer's
  // transaction. The order is the key either way (`stamped_orders`), so the RPCs for an order the
  // stream handled (or the reverse) change nothing more. Other events and earnings are ignored.
  // INVALID_ARGUMENT for a payload that does not parse; SQL errors as mapped.
  absl::Status ApplyPointsEvent(pg::Connection& connection, const events::v1::Event& event);
  // The event types ApplyPointsEvent wants from points-svc's stream.
  static std::vector<std::string> PointsEventTypes();

  // rewards-svc as a consumer of members-svc's events: its copy of members' tiers, for
  // minimum-tier rewards (rpc/member_tiers.h).
  absl::Status ApplyMemberEvent(pg::Connection& connection, const events::v1::Event& event) {
    return tiers_.Apply(connection, event);
  }
  // The event types ApplyMemberEvent wants from members-svc's stream.
  static std::vector<std::string> MemberEventTypes() { return MemberTiers::EventTypes(); }

 private:
  // One stamp per card of `definitions` the order qualifies for, unless the order was seen
  // before; a card filled by it issues its voucher (added to `response.issued_vouchers`).
  absl::Status StampOrder(pg::Connection& connection, const std::string& program_id,
                          const std::string& member_id, const std::string& order_id,
                          const std::vector<StampLine>& lines,
                          const std::vector<v1::PunchCardDefinition>& definitions, absl::Time now,
                          v1::RecordStampResponse& response);
  // The order's stamps no longer count: a stamp on a card still open comes off (counted in
  // `response.stamps_removed`); an order not stamped yet is remembered as revoked.
  absl::Status RevokeOrder(pg::Connection& connection, const std::string& program_id,
                           const std::string& member_id, const std::string& order_id,
                           absl::Time now, v1::RevokeStampResponse& response);
  // RedeemReward's checks before the saga (input, the reward's active window, the tier): the
  // call ready to queue, or why it is refused.
  absl::StatusOr<std::shared_ptr<RedeemJob>> CheckRedemption(
      const v1::RedeemRewardRequest& request);
  // The saga for a batch of RedeemReward calls (redemption_batch.cc); leaves each answer in its
  // job.
  void RedeemTogether(std::span<const std::shared_ptr<RedeemJob>> jobs);
  // The reward as RedeemReward's checks read it, remembered for reward_memory_ttl.
  absl::StatusOr<Reward> RememberedReward(const std::string& program_id,
                                          const std::string& reward_id, absl::Time now);
  // After a hold refusal: FAILED with the refusal's reason and the stock back; the answer (the
  // FAILED_PRECONDITION with points_missing when points were short).
  absl::StatusOr<v1::Redemption> HoldRefused(const RedemptionRow& row, const absl::Status& refusal);
  // After a hold that would not outlive the completion margin: FAILED HOLD_EXPIRED, the hold
  // voided; the answer.
  absl::StatusOr<v1::Redemption> HoldTooShort(const RedemptionRow& row);
  // The answer for a redemption as stored now (FAILED as its error).
  absl::StatusOr<v1::Redemption> FinalView(const RedemptionRow& row);
  // Steps 2-4 for a PENDING redemption; the final answer for a decided one. `reward`, when
  // given, is the reward as step 1 read it (recovery passes none and reads it).
  absl::StatusOr<v1::Redemption> Drive(const RedemptionRow& row, const Reward* reward = nullptr);
  // PENDING -> FAILED with `reason`, stock back; `points_state` says whether a hold may exist.
  // Returns false when the redemption was no longer PENDING (another caller decided it first),
  // in which case its hold must be left alone.
  absl::StatusOr<bool> Compensate(const RedemptionRow& row, const std::string& reason,
                                  PointsState points_state);
  // Brings the hold in line with a decided redemption (capture, void, refund).
  absl::Status Settle(RedemptionRow row);
  // The redemption with its voucher (code shown when `with_code`).
  absl::StatusOr<v1::Redemption> View(pg::Connection& connection, const RedemptionRow& row,
                                      bool with_code);
  absl::StatusOr<v1::Redemption> LoadView(const std::string& program_id,
                                          const std::string& redemption_id, bool with_code);
  struct IssuedVoucher {
    std::string code;  // canonical
    VoucherRow row;
  };
  // A fresh ACTIVE voucher for the reward under `voucher_id`, not stored yet: its code from the
  // CSPRNG, sealed.
  IssuedVoucher DrawVoucher(const std::string& voucher_id, const std::string& member_id,
                            const Reward& reward, absl::Time now) const;
  // Issues a voucher for the reward under `voucher_id` (drawing again on a code collision).
  absl::StatusOr<IssuedVoucher> IssueVoucher(pg::Connection& connection,
                                             const std::string& program_id,
                                             const std::string& voucher_id,
                                             const std::string& member_id, const Reward& reward,
                                             absl::Time now);
  // The voucher a typed code names: INVALID_VOUCHER_CODE, VOUCHER_NOT_FOUND.
  absl::StatusOr<VoucherRow> FindVoucher(pg::Connection& connection, const std::string& program_id,
                                         const std::string& code, bool for_update);
  absl::StatusOr<v1::PunchCard> CardView(pg::Connection& connection, const std::string& program_id,
                                         const std::string& member_id,
                                         const v1::PunchCardDefinition& definition, int32_t stamps,
                                         int32_t completed, bool with_codes);
  void AfterStep(SagaStep step) const {
    if (options_.after_step) options_.after_step(step);
  }

  pg::Pool& pool_;
  const Clock& clock_;
  Upstream& upstream_;
  MemberTiers tiers_;
  const VoucherKeys keys_;
  const RewardsHandlerOptions options_;
  paging::PageTokenCodec page_tokens_;
  ProjectionMemory<Reward> rewards_memory_;
  // Last: its destructor finishes what is queued while the rest is still alive.
  std::unique_ptr<batch::GroupCommitQueue<RedeemJob>> redemptions_;
};

// A fresh id: `prefix` and 15 Crockford base32 characters (75 bits from the CSPRNG).
std::string NewId(char prefix);

}  // namespace loyalty::rewards
