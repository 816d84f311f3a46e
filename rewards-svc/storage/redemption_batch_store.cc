#include "rewards-svc/storage/redemption_batch_store.h"

#include "common/check.h"
#include "common/pg/array.h"
#include "rewards-svc/storage/queries.h"

namespace loyalty::rewards {
namespace {

std::pair<std::string, std::string> RewardColumns(std::span<const RewardRef> rewards) {
  pg::ArrayLiteral programs, ids;
  for (const RewardRef& reward : rewards) {
    programs.Add(reward.program_id);
    ids.Add(reward.reward_id);
  }
  return {programs.Build(), ids.Build()};
}

}  // namespace

pg::Statement SelectRewards(std::span<const RewardRef> rewards) {
  auto [programs, ids] = RewardColumns(rewards);
  return {&queries::kSelectRewardsBatch, pg::Params().Add(programs).Add(ids)};
}

std::vector<std::optional<Reward>> ParseRewards(const pg::Result& rows, size_t rewards) {
  std::vector<std::optional<Reward>> found(rewards);
  for (int row = 0; row < rows.rows(); ++row) {
    found[pg::InputIndex(rows, row, rewards)] = RewardFrom(rows, row);
  }
  return found;
}

pg::Statement LockStock(std::span<const RewardRef> rewards) {
  auto [programs, ids] = RewardColumns(rewards);
  return {&queries::kLockStockBatch, pg::Params().Add(programs).Add(ids)};
}

std::vector<std::optional<int64_t>> ParseStock(const pg::Result& rows, size_t rewards) {
  std::vector<std::optional<int64_t>> stock(rewards);
  for (int row = 0; row < rows.rows(); ++row) {
    stock[pg::InputIndex(rows, row, rewards)] = rows.Int64(row, "stock");
  }
  return stock;
}

pg::Statement TakeStock(std::span<const RewardRef> rewards, std::span<const int64_t> takes) {
  LOYALTY_CHECK(rewards.size() == takes.size());
  auto [programs, ids] = RewardColumns(rewards);
  return {&queries::kTakeStockBatch, pg::Params().Add(programs).Add(ids).Add(pg::Int64Array(
                                         std::vector<int64_t>(takes.begin(), takes.end())))};
}

pg::Statement InsertRedemptions(std::span<const RedemptionRow> rows) {
  pg::ArrayLiteral programs, ids, members, rewards, kinds, points, reserved, times;
  for (const RedemptionRow& row : rows) {
    programs.Add(row.program_id);
    ids.Add(row.redemption_id);
    members.Add(row.member_id);
    rewards.Add(row.reward_id);
    kinds.Add(static_cast<int64_t>(row.kind));
    points.Add(row.points);
    reserved.Add(row.stock_reserved);
    times.Add(row.create_time);
  }
  return {&queries::kInsertRedemptionsBatch, pg::Params()
                                                 .Add(programs.Build())
                                                 .Add(ids.Build())
                                                 .Add(members.Build())
                                                 .Add(rewards.Build())
                                                 .Add(kinds.Build())
                                                 .Add(points.Build())
                                                 .Add(reserved.Build())
                                                 .Add(times.Build())};
}

pg::Statement CompleteRedemptions(std::span<const RedemptionRow> rows, absl::Time now) {
  pg::ArrayLiteral programs, ids, points_states, fulfilments;
  for (const RedemptionRow& row : rows) {
    programs.Add(row.program_id);
    ids.Add(row.redemption_id);
    points_states.Add(static_cast<int64_t>(row.points_state));
    fulfilments.Add(static_cast<int64_t>(row.fulfilment));
  }
  return {&queries::kCompleteRedemptionsBatch, pg::Params()
                                                   .Add(programs.Build())
                                                   .Add(ids.Build())
                                                   .Add(points_states.Build())
                                                   .Add(fulfilments.Build())
                                                   .Add(now)};
}

std::vector<bool> ParseDecided(const pg::Result& rows, size_t redemptions) {
  std::vector<bool> decided(redemptions, false);
  for (int row = 0; row < rows.rows(); ++row)
    decided[pg::InputIndex(rows, row, redemptions)] = true;
  return decided;
}

pg::Statement InsertVouchers(std::span<const NewVoucher> vouchers, absl::Time now) {
  pg::ArrayLiteral programs, ids, hashes, sealed, members, rewards, kinds, amounts, currencies,
      percents, caps, skus, values, expire_times;
  for (const NewVoucher& voucher : vouchers) {
    const VoucherRow& v = voucher.row;
    programs.Add(voucher.program_id);
    ids.Add(v.voucher_id);
    hashes.AddBytes(voucher.code_hash);
    sealed.AddBytes(v.code_sealed);
    members.Add(v.member_id);
    rewards.Add(v.reward_id);
    kinds.Add(static_cast<int64_t>(v.terms.kind));
    amounts.Add(v.terms.amount_minor);
    currencies.Add(v.terms.currency_code);
    percents.Add(v.terms.percent);
    caps.Add(v.terms.cap_minor);
    skus.Add(v.terms.sku);
    values.Add(v.value_minor);
    expire_times.Add(v.expire_time);
  }
  return {&queries::kInsertVouchersBatch, pg::Params()
                                              .Add(programs.Build())
                                              .Add(ids.Build())
                                              .Add(hashes.Build())
                                              .Add(sealed.Build())
                                              .Add(members.Build())
                                              .Add(rewards.Build())
                                              .Add(kinds.Build())
                                              .Add(amounts.Build())
                                              .Add(currencies.Build())
                                              .Add(percents.Build())
                                              .Add(caps.Build())
                                              .Add(skus.Build())
                                              .Add(values.Build())
                                              .Add(expire_times.Build())
                                              .Add(now)};
}

}  // namespace loyalty::rewards
