#include "points-svc/domain/ledger.h"

#include <algorithm>

#include "common/check.h"

namespace loyalty::points {

std::string_view AccountName(Account account) {
  switch (account) {
    case Account::kAvailable:
      return "available";
    case Account::kPending:
      return "pending";
    case Account::kHeld:
      return "held";
    case Account::kDebt:
      return "debt";
    case Account::kIssued:
      return "issued";
    case Account::kRedeemed:
      return "redeemed";
    case Account::kExpired:
      return "expired";
    case Account::kAdjustments:
      return "adjustments";
  }
  LOYALTY_CHECK(false);
  return "";
}

Posting& Posting::Add(std::string_view owner, Account account, int64_t amount) {
  for (Entry& entry : entries_) {
    if (entry.owner == owner && entry.account == account) {
      entry.amount += amount;
      return *this;
    }
  }
  entries_.push_back(Entry{std::string(owner), account, amount});
  return *this;
}

Posting& Posting::Move(std::string_view from_owner, Account from, std::string_view to_owner,
                       Account to, int64_t amount) {
  LOYALTY_CHECK(amount >= 0);
  Add(from_owner, from, -amount);
  return Add(to_owner, to, amount);
}

std::vector<Entry> Posting::entries() const {
  std::vector<Entry> non_zero;
  for (const Entry& entry : entries_) {
    if (entry.amount != 0) non_zero.push_back(entry);
  }
  return non_zero;
}

bool Posting::balanced() const {
  int64_t sum = 0;
  for (const Entry& entry : entries_) sum += entry.amount;
  return sum == 0;
}

int64_t Posting::AmountOf(std::string_view owner, Account account) const {
  for (const Entry& entry : entries_) {
    if (entry.owner == owner && entry.account == account) return entry.amount;
  }
  return 0;
}

BalanceDelta DeltaFor(const Posting& posting, std::string_view member_id) {
  return BalanceDelta{.available = posting.AmountOf(member_id, Account::kAvailable),
                      .pending = posting.AmountOf(member_id, Account::kPending),
                      .held = posting.AmountOf(member_id, Account::kHeld),
                      .debt = -posting.AmountOf(member_id, Account::kDebt)};
}

std::optional<std::vector<LotTake>> AllocateFromLots(const std::vector<Lot>& lots, int64_t amount) {
  LOYALTY_CHECK(amount >= 0);
  std::vector<LotTake> takes;
  int64_t left = amount;
  for (const Lot& lot : lots) {
    if (left == 0) break;
    LOYALTY_CHECK(lot.remaining >= 0);
    const int64_t take = std::min(left, lot.remaining);
    if (take > 0) takes.push_back(LotTake{lot.lot_id, take});
    left -= take;
  }
  if (left > 0) return std::nullopt;
  return takes;
}

CreditSplit SplitCredit(int64_t points, int64_t debt) {
  LOYALTY_CHECK(points >= 0 && debt >= 0);
  const int64_t to_debt = std::min(points, debt);
  return CreditSplit{.to_debt = to_debt, .to_available = points - to_debt};
}

}  // namespace loyalty::points
