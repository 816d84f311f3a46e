#include "points-svc/storage/ledger_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/check.h"
#include "common/status/macros.h"
#include "points-svc/storage/queries.h"

namespace loyalty::points {
Balance BalanceFromRow(const pg::Result& rows, int row) {
  return Balance{.available = rows.Int64(row, "available"),
                 .pending = rows.Int64(row, "pending"),
                 .held = rows.Int64(row, "held"),
                 .debt = rows.Int64(row, "debt"),
                 .lifetime_earned = rows.Int64(row, "lifetime_earned")};
}

Balance BalanceFromRows(const pg::Result& rows) {
  return rows.rows() == 0 ? Balance{} : BalanceFromRow(rows, 0);
}

absl::StatusOr<Balance> LockBalance(pg::Connection& connection, const std::string& program_id,
                                    const std::string& member_id) {
  const pg::Params key = pg::Params().Add(program_id).Add(member_id);
  LOYALTY_RETURN_IF_ERROR(connection.Execute(queries::kEnsureBalance, key).status());
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(queries::kLockBalance, key));
  LOYALTY_CHECK(rows.rows() == 1);
  return BalanceFromRows(rows);
}

absl::StatusOr<Balance> ReadBalance(pg::Connection& connection, const std::string& program_id,
                                    const std::string& member_id) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kSelectBalance, pg::Params().Add(program_id).Add(member_id)));
  return BalanceFromRows(rows);
}

absl::StatusOr<int64_t> WritePosting(
    pg::Connection& connection, const std::string& program_id, const TransactionHeader& header,
    const Posting& posting, const std::vector<std::pair<std::string, int64_t>>& lifetime_earned) {
  LOYALTY_CHECK(posting.balanced());
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result inserted,
      connection.Execute(queries::kInsertTransaction, pg::Params()
                                                          .Add(program_id)
                                                          .Add(static_cast<int64_t>(header.kind))
                                                          .AddOptional(header.reason)
                                                          .AddOptional(header.order_id)
                                                          .AddOptional(header.hold_id)
                                                          .AddOptional(header.counterparty_member)
                                                          .AddOptional(header.member_id)
                                                          .Add(header.time)));
  const int64_t txn_id = inserted.Int64(0, "txn_id");
  const std::vector<Entry> entries = posting.entries();
  if (entries.empty()) return txn_id;

  std::vector<std::string> owners, accounts;
  std::vector<int64_t> amounts;
  std::vector<std::string> members;
  for (const Entry& entry : entries) {
    owners.push_back(entry.owner);
    accounts.push_back(std::string(AccountName(entry.account)));
    amounts.push_back(entry.amount);
    if (!entry.owner.empty() &&
        std::find(members.begin(), members.end(), entry.owner) == members.end()) {
      members.push_back(entry.owner);
    }
  }
  LOYALTY_RETURN_IF_ERROR(connection
                              .Execute(queries::kInsertEntries, pg::Params()
                                                                    .Add(program_id)
                                                                    .Add(txn_id)
                                                                    .Add(TextArray(owners))
                                                                    .Add(TextArray(accounts))
                                                                    .Add(Int64Array(amounts)))
                              .status());
  for (const std::string& member : members) {
    const BalanceDelta delta = DeltaFor(posting, member);
    int64_t earned = 0;
    for (const auto& [who, amount] : lifetime_earned) {
      if (who == member) earned += amount;
    }
    LOYALTY_RETURN_IF_ERROR(connection
                                .Execute(queries::kUpdateBalance, pg::Params()
                                                                      .Add(program_id)
                                                                      .Add(member)
                                                                      .Add(delta.available)
                                                                      .Add(delta.pending)
                                                                      .Add(delta.held)
                                                                      .Add(delta.debt)
                                                                      .Add(earned))
                                .status());
  }
  return txn_id;
}

absl::StatusOr<int64_t> InsertLot(pg::Connection& connection, const std::string& program_id,
                                  const std::string& member_id, int64_t txn_id, int64_t amount,
                                  std::optional<absl::Time> expire_time,
                                  const std::optional<std::string>& order_id) {
  LOYALTY_CHECK(amount > 0);
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows,
                           connection.Execute(queries::kInsertLot, pg::Params()
                                                                       .Add(program_id)
                                                                       .Add(member_id)
                                                                       .Add(txn_id)
                                                                       .Add(amount)
                                                                       .AddOptional(expire_time)
                                                                       .AddOptional(order_id)));
  return rows.Int64(0, "lot_id");
}

absl::Status TakeFromLots(pg::Connection& connection, const std::string& program_id,
                          const std::string& member_id, const std::vector<LotTake>& takes) {
  if (takes.empty()) return absl::OkStatus();
  std::vector<int64_t> ids, amounts;
  for (const LotTake& take : takes) {
    ids.push_back(take.lot_id);
    amounts.push_back(take.amount);
  }
  return connection
      .Execute(
          queries::kTakeFromLots,
          pg::Params().Add(program_id).Add(member_id).Add(Int64Array(ids)).Add(Int64Array(amounts)))
      .status();
}

absl::Status SpendLots(pg::Connection& connection, const std::string& program_id,
                       const std::string& member_id, int64_t amount,
                       std::optional<int64_t> preferred_lot) {
  if (amount == 0) return absl::OkStatus();
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows,
                           connection.Execute(queries::kSelectLotsToSpend,
                                              pg::Params()
                                                  .Add(program_id)
                                                  .Add(member_id)
                                                  .Add(amount)
                                                  .Add(preferred_lot.value_or(int64_t{-1}))));
  std::vector<Lot> lots;
  for (int row = 0; row < rows.rows(); ++row) {
    lots.push_back(Lot{.lot_id = rows.Int64(row, "lot_id"),
                       .remaining = rows.Int64(row, "remaining"),
                       .expire_time = rows.OptionalTime(row, "expire_time")});
  }
  std::optional<std::vector<LotTake>> takes = AllocateFromLots(lots, amount);
  if (!takes.has_value()) {
    return absl::InternalError(absl::StrCat("lots of member ", member_id, " in program ",
                                            program_id, " hold less than ", amount, " points"));
  }
  return TakeFromLots(connection, program_id, member_id, *takes);
}

absl::StatusOr<std::vector<Lot>> MemberDueLots(pg::Connection& connection,
                                               const std::string& program_id,
                                               const std::string& member_id, absl::Time as_of) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows, connection.Execute(queries::kSelectMemberDueLots,
                                          pg::Params().Add(program_id).Add(member_id).Add(as_of)));
  std::vector<Lot> lots;
  for (int row = 0; row < rows.rows(); ++row) {
    lots.push_back(Lot{.lot_id = rows.Int64(row, "lot_id"),
                       .remaining = rows.Int64(row, "remaining"),
                       .expire_time = rows.OptionalTime(row, "expire_time")});
  }
  return lots;
}

}  // namespace loyalty::points
