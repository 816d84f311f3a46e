#include "rewards-svc/storage/reward_store.h"

#include "absl/strings/str_cat.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "rewards-svc/storage/queries.h"

namespace loyalty::rewards {
namespace {

// The columns both INSERT and UPDATE write, kind .. charity_name, in queries.h order.
pg::Params& AddRewardColumns(pg::Params& params, const Reward& r) {
  return params.Add(static_cast<int64_t>(r.terms.kind))
      .Add(r.title)
      .Add(r.description)
      .Add(r.points_cost)
      .AddOptional(r.stock)
      .Add(r.limit_per_member)
      .Add(static_cast<int64_t>(r.limit_period))
      .Add(r.min_tier)
      .AddOptional(r.start_time)
      .AddOptional(r.end_time)
      .Add(r.voucher_validity_days)
      .Add(r.terms.amount_minor)
      .Add(r.terms.currency_code)
      .Add(r.terms.percent)
      .Add(r.terms.cap_minor)
      .Add(r.terms.sku)
      .Add(r.experience_type)
      .Add(r.charity_name);
}

}  // namespace

Reward RewardFrom(const pg::Result& rows, int row) {
  Reward r;
  r.id = rows.String(row, "reward_id");
  r.version = rows.Int64(row, "version");
  r.terms.kind = static_cast<RewardKind>(rows.Int64(row, "kind"));
  r.title = rows.String(row, "title");
  r.description = rows.String(row, "description");
  r.points_cost = rows.Int64(row, "points_cost");
  r.stock = rows.OptionalInt64(row, "stock");
  r.limit_per_member = static_cast<int32_t>(rows.Int64(row, "limit_per_member"));
  r.limit_period = static_cast<LimitPeriod>(rows.Int64(row, "limit_period"));
  r.min_tier = rows.String(row, "min_tier");
  r.start_time = rows.OptionalTime(row, "start_time");
  r.end_time = rows.OptionalTime(row, "end_time");
  r.voucher_validity_days = static_cast<int32_t>(rows.Int64(row, "voucher_validity_days"));
  r.terms.amount_minor = rows.Int64(row, "amount_minor");
  r.terms.currency_code = rows.String(row, "currency_code");
  r.terms.percent = static_cast<int32_t>(rows.Int64(row, "percent"));
  r.terms.cap_minor = rows.Int64(row, "cap_minor");
  r.terms.sku = rows.String(row, "sku");
  r.experience_type = static_cast<int32_t>(rows.Int64(row, "experience_type"));
  r.charity_name = rows.String(row, "charity_name");
  r.create_time = rows.Time(row, "create_time");
  r.update_time = rows.Time(row, "update_time");
  return r;
}

absl::Status RewardNotFound(const std::string& program_id, const std::string& reward_id) {
  return ErrorWithReason(absl::StatusCode::kNotFound, "REWARD_NOT_FOUND",
                         absl::StrCat("no reward ", reward_id, " in program ", program_id),
                         {{"reward", reward_id}});
}

absl::StatusOr<Reward> SelectReward(pg::Connection& connection, const std::string& program_id,
                                    const std::string& reward_id, bool for_update) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(for_update ? queries::kSelectRewardForUpdate : queries::kSelectReward,
                         pg::Params().Add(program_id).Add(reward_id)));
  if (rows.rows() == 0) return RewardNotFound(program_id, reward_id);
  return RewardFrom(rows, 0);
}

absl::Status InsertReward(pg::Connection& connection, const std::string& program_id,
                          const Reward& reward) {
  pg::Params params;
  params.Add(program_id).Add(reward.id).Add(reward.version);
  AddRewardColumns(params, reward).Add(reward.create_time).Add(reward.update_time);
  return connection.Execute(queries::kInsertReward, params).status();
}

absl::StatusOr<bool> UpdateReward(pg::Connection& connection, const std::string& program_id,
                                  const Reward& reward) {
  pg::Params params;
  params.Add(program_id).Add(reward.id).Add(reward.version);
  AddRewardColumns(params, reward).Add(reward.update_time);
  LOYALTY_ASSIGN_OR_RETURN(pg::Result result, connection.Execute(queries::kUpdateReward, params));
  return result.affected_rows() == 1;
}

absl::StatusOr<std::vector<Reward>> ListRewards(pg::Connection& connection,
                                                const std::string& program_id,
                                                const RewardFilter& filter, int64_t after_cost,
                                                const std::string& after_id, int limit,
                                                absl::Time now) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows, connection.Execute(queries::kListRewards, pg::Params()
                                                                     .Add(program_id)
                                                                     .Add(filter.kind)
                                                                     .Add(filter.max_points_cost)
                                                                     .Add(filter.active_only)
                                                                     .Add(now)
                                                                     .Add(after_cost)
                                                                     .Add(after_id)
                                                                     .Add(limit)));
  std::vector<Reward> rewards;
  for (int row = 0; row < rows.rows(); ++row) rewards.push_back(RewardFrom(rows, row));
  return rewards;
}

absl::StatusOr<std::vector<RedemptionRow>> QueryRedemptions(pg::Connection& connection,
                                                            const pg::Query& query,
                                                            const pg::Params& params) {
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(query, params));
  std::vector<RedemptionRow> out;
  for (int row = 0; row < rows.rows(); ++row) {
    out.push_back(
        RedemptionRow{.program_id = rows.String(row, "program_id"),
                      .redemption_id = rows.String(row, "redemption_id"),
                      .member_id = rows.String(row, "member_id"),
                      .reward_id = rows.String(row, "reward_id"),
                      .kind = static_cast<RewardKind>(rows.Int64(row, "kind")),
                      .points = rows.Int64(row, "points"),
                      .status = static_cast<RedemptionStatus>(rows.Int64(row, "status")),
                      .failure_reason = rows.String(row, "failure_reason"),
                      .stock_reserved = rows.Bool(row, "stock_reserved"),
                      .points_state = static_cast<PointsState>(rows.Int64(row, "points_state")),
                      .fulfilment = static_cast<Fulfilment>(rows.Int64(row, "fulfilment")),
                      .create_time = rows.Time(row, "create_time"),
                      .update_time = rows.Time(row, "update_time")});
  }
  return out;
}

absl::StatusOr<RedemptionRow> SelectRedemption(pg::Connection& connection,
                                               const std::string& program_id,
                                               const std::string& redemption_id, bool for_update) {
  LOYALTY_ASSIGN_OR_RETURN(
      std::vector<RedemptionRow> rows,
      QueryRedemptions(
          connection, for_update ? queries::kSelectRedemptionForUpdate : queries::kSelectRedemption,
          pg::Params().Add(program_id).Add(redemption_id)));
  if (rows.empty()) {
    return ErrorWithReason(absl::StatusCode::kNotFound, "REDEMPTION_NOT_FOUND",
                           absl::StrCat("no redemption ", redemption_id),
                           {{"redemption", redemption_id}});
  }
  return std::move(rows[0]);
}

absl::StatusOr<std::vector<VoucherRow>> QueryVouchers(pg::Connection& connection,
                                                      const pg::Query& query,
                                                      const pg::Params& params) {
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(query, params));
  std::vector<VoucherRow> out;
  for (int row = 0; row < rows.rows(); ++row) {
    VoucherRow v;
    v.voucher_id = rows.String(row, "voucher_id");
    v.code_sealed = rows.Bytes(row, "code_sealed");
    v.member_id = rows.String(row, "member_id");
    v.reward_id = rows.String(row, "reward_id");
    v.terms = VoucherTerms{.kind = static_cast<RewardKind>(rows.Int64(row, "kind")),
                           .amount_minor = rows.Int64(row, "amount_minor"),
                           .currency_code = rows.String(row, "currency_code"),
                           .percent = static_cast<int32_t>(rows.Int64(row, "percent")),
                           .cap_minor = rows.Int64(row, "cap_minor"),
                           .sku = rows.String(row, "sku")};
    v.value_minor = rows.Int64(row, "value_minor");
    v.balance_minor = rows.Int64(row, "balance_minor");
    v.status = static_cast<VoucherStatus>(rows.Int64(row, "status"));
    v.expire_time = rows.Time(row, "expire_time");
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<bool> InsertVoucher(pg::Connection& connection, const std::string& program_id,
                                   const VoucherRow& v, const std::string& code_hash,
                                   absl::Time now) {
  pg::Params params;
  params.Add(program_id).Add(v.voucher_id).AddBytes(code_hash).AddBytes(v.code_sealed);
  params.Add(v.member_id)
      .Add(v.reward_id)
      .Add(static_cast<int64_t>(v.terms.kind))
      .Add(v.terms.amount_minor)
      .Add(v.terms.currency_code)
      .Add(v.terms.percent)
      .Add(v.terms.cap_minor)
      .Add(v.terms.sku)
      .Add(v.value_minor)
      .Add(v.expire_time)
      .Add(now);
  LOYALTY_ASSIGN_OR_RETURN(pg::Result result, connection.Execute(queries::kInsertVoucher, params));
  return result.affected_rows() == 1;
}

}  // namespace loyalty::rewards
