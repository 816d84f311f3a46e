#include "points-svc/storage/ledger_batch.h"

#include "points-svc/storage/queries.h"

namespace loyalty::points {

void EntryColumns::Add(const std::string& program_id, int64_t txn_id, const Posting& posting) {
  for (const Entry& entry : posting.entries()) {
    programs_.Add(program_id);
    txn_ids_.Add(txn_id);
    owners_.Add(entry.owner);
    accounts_.Add(AccountName(entry.account));
    amounts_.Add(entry.amount);
  }
}

pg::Statement EntryColumns::Insert() const {
  return {&queries::kInsertEntriesBatch, pg::Params()
                                             .Add(programs_.Build())
                                             .Add(txn_ids_.Build())
                                             .Add(owners_.Build())
                                             .Add(accounts_.Build())
                                             .Add(amounts_.Build())};
}

void BalanceDeltas::Add(const std::string& program_id, const std::string& member_id,
                        const Posting& posting, int64_t earned) {
  const BalanceDelta change = DeltaFor(posting, member_id);
  auto& [delta, lifetime] = deltas_[{program_id, member_id}];
  delta.available += change.available;
  delta.pending += change.pending;
  delta.held += change.held;
  delta.debt += change.debt;
  lifetime += earned;
}

pg::Statement BalanceDeltas::Apply() const {
  pg::ArrayLiteral programs, members, available, pending, held, debt, earned;
  for (const auto& [member, change] : deltas_) {
    programs.Add(member.first);
    members.Add(member.second);
    available.Add(change.first.available);
    pending.Add(change.first.pending);
    held.Add(change.first.held);
    debt.Add(change.first.debt);
    earned.Add(change.second);
  }
  return {&queries::kApplyBalanceDeltas, pg::Params()
                                             .Add(programs.Build())
                                             .Add(members.Build())
                                             .Add(available.Build())
                                             .Add(pending.Build())
                                             .Add(held.Build())
                                             .Add(debt.Build())
                                             .Add(earned.Build())};
}

}  // namespace loyalty::points
