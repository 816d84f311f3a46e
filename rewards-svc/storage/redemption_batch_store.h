#pragma once

// Set-based statements for the batched redemption saga (rpc/redemption_batch.cc): each builds
// one statement over whole columns (rows travel as arrays through unnest), and each read has a
// parser that answers by input position, so a batch of redemptions costs a few round trips per
// step instead of a few per redemption.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/pg/connection.h"
#include "rewards-svc/storage/reward_store.h"

namespace loyalty::rewards {

struct RewardRef {
  std::string program_id;
  std::string reward_id;
};

// --- Reads ---------------------------------------------------------------------------------

pg::Statement SelectRewards(std::span<const RewardRef> rewards);
// By input position; nullopt for a reward that does not exist.
std::vector<std::optional<Reward>> ParseRewards(const pg::Result& rows, size_t rewards);

// Locks the rewards that have a stock (in key order) and reads what is left of it.
pg::Statement LockStock(std::span<const RewardRef> rewards);
// By input position; nullopt for an unlimited (or missing) reward.
std::vector<std::optional<int64_t>> ParseStock(const pg::Result& rows, size_t rewards);

// --- Writes --------------------------------------------------------------------------------

// Takes takes[i] units from the stock of rewards[i].
pg::Statement TakeStock(std::span<const RewardRef> rewards, std::span<const int64_t> takes);

// Inserts the PENDING redemptions.
pg::Statement InsertRedemptions(std::span<const RedemptionRow> rows);

// PENDING -> COMPLETED, with each row's points_state and fulfilment, for the redemptions still
// PENDING; ParseDecided says, by input position, which ones this statement decided.
pg::Statement CompleteRedemptions(std::span<const RedemptionRow> rows, absl::Time now);
std::vector<bool> ParseDecided(const pg::Result& rows, size_t redemptions);

// A voucher to insert, with the keyed hash its code is found by.
struct NewVoucher {
  std::string program_id;
  VoucherRow row;
  std::string code_hash;
};
pg::Statement InsertVouchers(std::span<const NewVoucher> vouchers, absl::Time now);

}  // namespace loyalty::rewards
