#include "members-svc/rpc/referral_bonus.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/events/consumer.h"
#include "common/pg/array.h"
#include "common/rpc/proto_time.h"
#include "common/status/macros.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "members-svc/rpc/points_bonus.h"
#include "members-svc/storage/member_store.h"
#include "members-svc/storage/queries.h"
#include "members-svc/storage/referral_store.h"

namespace loyalty::members {

ReferralBonus::ReferralBonus(std::shared_ptr<grpc::Channel> points, absl::Duration deadline)
    : points_(points::v1::PointsService::NewStub(std::move(points))), deadline_(deadline) {}

absl::StatusOr<std::string> ReferralBonus::Award(const std::string& program_id,
                                                 const std::string& member_id,
                                                 const std::string& referral_id,
                                                 const std::string& role, absl::Time now) {
  // An error (the answer may change) fails the transaction: the event is applied again later.
  LOYALTY_ASSIGN_OR_RETURN(
      const BonusAnswer answer,
      RequestBonus(*points_, deadline_,
                   {.program_id = program_id,
                    .member_id = member_id,
                    .request_id = absl::StrCat("referral-", referral_id, "-", role),
                    .type = points::v1::ACTIVITY_TYPE_REFERRAL,
                    .reference = referral_id,
                    .occur_time = now}));
  switch (answer) {
    case BonusAnswer::kPaid:
    case BonusAnswer::kAlreadyPaid:
      return std::string();
    case BonusAnswer::kNotConfigured:
      return std::string("REFERRAL_BONUS_NOT_CONFIGURED");
    case BonusAnswer::kLimitReached:
      return std::string("REFERRAL_LIMIT_REACHED");
    case BonusAnswer::kNotEligible:
      return std::string("MEMBER_NOT_ELIGIBLE");
  }
  return std::string("MEMBER_NOT_ELIGIBLE");  // Unreachable: every answer is listed above.
}

namespace {

struct Purchase {
  std::string program_id;
  std::string member_id;
  absl::Time occur_time;
};

// The purchase that earned points `event` tells of; nullopt for any other event.
absl::StatusOr<std::optional<Purchase>> EarningPurchaseOf(const events::v1::Event& event) {
  if (event.event_type() != points::v1::PointsEarned::descriptor()->full_name()) {
    return std::nullopt;
  }
  points::v1::PointsEarned earned;
  LOYALTY_RETURN_IF_ERROR(events::ParsePayload(event, earned));
  if (earned.source() != points::v1::EARN_SOURCE_PURCHASE || earned.points() <= 0) {
    return std::nullopt;
  }
  LOYALTY_ASSIGN_OR_RETURN(absl::Time occur_time, ParseTimestamp(event.occur_time(), "occur_time"));
  return Purchase{
      .program_id = earned.program(), .member_id = earned.member(), .occur_time = occur_time};
}

}  // namespace

absl::Status ReferralBonus::ApplyPointsEvent(pg::Connection& connection,
                                             const events::v1::Event& event) {
  LOYALTY_ASSIGN_OR_RETURN(std::optional<Purchase> purchase, EarningPurchaseOf(event));
  if (!purchase.has_value()) return absl::OkStatus();
  return OnQualifyingPurchase(connection, purchase->program_id, purchase->member_id,
                              purchase->occur_time);
}

absl::Status ReferralBonus::ApplyPointsEvents(pg::Connection& connection,
                                              std::span<const events::v1::Event* const> events) {
  std::vector<Purchase> purchases;
  pg::ArrayLiteral programs, members;
  for (const events::v1::Event* event : events) {
    LOYALTY_ASSIGN_OR_RETURN(std::optional<Purchase> purchase, EarningPurchaseOf(*event));
    if (!purchase.has_value()) continue;
    programs.Add(purchase->program_id);
    members.Add(purchase->member_id);
    purchases.push_back(*std::move(purchase));
  }
  if (purchases.empty()) return absl::OkStatus();
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result pending,
      connection.Execute(queries::kSelectPendingReferees,
                         pg::Params().Add(programs.Build()).Add(members.Build())));
  using Key = std::pair<std::string, std::string>;
  absl::flat_hash_set<Key> referees;
  for (int row = 0; row < pending.rows(); ++row) {
    referees.emplace(pending.String(row, "program_id"), pending.String(row, "referee_id"));
  }
  // erase: a referee's first purchase settles the referral; the later ones find it settled.
  for (const Purchase& purchase : purchases) {
    if (referees.erase(Key(purchase.program_id, purchase.member_id)) == 0) continue;
    LOYALTY_RETURN_IF_ERROR(OnQualifyingPurchase(connection, purchase.program_id,
                                                 purchase.member_id, purchase.occur_time));
  }
  return absl::OkStatus();
}

absl::Status ReferralBonus::OnQualifyingPurchase(pg::Connection& connection,
                                                 const std::string& program_id,
                                                 const std::string& referee_id, absl::Time now) {
  LOYALTY_ASSIGN_OR_RETURN(pg::Result pending,
                           connection.Execute(queries::kLockPendingReferral,
                                              pg::Params().Add(program_id).Add(referee_id)));
  if (pending.rows() == 0) return absl::OkStatus();
  const std::string referral_id = pending.String(0, "referral_id");
  const std::string referrer_id = pending.String(0, "referrer_id");
  LOYALTY_ASSIGN_OR_RETURN(std::optional<Program> program, LoadProgram(connection, program_id));
  if (!program.has_value()) return absl::OkStatus();  // Programs are never deleted.

  std::optional<std::string> refusal;
  if (program->referral_rewards_max > 0) {
    // The referrer's row is locked first, so two of their referees settling at once on two
    // replicas count one after the other.
    LOYALTY_ASSIGN_OR_RETURN(pg::Result rewarded,
                             connection.Execute(queries::kCountRewardedReferrals,
                                                pg::Params().Add(program_id).Add(referrer_id)));
    if (rewarded.Int64(0, 0) >= program->referral_rewards_max) refusal = "REFERRAL_CAP_REACHED";
  }
  if (!refusal.has_value()) {
    LOYALTY_ASSIGN_OR_RETURN(std::string referrer,
                             Award(program_id, referrer_id, referral_id, "referrer", now));
    LOYALTY_ASSIGN_OR_RETURN(std::string referee,
                             Award(program_id, referee_id, referral_id, "referee", now));
    if (!referrer.empty()) {
      refusal = referrer;
    } else if (!referee.empty()) {
      refusal = referee;
    }
  }
  return connection
      .Execute(queries::kResolveReferral,
               pg::Params()
                   .Add(program_id)
                   .Add(referral_id)
                   .Add(static_cast<int64_t>(refusal.has_value() ? ReferralStatus::kRefused
                                                                 : ReferralStatus::kRewarded))
                   .AddOptional(refusal)
                   .Add(now))
      .status();
}

}  // namespace loyalty::members
