#pragma once

// The pure part of the points ledger: accounts, balanced postings and lot allocation.
//
// A posting is the set of entries of one ledger transaction. Entries on the same account merge,
// zero entries vanish, and a posting is written only when its entries sum to zero (checked: an
// unbalanced posting is a programmer error, never a runtime condition).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace loyalty::points {

// Member accounts (owner = member id) and program accounts (owner = "").
enum class Account {
  kAvailable,
  kPending,
  kHeld,
  kDebt,
  kIssued,
  kRedeemed,
  kExpired,
  kAdjustments
};

// The `account` column value.
std::string_view AccountName(Account account);

struct Entry {
  std::string owner;
  Account account;
  int64_t amount;
};

class Posting {
 public:
  // Adds `amount` to (owner, account), merging with an existing entry.
  Posting& Add(std::string_view owner, Account account, int64_t amount);
  // Moves `amount` from one account to another (from -amount, to +amount).
  Posting& Move(std::string_view from_owner, Account from, std::string_view to_owner, Account to,
                int64_t amount);

  // Entries with a non-zero amount, in insertion order.
  std::vector<Entry> entries() const;
  bool balanced() const;
  // Sum of `owner`'s entries on `account` (0 when none).
  int64_t AmountOf(std::string_view owner, Account account) const;

 private:
  std::vector<Entry> entries_;
};

// A member's stored balance.
struct Balance {
  int64_t available = 0;
  int64_t pending = 0;
  int64_t held = 0;
  int64_t debt = 0;
  int64_t lifetime_earned = 0;
};

// How a posting changes one member's stored balance. Debt is stored as the positive amount
// owed, while the debt account is negative by it.
struct BalanceDelta {
  int64_t available = 0;
  int64_t pending = 0;
  int64_t held = 0;
  int64_t debt = 0;
};
BalanceDelta DeltaFor(const Posting& posting, std::string_view member_id);

// An open lot: points credited at once, spent oldest expiry first.
struct Lot {
  int64_t lot_id = 0;
  int64_t remaining = 0;
  std::optional<absl::Time> expire_time;  // nullopt: never expires
};

struct LotTake {
  int64_t lot_id = 0;
  int64_t amount = 0;
};

// Takes `amount` from `lots` in the order given (the caller orders them: preferred lot first,
// then oldest expiry, never-expiring last). Returns nullopt when the lots hold less than
// `amount` in all.
std::optional<std::vector<LotTake>> AllocateFromLots(const std::vector<Lot>& lots, int64_t amount);

// Credit split: earnings first pay off debt; the rest becomes available.
struct CreditSplit {
  int64_t to_debt = 0;
  int64_t to_available = 0;
};
CreditSplit SplitCredit(int64_t points, int64_t debt);

}  // namespace loyalty::points
