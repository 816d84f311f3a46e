// The catalog, vouchers and punch cards. The redemption saga is in redemptions.cc.

#include "rewards-svc/rpc/rewards_handler.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/events/consumer.h"
#include "common/events/outbox.h"
#include "common/idempotency/idempotency.h"
#include "common/log/log.h"
#include "common/random.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "common/validation/ids.h"
#include "common/validation/text.h"
#include "google/protobuf/util/field_mask_util.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "loyalty/rewards/v1/reward_events.pb.h"
#include "rewards-svc/domain/voucher_code.h"
#include "rewards-svc/rpc/convert.h"
#include "rewards-svc/rpc/handler_util.h"
#include "rewards-svc/storage/queries.h"

namespace loyalty::rewards {
namespace {

constexpr int kCardDefinitionsMax = 100;
constexpr int kCardVouchersShown = 10;
constexpr int kIssueAttemptsMax = 3;
constexpr size_t kRewardMemoryEntriesMax = 10000;
constexpr size_t kStampLinesMax = 500;

// What ListRewards and GetReward need to know about the asking member, fetched once per call.
struct MemberContext {
  int64_t available_points = 0;
  // Set when a reward asks for a minimum tier.
  std::optional<MemberTier> tier;
};

absl::StatusOr<MemberContext> LoadMemberContext(Upstream& upstream, MemberTiers& tiers,
                                                const std::string& program_id,
                                                const std::string& member_id,
                                                const std::vector<Reward>& rewards) {
  MemberContext context;
  LOYALTY_ASSIGN_OR_RETURN(context.available_points,
                           upstream.AvailablePoints(program_id, member_id));
  std::vector<std::string> min_tiers;
  for (const Reward& reward : rewards) {
    if (!reward.min_tier.empty()) min_tiers.push_back(reward.min_tier);
  }
  if (!min_tiers.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(MemberTier tier, tiers.Tier(program_id, member_id, min_tiers));
    context.tier = std::move(tier);
  }
  return context;
}

absl::StatusOr<v1::Eligibility> EligibilityView(pg::Connection& connection,
                                                const std::string& program_id,
                                                const std::string& member_id, const Reward& reward,
                                                const MemberContext& context, absl::Time now) {
  MemberFacts facts{.available_points = context.available_points};
  if (context.tier.has_value()) {
    facts.tier_rank = context.tier->tier_rank;
    // A minimum tier the ladder does not know is above every tier.
    if (!reward.min_tier.empty()) {
      const int rank = context.tier->rank_of(reward.min_tier);
      facts.min_tier_rank = rank < 0 ? std::numeric_limits<int>::max() : rank;
    }
  }
  if (reward.limit_per_member > 0) {
    LOYALTY_ASSIGN_OR_RETURN(
        facts.redemptions_in_period,
        CountRedemptionsInPeriod(connection, program_id, member_id, reward, now));
  }
  const Eligibility eligibility = CheckEligibility(reward, facts, now);
  v1::Eligibility view;
  view.set_redeemable(eligibility.reason == Ineligible::kNone);
  view.set_reason(static_cast<v1::IneligibleReason>(eligibility.reason));
  view.set_points_missing(eligibility.points_missing);
  return view;
}

absl::Status ValidateOrderTotal(int64_t total, std::string_view field) {
  if (total < 0) return InvalidField(field, "INVALID_AMOUNT", "must be >= 0");
  return absl::OkStatus();
}

absl::Status CheckCurrency(const VoucherRow& voucher, const std::string& currency_code) {
  if (currency_code.empty() || voucher.terms.currency_code.empty() ||
      currency_code == voucher.terms.currency_code) {
    return absl::OkStatus();
  }
  return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "CURRENCY_MISMATCH",
                         "the voucher is in another currency than the order",
                         {{"voucher_currency", voucher.terms.currency_code}});
}

absl::Status ValidateShortText(std::string_view text, std::string_view field, size_t max_length,
                               std::string_view reason) {
  const bool printable = std::all_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
  });
  if (text.empty() || text.size() > max_length || !printable) {
    return InvalidField(field, reason,
                        absl::StrCat("1-", max_length, " bytes without control characters"));
  }
  return absl::OkStatus();
}

v1::PunchCardDefinition DefinitionFrom(const pg::Result& rows, int row) {
  v1::PunchCardDefinition definition;
  definition.set_id(rows.String(row, "definition_id"));
  definition.set_title(rows.String(row, "title"));
  definition.set_sku(rows.String(row, "sku"));
  definition.set_category(rows.String(row, "category"));
  definition.set_stamps_needed(static_cast<int32_t>(rows.Int64(row, "stamps_needed")));
  definition.set_reward(rows.String(row, "reward_id"));
  return definition;
}

absl::StatusOr<std::vector<v1::PunchCardDefinition>> LoadDefinitions(
    pg::Connection& connection, const std::string& program_id) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kListCardDefinitions,
                         pg::Params().Add(program_id).Add(int64_t{kCardDefinitionsMax})));
  std::vector<v1::PunchCardDefinition> definitions;
  for (int row = 0; row < rows.rows(); ++row) definitions.push_back(DefinitionFrom(rows, row));
  return definitions;
}

}  // namespace

std::string NewId(char prefix) {
  constexpr std::string_view kAlphabet = "0123456789abcdefghjkmnpqrstvwxyz";
  std::string id(1, prefix);
  uint64_t high = SecureRandomUint64();
  uint64_t low = SecureRandomUint64();
  for (int i = 0; i < 15; ++i) {
    uint64_t& source = i < 12 ? high : low;
    id.push_back(kAlphabet[source & 31]);
    source >>= 5;
  }
  return id;
}

idempotency::Call MakeCall(const google::protobuf::Message& request, std::string_view rpc,
                           const std::string& program_id, const std::string& request_id,
                           absl::Time now) {
  const std::string method =
      absl::StrCat("loyalty.rewards.v1.RewardsService/", absl::string_view(rpc.data(), rpc.size()));
  return idempotency::Call{.scope = program_id,
                           .request_id = request_id,
                           .method = method,
                           .request_hash = idempotency::RequestHash(method, request),
                           .now = now};
}

absl::Status AppendRewardEvent(pg::Connection& connection, const std::string& program_id,
                               std::string_view aggregate_type, const std::string& aggregate_id,
                               const google::protobuf::Message& payload, absl::Time now) {
  return events::AppendEvent(connection, events::MakeEvent(program_id, std::string(aggregate_type),
                                                           aggregate_id, payload, now));
}

absl::Status ValidateResourceId(std::string_view id, std::string_view field) {
  const bool ok = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  if (!ok) {
    return InvalidField(field, "INVALID_ID", "1-64 characters of a-z, 0-9, '-' and '_'");
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CountRedemptionsInPeriod(pg::Connection& connection,
                                                 const std::string& program_id,
                                                 const std::string& member_id, const Reward& reward,
                                                 absl::Time now) {
  const absl::Time start = LimitPeriodStart(reward.limit_period, now);
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result count,
      connection.Execute(queries::kCountRedemptionsSince,
                         pg::Params()
                             .Add(program_id)
                             .Add(member_id)
                             .Add(reward.id)
                             .Add(start == absl::InfinitePast() ? absl::UnixEpoch() : start)));
  return count.Int64(0, 0);
}

RewardsHandler::RewardsHandler(pg::Pool& pool, const Clock& clock, Upstream& upstream,
                               VoucherKeys keys, RewardsHandlerOptions options)
    : pool_(pool),
      clock_(clock),
      upstream_(upstream),
      tiers_(pool, upstream, clock),
      keys_(std::move(keys)),
      options_(std::move(options)),
      page_tokens_(options_.page_token_key),
      rewards_memory_(options_.reward_memory_ttl, kRewardMemoryEntriesMax),
      redemptions_(std::make_unique<batch::GroupCommitQueue<RedeemJob>>(
          options_.redeem_batches,
          [this](std::span<const std::shared_ptr<RedeemJob>> jobs) { RedeemTogether(jobs); })) {}

// --- Catalog -------------------------------------------------------------------------------

absl::StatusOr<v1::CreateRewardResponse> RewardsHandler::CreateReward(
    const v1::CreateRewardRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  if (!request.has_reward()) return InvalidField("reward", "FIELD_REQUIRED", "is required");
  LOYALTY_ASSIGN_OR_RETURN(Reward reward, ParseReward(request.reward(), "reward"));
  const absl::Time now = clock_.Now();
  return idempotency::RunIdempotent<v1::CreateRewardResponse>(
      pool_, MakeCall(request, "CreateReward", request.program(), request.request_id(), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::CreateRewardResponse> {
        reward.id = NewId('r');
        reward.version = 1;
        reward.create_time = reward.update_time = now;
        LOYALTY_RETURN_IF_ERROR(InsertReward(connection, request.program(), reward));
        v1::CreateRewardResponse response;
        *response.mutable_reward() = ToProto(reward);
        return response;
      });
}

absl::StatusOr<v1::GetRewardResponse> RewardsHandler::GetReward(
    const v1::GetRewardRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  LOYALTY_RETURN_IF_ERROR(ValidateResourceId(request.reward(), "reward"));
  if (!request.member().empty()) {
    LOYALTY_RETURN_IF_ERROR(ValidateMemberId(request.member(), "member"));
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(Reward reward,
                           SelectReward(*connection, request.program(), request.reward()));
  v1::GetRewardResponse response;
  *response.mutable_reward() = ToProto(reward);
  if (!request.member().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(
        MemberContext context,
        LoadMemberContext(upstream_, tiers_, request.program(), request.member(), {reward}));
    LOYALTY_ASSIGN_OR_RETURN(*response.mutable_reward()->mutable_eligibility(),
                             EligibilityView(*connection, request.program(), request.member(),
                                             reward, context, clock_.Now()));
  }
  return response;
}

absl::StatusOr<v1::UpdateRewardResponse> RewardsHandler::UpdateReward(
    const v1::UpdateRewardRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  LOYALTY_RETURN_IF_ERROR(ValidateResourceId(request.reward(), "reward"));
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  constexpr std::string_view kOutputOnly[] = {"id",          "kind",        "etag",
                                              "eligibility", "create_time", "update_time"};
  if (request.update_mask().paths().empty()) {
    return InvalidField("update_mask", "INVALID_UPDATE_MASK", "name at least one field");
  }
  for (const std::string& path : request.update_mask().paths()) {
    const bool output_only =
        std::find(std::begin(kOutputOnly), std::end(kOutputOnly), path) != std::end(kOutputOnly);
    if (output_only || !google::protobuf::util::FieldMaskUtil::GetFieldDescriptors(
                           v1::Reward::descriptor(), path, nullptr)) {
      return InvalidField("update_mask", "INVALID_UPDATE_MASK",
                          "names an unknown or output-only field");
    }
  }
  const absl::Time now = clock_.Now();
  // This replica's RedeemReward checks see the update at once (RememberedReward).
  struct Forget {
    ~Forget() { memory.Invalidate(key, clock.Now()); }
    ProjectionMemory<Reward>& memory;
    const std::string key;
    const Clock& clock;
  } forget{rewards_memory_, absl::StrCat(request.program(), "/", request.reward()), clock_};
  return idempotency::RunIdempotent<v1::UpdateRewardResponse>(
      pool_, MakeCall(request, "UpdateReward", request.program(), request.request_id(), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::UpdateRewardResponse> {
        LOYALTY_ASSIGN_OR_RETURN(
            Reward current,
            SelectReward(connection, request.program(), request.reward(), /*for_update=*/true));
        if (!request.etag().empty() && request.etag() != Etag(current.version)) {
          return ErrorWithReason(absl::StatusCode::kAborted, "ETAG_MISMATCH",
                                 "the reward changed since it was read; read it again",
                                 {{"reward", current.id}});
        }
        v1::Reward merged = ToProto(current);
        google::protobuf::util::FieldMaskUtil::MergeOptions options;
        options.set_replace_message_fields(true);
        google::protobuf::util::FieldMaskUtil::MergeMessageTo(
            request.reward_patch(), request.update_mask(), options, &merged);
        const auto& paths = request.update_mask().paths();
        if (std::find(paths.begin(), paths.end(), "stock") != paths.end() &&
            !request.reward_patch().has_stock()) {
          merged.clear_stock();  // Unset in the patch: unlimited from now on.
        }
        LOYALTY_ASSIGN_OR_RETURN(Reward updated, ParseReward(merged, "reward_patch"));
        if (updated.terms.kind != current.terms.kind) {
          return InvalidField("update_mask", "KIND_IMMUTABLE",
                              "a reward keeps its kind; create another reward instead");
        }
        updated.id = current.id;
        updated.version = current.version + 1;
        updated.create_time = current.create_time;
        updated.update_time = now;
        LOYALTY_ASSIGN_OR_RETURN(bool written,
                                 rewards::UpdateReward(connection, request.program(), updated));
        if (!written) {
          return ErrorWithReason(absl::StatusCode::kAborted, "ETAG_MISMATCH",
                                 "the reward changed concurrently", {{"reward", current.id}});
        }
        v1::UpdateRewardResponse response;
        *response.mutable_reward() = ToProto(updated);
        return response;
      });
}

absl::StatusOr<v1::ListRewardsResponse> RewardsHandler::ListRewards(
    const v1::ListRewardsRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  if (!request.member().empty()) {
    LOYALTY_RETURN_IF_ERROR(ValidateMemberId(request.member(), "member"));
  }
  if (!v1::RewardKind_IsValid(request.kind())) {
    return InvalidField("kind", "INVALID_KIND", "unknown reward kind");
  }
  if (request.max_points_cost() < 0) {
    return InvalidField("max_points_cost", "INVALID_POINTS_COST", "must be >= 0");
  }
  LOYALTY_ASSIGN_OR_RETURN(int32_t page_size,
                           paging::EffectivePageSize(request.page_size(), "page_size"));
  const std::string fingerprint = absl::StrCat(
      "program=", request.program(), "|kind=", request.kind(), "|max=", request.max_points_cost(),
      "|active=", request.active_only(), "|member=", request.member());
  int64_t after_cost = -1;
  std::string after_id;
  if (!request.page_token().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(paging::PageCursor cursor,
                             page_tokens_.Decode(request.page_token(), fingerprint, "page_token"));
    if (cursor.keys.size() != 2 || !absl::SimpleAtoi(cursor.keys[0], &after_cost)) {
      return InvalidField("page_token", "INVALID_PAGE_TOKEN", "malformed cursor");
    }
    after_id = cursor.keys[1];
  }
  const absl::Time now = clock_.Now();
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(
      std::vector<Reward> rewards,
      rewards::ListRewards(*connection, request.program(),
                           RewardFilter{.kind = request.kind(),
                                        .max_points_cost = request.max_points_cost(),
                                        .active_only = request.active_only()},
                           after_cost, after_id, page_size + 1, now));
  v1::ListRewardsResponse response;
  const bool more = static_cast<int32_t>(rewards.size()) > page_size;
  if (more) rewards.resize(page_size);
  std::optional<MemberContext> context;
  if (!request.member().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(context, LoadMemberContext(upstream_, tiers_, request.program(),
                                                        request.member(), rewards));
  }
  for (const Reward& reward : rewards) {
    v1::Reward* view = response.add_rewards();
    *view = ToProto(reward);
    if (context.has_value()) {
      LOYALTY_ASSIGN_OR_RETURN(
          *view->mutable_eligibility(),
          EligibilityView(*connection, request.program(), request.member(), reward, *context, now));
    }
  }
  if (more) {
    response.set_next_page_token(page_tokens_.Encode(
        {.keys = {std::to_string(rewards.back().points_cost), rewards.back().id}}, fingerprint));
  }
  return response;
}

// --- Vouchers ------------------------------------------------------------------------------

RewardsHandler::IssuedVoucher RewardsHandler::DrawVoucher(const std::string& voucher_id,
                                                          const std::string& member_id,
                                                          const Reward& reward,
                                                          absl::Time now) const {
  const int64_t value = reward.terms.kind == RewardKind::kGiftCard ? reward.terms.amount_minor : 0;
  const std::string code = VoucherCodeFromRandom(SecureRandomUint64());
  return {.code = code,
          .row = {.voucher_id = voucher_id,
                  .code_sealed = keys_.Seal(code),
                  .member_id = member_id,
                  .reward_id = reward.id,
                  .terms = reward.terms,
                  .value_minor = value,
                  .balance_minor = value,
                  .status = VoucherStatus::kActive,
                  .expire_time = now + VoucherValidity(reward)}};
}

absl::StatusOr<RewardsHandler::IssuedVoucher> RewardsHandler::IssueVoucher(
    pg::Connection& connection, const std::string& program_id, const std::string& voucher_id,
    const std::string& member_id, const Reward& reward, absl::Time now) {
  for (int attempt = 0; attempt < kIssueAttemptsMax; ++attempt) {
    IssuedVoucher drawn = DrawVoucher(voucher_id, member_id, reward, now);
    LOYALTY_ASSIGN_OR_RETURN(bool inserted,
                             InsertVoucher(connection, program_id, drawn.row,
                                           keys_.LookupHash(program_id, drawn.code), now));
    if (inserted) return drawn;
  }
  return absl::InternalError(absl::StrCat("no free voucher code for ", voucher_id));
}

absl::StatusOr<VoucherRow> RewardsHandler::FindVoucher(pg::Connection& connection,
                                                       const std::string& program_id,
                                                       const std::string& code, bool for_update) {
  LOYALTY_ASSIGN_OR_RETURN(std::string canonical, NormalizeVoucherCode(code, "code"));
  pg::Params params;
  params.Add(program_id).AddBytes(keys_.LookupHash(program_id, canonical));
  LOYALTY_ASSIGN_OR_RETURN(std::vector<VoucherRow> rows,
                           QueryVouchers(connection,
                                         for_update ? queries::kSelectVoucherByHashForUpdate
                                                    : queries::kSelectVoucherByHash,
                                         params));
  if (rows.empty()) {
    return ErrorWithReason(absl::StatusCode::kNotFound, "VOUCHER_NOT_FOUND",
                           absl::StrCat("no such voucher in program ", program_id));
  }
  return std::move(rows[0]);
}

absl::StatusOr<v1::ValidateVoucherResponse> RewardsHandler::ValidateVoucher(
    const v1::ValidateVoucherRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  LOYALTY_RETURN_IF_ERROR(NormalizeVoucherCode(request.code(), "code").status());
  LOYALTY_RETURN_IF_ERROR(ValidateOrderTotal(request.order_total_minor(), "order_total_minor"));
  if (!request.currency_code().empty()) {
    LOYALTY_RETURN_IF_ERROR(ValidateCurrencyCode(request.currency_code(), "currency_code"));
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(VoucherRow voucher,
                           FindVoucher(*connection, request.program(), request.code(), false));
  LOYALTY_RETURN_IF_ERROR(CheckVoucherUsable(voucher.state(), voucher.expire_time, clock_.Now()));
  LOYALTY_RETURN_IF_ERROR(CheckCurrency(voucher, request.currency_code()));
  v1::ValidateVoucherResponse response;
  *response.mutable_value() = ValueView(
      voucher, ValueFor(voucher.terms, voucher.balance_minor, request.order_total_minor()));
  return response;
}

absl::StatusOr<v1::ConsumeVoucherResponse> RewardsHandler::ConsumeVoucher(
    const v1::ConsumeVoucherRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  LOYALTY_RETURN_IF_ERROR(NormalizeVoucherCode(request.code(), "code").status());
  LOYALTY_RETURN_IF_ERROR(
      ValidateShortText(request.order_id(), "order_id", 128, "INVALID_ORDER_ID"));
  LOYALTY_RETURN_IF_ERROR(ValidateOrderTotal(request.order_total_minor(), "order_total_minor"));
  if (!request.currency_code().empty()) {
    LOYALTY_RETURN_IF_ERROR(ValidateCurrencyCode(request.currency_code(), "currency_code"));
  }
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  const absl::Time now = clock_.Now();
  return idempotency::RunIdempotent<v1::ConsumeVoucherResponse>(
      pool_, MakeCall(request, "ConsumeVoucher", request.program(), request.request_id(), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::ConsumeVoucherResponse> {
        LOYALTY_ASSIGN_OR_RETURN(VoucherRow voucher,
                                 FindVoucher(connection, request.program(), request.code(), true));
        LOYALTY_RETURN_IF_ERROR(CheckVoucherUsable(voucher.state(), voucher.expire_time, now));
        LOYALTY_RETURN_IF_ERROR(CheckCurrency(voucher, request.currency_code()));
        const Valuation value =
            ValueFor(voucher.terms, voucher.balance_minor, request.order_total_minor());
        v1::ConsumeVoucherResponse response;
        *response.mutable_value() = ValueView(voucher, value);
        // A gift card stays usable until its value is spent; every other voucher is used once.
        int64_t balance = voucher.balance_minor;
        VoucherStatus status = VoucherStatus::kUsed;
        if (voucher.terms.kind == RewardKind::kGiftCard) {
          balance -= value.discount_minor;
          if (balance > 0) status = VoucherStatus::kActive;
        }
        LOYALTY_RETURN_IF_ERROR(
            connection
                .Execute(queries::kUpdateVoucherUse, pg::Params()
                                                         .Add(request.program())
                                                         .Add(voucher.voucher_id)
                                                         .Add(balance)
                                                         .Add(static_cast<int64_t>(status))
                                                         .Add(now))
                .status());
        LOYALTY_RETURN_IF_ERROR(
            connection
                .Execute(queries::kInsertVoucherUse, pg::Params()
                                                         .Add(request.program())
                                                         .Add(voucher.voucher_id)
                                                         .Add(request.order_id())
                                                         .Add(value.discount_minor)
                                                         .Add(now))
                .status());
        response.set_balance_minor(voucher.terms.kind == RewardKind::kGiftCard ? balance : 0);
        v1::VoucherConsumed consumed;
        consumed.set_program(request.program());
        consumed.set_member(voucher.member_id);
        consumed.set_voucher(voucher.voucher_id);
        consumed.set_reward(voucher.reward_id);
        consumed.set_order_id(request.order_id());
        consumed.set_discount_minor(value.discount_minor);
        consumed.set_balance_minor(response.balance_minor());
        consumed.set_used_up(status == VoucherStatus::kUsed);
        LOYALTY_RETURN_IF_ERROR(AppendRewardEvent(connection, request.program(), "voucher",
                                                  voucher.voucher_id, consumed, now));
        return response;
      });
}

// --- Punch cards ---------------------------------------------------------------------------

absl::StatusOr<v1::CreatePunchCardDefinitionResponse> RewardsHandler::CreatePunchCardDefinition(
    const v1::CreatePunchCardDefinitionRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  const v1::PunchCardDefinition& definition = request.definition();
  const std::optional<size_t> title_chars = DisplayTextChars(definition.title());
  if (!title_chars.has_value() || *title_chars == 0 || *title_chars > kTitleCharsMax) {
    return InvalidField("definition.title", "INVALID_TITLE", "1-200 characters of text");
  }
  if (definition.sku().empty() == definition.category().empty() ||
      definition.sku().size() > kSkuLengthMax || definition.category().size() > kSkuLengthMax) {
    return InvalidField("definition.sku", "INVALID_QUALIFIER",
                        "set exactly one of sku and category, at most 64 bytes");
  }
  if (definition.stamps_needed() < kStampsNeededMin ||
      definition.stamps_needed() > kStampsNeededMax) {
    return InvalidField(
        "definition.stamps_needed", "INVALID_STAMPS_NEEDED",
        absl::StrCat("must be in [", kStampsNeededMin, ", ", kStampsNeededMax, "]"));
  }
  LOYALTY_RETURN_IF_ERROR(ValidateResourceId(definition.reward(), "definition.reward"));
  const absl::Time now = clock_.Now();
  return idempotency::RunIdempotent<v1::CreatePunchCardDefinitionResponse>(
      pool_,
      MakeCall(request, "CreatePunchCardDefinition", request.program(), request.request_id(), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::CreatePunchCardDefinitionResponse> {
        LOYALTY_RETURN_IF_ERROR(
            SelectReward(connection, request.program(), definition.reward()).status());
        v1::CreatePunchCardDefinitionResponse response;
        *response.mutable_definition() = definition;
        response.mutable_definition()->set_id(NewId('p'));
        LOYALTY_RETURN_IF_ERROR(
            connection
                .Execute(queries::kInsertCardDefinition, pg::Params()
                                                             .Add(request.program())
                                                             .Add(response.definition().id())
                                                             .Add(definition.title())
                                                             .Add(definition.sku())
                                                             .Add(definition.category())
                                                             .Add(definition.stamps_needed())
                                                             .Add(definition.reward())
                                                             .Add(now))
                .status());
        return response;
      });
}

absl::StatusOr<v1::PunchCard> RewardsHandler::CardView(
    pg::Connection& connection, const std::string& program_id, const std::string& member_id,
    const v1::PunchCardDefinition& definition, int32_t stamps, int32_t completed, bool with_codes) {
  v1::PunchCard card;
  *card.mutable_definition() = definition;
  card.set_stamps(stamps);
  card.set_completed_cards(completed);
  LOYALTY_ASSIGN_OR_RETURN(std::vector<VoucherRow> vouchers,
                           QueryVouchers(connection, queries::kSelectCardVouchers,
                                         pg::Params()
                                             .Add(program_id)
                                             .Add(member_id)
                                             .Add(definition.id() + ".")
                                             .Add(int64_t{kCardVouchersShown})));
  for (const VoucherRow& voucher : vouchers) {
    std::string code;
    if (with_codes) {
      LOYALTY_ASSIGN_OR_RETURN(std::string canonical, keys_.Open(voucher.code_sealed));
      code = FormatVoucherCode(canonical);
    }
    *card.add_vouchers() = VoucherView(voucher, code);
  }
  return card;
}

namespace {

// The member's cards by definition id: (stamps, completed cards).
absl::StatusOr<std::map<std::string, std::pair<int32_t, int32_t>>> LoadCards(
    pg::Connection& connection, const std::string& program_id, const std::string& member_id) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kSelectCards, pg::Params().Add(program_id).Add(member_id)));
  std::map<std::string, std::pair<int32_t, int32_t>> cards;
  for (int row = 0; row < rows.rows(); ++row) {
    cards[rows.String(row, "definition_id")] = {
        static_cast<int32_t>(rows.Int64(row, "stamps")),
        static_cast<int32_t>(rows.Int64(row, "completed_cards"))};
  }
  return cards;
}

}  // namespace

absl::StatusOr<v1::ListPunchCardsResponse> RewardsHandler::ListPunchCards(
    const v1::ListPunchCardsRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(std::vector<v1::PunchCardDefinition> definitions,
                           LoadDefinitions(*connection, request.program()));
  LOYALTY_ASSIGN_OR_RETURN(auto cards, LoadCards(*connection, request.program(), request.member()));
  v1::ListPunchCardsResponse response;
  for (const v1::PunchCardDefinition& definition : definitions) {
    const auto [stamps, completed] = cards[definition.id()];
    LOYALTY_ASSIGN_OR_RETURN(*response.add_cards(),
                             CardView(*connection, request.program(), request.member(), definition,
                                      stamps, completed, /*with_codes=*/true));
  }
  return response;
}

absl::StatusOr<v1::RecordStampResponse> RewardsHandler::RecordStamp(
    const v1::RecordStampRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_RETURN_IF_ERROR(
      ValidateShortText(request.order_id(), "order_id", 128, "INVALID_ORDER_ID"));
  if (static_cast<size_t>(request.lines_size()) > kStampLinesMax) {
    return InvalidField("lines", "TOO_MANY_LINES", absl::StrCat("at most ", kStampLinesMax));
  }
  std::vector<StampLine> lines;
  for (const v1::StampLine& line : request.lines()) {
    lines.push_back({.sku = line.sku(), .category = line.category(), .quantity = line.quantity()});
  }
  const absl::Time now = clock_.Now();
  const std::string& program_id = request.program();
  const std::string& member_id = request.member();
  // The order is the idempotency key: a repeat returns the first answer.
  return idempotency::RunIdempotent<v1::RecordStampResponse>(
      pool_,
      MakeCall(request, "RecordStamp", program_id,
               absl::StrCat("stamp/", member_id, "/", request.order_id()), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::RecordStampResponse> {
        v1::RecordStampResponse response;
        LOYALTY_ASSIGN_OR_RETURN(std::vector<v1::PunchCardDefinition> definitions,
                                 LoadDefinitions(connection, program_id));
        LOYALTY_RETURN_IF_ERROR(StampOrder(connection, program_id, member_id, request.order_id(),
                                           lines, definitions, now, response));
        LOYALTY_ASSIGN_OR_RETURN(auto cards, LoadCards(connection, program_id, member_id));
        for (const v1::PunchCardDefinition& definition : definitions) {
          const auto [stamps, completed] = cards[definition.id()];
          LOYALTY_ASSIGN_OR_RETURN(*response.add_cards(),
                                   CardView(connection, program_id, member_id, definition, stamps,
                                            completed, /*with_codes=*/false));
        }
        return response;
      });
}

absl::Status RewardsHandler::StampOrder(pg::Connection& connection, const std::string& program_id,
                                        const std::string& member_id, const std::string& order_id,
                                        const std::vector<StampLine>& lines,
                                        const std::vector<v1::PunchCardDefinition>& definitions,
                                        absl::Time now, v1::RecordStampResponse& response) {
  // An order seen before (stamped, or revoked by a refund first) earns nothing now.
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result fresh,
      connection.Execute(
          queries::kInsertStampedOrder,
          pg::Params().Add(program_id).Add(member_id).Add(order_id).Add(false).Add(now)));
  if (fresh.rows() == 0) return absl::OkStatus();
  for (const v1::PunchCardDefinition& definition : definitions) {
    const PunchCardRule rule{.sku = definition.sku(),
                             .category = definition.category(),
                             .stamps_needed = definition.stamps_needed()};
    if (!OrderQualifies(rule, lines)) continue;
    const pg::Params card_key = pg::Params().Add(program_id).Add(member_id).Add(definition.id());
    LOYALTY_RETURN_IF_ERROR(connection.Execute(queries::kEnsureCard, card_key).status());
    LOYALTY_ASSIGN_OR_RETURN(pg::Result card, connection.Execute(queries::kLockCard, card_key));
    const int32_t stamps = static_cast<int32_t>(card.Int64(0, "stamps"));
    int32_t completed = static_cast<int32_t>(card.Int64(0, "completed_cards"));
    LOYALTY_RETURN_IF_ERROR(connection
                                .Execute(queries::kInsertStamp, pg::Params()
                                                                    .Add(program_id)
                                                                    .Add(member_id)
                                                                    .Add(order_id)
                                                                    .Add(definition.id())
                                                                    .Add(completed))
                                .status());
    const StampOutcome outcome = AddStamp(rule, stamps);
    if (outcome.card_filled) {
      LOYALTY_ASSIGN_OR_RETURN(Reward reward,
                               SelectReward(connection, program_id, definition.reward()));
      const std::string voucher_id = absl::StrCat(definition.id(), ".", member_id, ".", completed);
      LOYALTY_ASSIGN_OR_RETURN(
          IssuedVoucher issued,
          IssueVoucher(connection, program_id, voucher_id, member_id, reward, now));
      // Codes stay out of this answer: it is stored for idempotent replay.
      *response.add_issued_vouchers() = VoucherView(issued.row, "");
      ++completed;
      v1::PunchCardCompleted event;
      event.set_program(program_id);
      event.set_member(member_id);
      event.set_card(definition.id());
      event.set_reward(definition.reward());
      event.set_voucher(voucher_id);
      event.set_stamps_needed(definition.stamps_needed());
      event.set_order_id(order_id);
      event.set_cards_completed(completed);
      LOYALTY_RETURN_IF_ERROR(
          AppendRewardEvent(connection, program_id, "voucher", voucher_id, event, now));
    }
    pg::Params update = card_key;
    update.Add(outcome.stamps).Add(completed);
    LOYALTY_RETURN_IF_ERROR(connection.Execute(queries::kUpdateCard, update).status());
  }
  return absl::OkStatus();
}

std::vector<std::string> RewardsHandler::PointsEventTypes() {
  return {points::v1::PointsEarned::descriptor()->full_name(),
          points::v1::PointsRefunded::descriptor()->full_name()};
}

absl::Status RewardsHandler::ApplyPointsEvent(pg::Connection& connection,
                                              const events::v1::Event& event) {
  if (event.event_type() == points::v1::PointsRefunded::descriptor()->full_name()) {
    points::v1::PointsRefunded refunded;
    LOYALTY_RETURN_IF_ERROR(events::ParsePayload(event, refunded));
    // A partly refunded order was still bought: its stamp stays, as a stamp is per order.
    if (!refunded.order_fully_refunded()) return absl::OkStatus();
    LOYALTY_ASSIGN_OR_RETURN(std::vector<v1::PunchCardDefinition> definitions,
                             LoadDefinitions(connection, refunded.program()));
    if (definitions.empty()) return absl::OkStatus();
    v1::RevokeStampResponse revoked;
    return RevokeOrder(connection, refunded.program(), refunded.member(), refunded.order_id(),
                       clock_.Now(), revoked);
  }
  if (event.event_type() != points::v1::PointsEarned::descriptor()->full_name()) {
    return absl::OkStatus();
  }
  points::v1::PointsEarned earned;
  LOYALTY_RETURN_IF_ERROR(events::ParsePayload(event, earned));
  if (earned.source() != points::v1::EARN_SOURCE_PURCHASE || earned.order_id().empty()) {
    return absl::OkStatus();
  }
  std::vector<StampLine> lines;
  lines.reserve(earned.lines_size());
  for (const points::v1::PurchaseLine& line : earned.lines()) {
    lines.push_back({.sku = line.sku(), .category = line.category(), .quantity = line.quantity()});
  }
  LOYALTY_ASSIGN_OR_RETURN(std::vector<v1::PunchCardDefinition> definitions,
                           LoadDefinitions(connection, earned.program()));
  if (definitions.empty()) return absl::OkStatus();
  v1::RecordStampResponse issued;
  return StampOrder(connection, earned.program(), earned.member(), earned.order_id(), lines,
                    definitions, clock_.Now(), issued);
}

absl::StatusOr<v1::RevokeStampResponse> RewardsHandler::RevokeStamp(
    const v1::RevokeStampRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_RETURN_IF_ERROR(
      ValidateShortText(request.order_id(), "order_id", 128, "INVALID_ORDER_ID"));
  const absl::Time now = clock_.Now();
  const std::string& program_id = request.program();
  const std::string& member_id = request.member();
  return idempotency::RunIdempotent<v1::RevokeStampResponse>(
      pool_,
      MakeCall(request, "RevokeStamp", program_id,
               absl::StrCat("revoke/", member_id, "/", request.order_id()), now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::RevokeStampResponse> {
        v1::RevokeStampResponse response;
        LOYALTY_RETURN_IF_ERROR(
            RevokeOrder(connection, program_id, member_id, request.order_id(), now, response));
        return response;
      });
}

absl::Status RewardsHandler::RevokeOrder(pg::Connection& connection, const std::string& program_id,
                                         const std::string& member_id, const std::string& order_id,
                                         absl::Time now, v1::RevokeStampResponse& response) {
  const pg::Params order = pg::Params().Add(program_id).Add(member_id).Add(order_id);
  pg::Params remember = order;
  remember.Add(true).Add(now);
  LOYALTY_ASSIGN_OR_RETURN(pg::Result unseen,
                           connection.Execute(queries::kInsertStampedOrder, remember));
  if (unseen.rows() == 1) return absl::OkStatus();  // Refunded before it was stamped.
  LOYALTY_ASSIGN_OR_RETURN(pg::Result revoked,
                           connection.Execute(queries::kRevokeStampedOrder, order));
  if (revoked.rows() == 0) return absl::OkStatus();  // Revoked before.
  LOYALTY_ASSIGN_OR_RETURN(pg::Result stamps,
                           connection.Execute(queries::kSelectOrderStamps, order));
  for (int row = 0; row < stamps.rows(); ++row) {
    const pg::Params card_key =
        pg::Params().Add(program_id).Add(member_id).Add(stamps.String(row, "definition_id"));
    LOYALTY_ASSIGN_OR_RETURN(pg::Result card, connection.Execute(queries::kLockCard, card_key));
    const int64_t on_card = card.Int64(0, "stamps");
    const int64_t completed = card.Int64(0, "completed_cards");
    // Only a stamp on the card still open comes off; a full card keeps its voucher.
    if (stamps.Int64(row, "card_number") != completed || on_card == 0) continue;
    pg::Params update = card_key;
    update.Add(on_card - 1).Add(completed);
    LOYALTY_RETURN_IF_ERROR(connection.Execute(queries::kUpdateCard, update).status());
    response.set_stamps_removed(response.stamps_removed() + 1);
  }
  return absl::OkStatus();
}

}  // namespace loyalty::rewards
