#pragma once

// libpq access to the `rewards` schema: rows of the catalog, redemptions and vouchers as domain
// structs. Functions run on a connection the caller holds (inside a transaction when they
// write); SQL lives in queries.h.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"
#include "common/pg/query.h"
#include "rewards-svc/domain/redemption.h"
#include "rewards-svc/domain/reward.h"

namespace loyalty::rewards {

// The reward in row `row` of a result with the reward columns (queries.h).
Reward RewardFrom(const pg::Result& rows, int row);
// NOT_FOUND (REWARD_NOT_FOUND), what a read of a missing reward returns.
absl::Status RewardNotFound(const std::string& program_id, const std::string& reward_id);
// NOT_FOUND (REWARD_NOT_FOUND) when absent.
absl::StatusOr<Reward> SelectReward(pg::Connection& connection, const std::string& program_id,
                                    const std::string& reward_id, bool for_update = false);
absl::Status InsertReward(pg::Connection& connection, const std::string& program_id,
                          const Reward& reward);
// Writes `reward` (whose version is the stored one + 1); false when the stored version moved.
absl::StatusOr<bool> UpdateReward(pg::Connection& connection, const std::string& program_id,
                                  const Reward& reward);

struct RewardFilter {
  int kind = 0;
  int64_t max_points_cost = 0;
  bool active_only = false;
};
// Rewards after (after_cost, after_id), cheapest first.
absl::StatusOr<std::vector<Reward>> ListRewards(pg::Connection& connection,
                                                const std::string& program_id,
                                                const RewardFilter& filter, int64_t after_cost,
                                                const std::string& after_id, int limit,
                                                absl::Time now);

struct RedemptionRow {
  std::string program_id;
  std::string redemption_id;
  std::string member_id;
  std::string reward_id;
  RewardKind kind = RewardKind::kUnspecified;
  int64_t points = 0;
  RedemptionStatus status = RedemptionStatus::kUnspecified;
  std::string failure_reason;
  bool stock_reserved = false;
  PointsState points_state = PointsState::kNone;
  Fulfilment fulfilment = Fulfilment::kUnspecified;
  absl::Time create_time;
  absl::Time update_time;
};

// NOT_FOUND (REDEMPTION_NOT_FOUND) when absent.
absl::StatusOr<RedemptionRow> SelectRedemption(pg::Connection& connection,
                                               const std::string& program_id,
                                               const std::string& redemption_id,
                                               bool for_update = false);
// Runs a query returning redemption rows.
absl::StatusOr<std::vector<RedemptionRow>> QueryRedemptions(pg::Connection& connection,
                                                            const pg::Query& query,
                                                            const pg::Params& params);

struct VoucherRow {
  std::string voucher_id;
  // AES-GCM sealed canonical code (see rpc/voucher_keys.h).
  std::string code_sealed;
  std::string member_id;
  std::string reward_id;
  VoucherTerms terms;
  int64_t value_minor = 0;
  int64_t balance_minor = 0;
  VoucherStatus status = VoucherStatus::kUnspecified;
  absl::Time expire_time;

  VoucherState state() const {
    return {.status = status, .balance_minor = balance_minor, .value_minor = value_minor};
  }
};

// Runs a query returning voucher rows.
absl::StatusOr<std::vector<VoucherRow>> QueryVouchers(pg::Connection& connection,
                                                      const pg::Query& query,
                                                      const pg::Params& params);

// Inserts an ACTIVE voucher; false when `code_hash` is taken (the caller draws another code).
absl::StatusOr<bool> InsertVoucher(pg::Connection& connection, const std::string& program_id,
                                   const VoucherRow& voucher, const std::string& code_hash,
                                   absl::Time now);

}  // namespace loyalty::rewards
