#include "points-svc/storage/purchase_batch_store.h"

#include <map>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/pg/array.h"
#include "common/status/macros.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "points-svc/storage/queries.h"

namespace loyalty::points {
namespace {

// The two key columns of `members`.
pg::Params MemberColumns(std::span<const MemberRef> members) {
  pg::ArrayLiteral programs, member_ids;
  for (const MemberRef& member : members) {
    programs.Add(member.program_id);
    member_ids.Add(member.member_id);
  }
  return pg::Params().Add(programs.Build()).Add(member_ids.Build());
}

std::string UtcDay(absl::CivilDay day) { return absl::FormatCivilTime(day); }

using OrderKey = std::pair<std::string, std::string>;  // (program, order)

// Maps RETURNING (program_id, order_id, <id>) rows to their order.
absl::flat_hash_map<OrderKey, int64_t> IdsByOrder(const pg::Result& rows, std::string_view id) {
  absl::flat_hash_map<OrderKey, int64_t> ids;
  for (int row = 0; row < rows.rows(); ++row) {
    ids[{rows.String(row, "program_id"), rows.String(row, "order_id")}] = rows.Int64(row, id);
  }
  return ids;
}

}  // namespace

absl::StatusOr<std::vector<Balance>> LockBalances(pg::Connection& connection,
                                                  std::span<const MemberRef> members) {
  const pg::Params columns = MemberColumns(members);
  LOYALTY_RETURN_IF_ERROR(connection.Execute(queries::kEnsureBalances, columns).status());
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(queries::kLockBalances, columns));
  absl::flat_hash_map<std::pair<std::string, std::string>, Balance> locked;
  for (int row = 0; row < rows.rows(); ++row) {
    locked[{rows.String(row, "program_id"), rows.String(row, "member_id")}] =
        Balance{.available = rows.Int64(row, "available"),
                .pending = rows.Int64(row, "pending"),
                .held = rows.Int64(row, "held"),
                .debt = rows.Int64(row, "debt"),
                .lifetime_earned = rows.Int64(row, "lifetime_earned")};
  }
  std::vector<Balance> balances;
  balances.reserve(members.size());
  for (const MemberRef& member : members) {
    auto it = locked.find(std::make_pair(member.program_id, member.member_id));
    LOYALTY_CHECK(it != locked.end());  // Ensured just before, in the same transaction.
    balances.push_back(it->second);
  }
  return balances;
}

absl::StatusOr<std::vector<bool>> RecordedOrders(pg::Connection& connection,
                                                 std::span<const OrderRef> orders) {
  pg::ArrayLiteral programs, order_ids;
  for (const OrderRef& order : orders) {
    programs.Add(order.program_id);
    order_ids.Add(order.order_id);
  }
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kRecordedOrders,
                         pg::Params().Add(programs.Build()).Add(order_ids.Build())));
  std::vector<bool> recorded(orders.size(), false);
  for (int row = 0; row < rows.rows(); ++row) recorded[rows.Int64(row, "n") - 1] = true;
  return recorded;
}

absl::StatusOr<std::vector<EarnedSoFar>> PurchasePointsInWindows(
    pg::Connection& connection, std::span<const MemberRef> members,
    std::span<const absl::Time> times) {
  LOYALTY_CHECK(members.size() == times.size());
  pg::ArrayLiteral days, month_starts;
  for (absl::Time time : times) {
    const absl::CivilDay day = absl::ToCivilDay(time, absl::UTCTimeZone());
    days.Add(UtcDay(day));
    month_starts.Add(UtcDay(absl::CivilDay(absl::CivilMonth(day))));
  }
  pg::Params params = MemberColumns(members);
  params.Add(days.Build()).Add(month_starts.Build());
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows,
                           connection.Execute(queries::kPurchasePointsInWindows, params));
  std::vector<EarnedSoFar> earned(members.size());
  for (int row = 0; row < rows.rows(); ++row) {
    earned[rows.Int64(row, "n") - 1] =
        EarnedSoFar{.today = rows.Int64(row, "today"), .this_month = rows.Int64(row, "month")};
  }
  return earned;
}

absl::StatusOr<std::vector<PurchaseIds>> WritePurchases(pg::Connection& connection,
                                                        std::span<const PurchaseWrite> purchases) {
  std::vector<PurchaseIds> ids(purchases.size());
  if (purchases.empty()) return ids;

  // 1. One ledger transaction per purchase.
  {
    pg::ArrayLiteral programs, kinds, orders, times;
    for (const PurchaseWrite& write : purchases) {
      LOYALTY_CHECK(write.posting.balanced());
      programs.Add(write.member.program_id);
      kinds.Add(int64_t{::loyalty::points::v1::TRANSACTION_KIND_PURCHASE});
      orders.Add(write.order_id);
      times.Add(write.create_time);
    }
    LOYALTY_ASSIGN_OR_RETURN(
        pg::Result rows, connection.Execute(queries::kInsertTransactions, pg::Params()
                                                                              .Add(programs.Build())
                                                                              .Add(kinds.Build())
                                                                              .Add(orders.Build())
                                                                              .Add(times.Build())));
    const auto txn_ids = IdsByOrder(rows, "txn_id");
    LOYALTY_CHECK(txn_ids.size() == purchases.size());  // Order ids are distinct per program.
    for (size_t i = 0; i < purchases.size(); ++i) {
      ids[i].txn_id = txn_ids.at({purchases[i].member.program_id, purchases[i].order_id});
    }
  }

  // 2. Their entries, and each member's balance change summed over the batch.
  {
    pg::ArrayLiteral programs, txns, owners, accounts, amounts;
    // (program, member) -> summed delta and lifetime points; std::map keeps a stable order.
    std::map<std::pair<std::string, std::string>, std::pair<BalanceDelta, int64_t>> deltas;
    for (size_t i = 0; i < purchases.size(); ++i) {
      const PurchaseWrite& write = purchases[i];
      for (const Entry& entry : write.posting.entries()) {
        programs.Add(write.member.program_id);
        txns.Add(ids[i].txn_id);
        owners.Add(entry.owner);
        accounts.Add(AccountName(entry.account));
        amounts.Add(entry.amount);
      }
      auto& [delta, earned] = deltas[{write.member.program_id, write.member.member_id}];
      const BalanceDelta change = DeltaFor(write.posting, write.member.member_id);
      delta.available += change.available;
      delta.pending += change.pending;
      delta.held += change.held;
      delta.debt += change.debt;
      earned += write.points;
    }
    if (programs.size() > 0) {
      LOYALTY_RETURN_IF_ERROR(connection
                                  .Execute(queries::kInsertEntriesBatch, pg::Params()
                                                                             .Add(programs.Build())
                                                                             .Add(txns.Build())
                                                                             .Add(owners.Build())
                                                                             .Add(accounts.Build())
                                                                             .Add(amounts.Build()))
                                  .status());
    }
    pg::ArrayLiteral member_programs, members, available, pending, held, debt, earned;
    for (const auto& [key, change] : deltas) {
      member_programs.Add(key.first);
      members.Add(key.second);
      available.Add(change.first.available);
      pending.Add(change.first.pending);
      held.Add(change.first.held);
      debt.Add(change.first.debt);
      earned.Add(change.second);
    }
    LOYALTY_RETURN_IF_ERROR(
        connection
            .Execute(queries::kApplyBalanceDeltas, pg::Params()
                                                       .Add(member_programs.Build())
                                                       .Add(members.Build())
                                                       .Add(available.Build())
                                                       .Add(pending.Build())
                                                       .Add(held.Build())
                                                       .Add(debt.Build())
                                                       .Add(earned.Build()))
            .status());
  }

  // 3. Lots for points available at once, pending credits for the rest.
  {
    pg::ArrayLiteral lot_programs, lot_members, lot_txns, lot_amounts, lot_expiries, lot_orders;
    pg::ArrayLiteral pending_programs, pending_members, pending_orders, pending_amounts,
        pending_times, pending_expiries;
    for (size_t i = 0; i < purchases.size(); ++i) {
      const PurchaseWrite& write = purchases[i];
      LOYALTY_CHECK(write.lot_points == 0 || write.pending_points == 0);
      if (write.lot_points > 0) {
        lot_programs.Add(write.member.program_id);
        lot_members.Add(write.member.member_id);
        lot_txns.Add(ids[i].txn_id);
        lot_amounts.Add(write.lot_points);
        lot_expiries.AddOptional(write.expire_time);
        lot_orders.Add(write.order_id);
      } else if (write.pending_points > 0) {
        pending_programs.Add(write.member.program_id);
        pending_members.Add(write.member.member_id);
        pending_orders.Add(write.order_id);
        pending_amounts.Add(write.pending_points);
        pending_times.Add(write.available_time);
        pending_expiries.AddOptional(write.expire_time);
      }
    }
    absl::flat_hash_map<OrderKey, int64_t> lot_ids, pending_ids;
    if (lot_programs.size() > 0) {
      LOYALTY_ASSIGN_OR_RETURN(
          pg::Result rows, connection.Execute(queries::kInsertLots, pg::Params()
                                                                        .Add(lot_programs.Build())
                                                                        .Add(lot_members.Build())
                                                                        .Add(lot_txns.Build())
                                                                        .Add(lot_amounts.Build())
                                                                        .Add(lot_expiries.Build())
                                                                        .Add(lot_orders.Build())));
      lot_ids = IdsByOrder(rows, "lot_id");
    }
    if (pending_programs.size() > 0) {
      LOYALTY_ASSIGN_OR_RETURN(
          pg::Result rows,
          connection.Execute(queries::kInsertPendings, pg::Params()
                                                           .Add(pending_programs.Build())
                                                           .Add(pending_members.Build())
                                                           .Add(pending_orders.Build())
                                                           .Add(pending_amounts.Build())
                                                           .Add(pending_times.Build())
                                                           .Add(pending_expiries.Build())));
      pending_ids = IdsByOrder(rows, "pending_id");
    }
    for (size_t i = 0; i < purchases.size(); ++i) {
      const OrderKey key{purchases[i].member.program_id, purchases[i].order_id};
      if (auto it = lot_ids.find(key); it != lot_ids.end()) ids[i].lot_id = it->second;
      if (auto it = pending_ids.find(key); it != pending_ids.end()) ids[i].pending_id = it->second;
    }
  }

  // 4. The purchases, their lines, and the points per member and day (caps, leaderboards).
  {
    pg::ArrayLiteral programs, orders, members, currencies, totals, points, pending_ids, lot_ids,
        occur_times, create_times;
    pg::ArrayLiteral line_programs, line_orders, line_numbers, skus, categories, quantities, prices;
    std::map<std::tuple<std::string, std::string, std::string>, int64_t> daily;
    for (size_t i = 0; i < purchases.size(); ++i) {
      const PurchaseWrite& write = purchases[i];
      programs.Add(write.member.program_id);
      orders.Add(write.order_id);
      members.Add(write.member.member_id);
      currencies.Add(write.currency_code);
      totals.Add(write.purchase->total_minor);
      points.Add(write.points);
      pending_ids.AddOptional(ids[i].pending_id);
      lot_ids.AddOptional(ids[i].lot_id);
      occur_times.Add(write.purchase->occur_time);
      create_times.Add(write.create_time);
      for (size_t line = 0; line < write.purchase->lines.size(); ++line) {
        const PurchaseLine& item = write.purchase->lines[line];
        line_programs.Add(write.member.program_id);
        line_orders.Add(write.order_id);
        line_numbers.Add(static_cast<int64_t>(line));
        skus.Add(item.sku);
        categories.Add(item.category);
        quantities.Add(item.quantity);
        prices.Add(item.unit_price_minor);
      }
      daily[{write.member.program_id, write.member.member_id,
             UtcDay(absl::ToCivilDay(write.purchase->occur_time, absl::UTCTimeZone()))}] +=
          write.points;
    }
    LOYALTY_RETURN_IF_ERROR(connection
                                .Execute(queries::kInsertPurchases, pg::Params()
                                                                        .Add(programs.Build())
                                                                        .Add(orders.Build())
                                                                        .Add(members.Build())
                                                                        .Add(currencies.Build())
                                                                        .Add(totals.Build())
                                                                        .Add(points.Build())
                                                                        .Add(pending_ids.Build())
                                                                        .Add(lot_ids.Build())
                                                                        .Add(occur_times.Build())
                                                                        .Add(create_times.Build()))
                                .status());
    if (line_programs.size() > 0) {
      LOYALTY_RETURN_IF_ERROR(
          connection
              .Execute(queries::kInsertPurchaseLinesBatch, pg::Params()
                                                               .Add(line_programs.Build())
                                                               .Add(line_orders.Build())
                                                               .Add(line_numbers.Build())
                                                               .Add(skus.Build())
                                                               .Add(categories.Build())
                                                               .Add(quantities.Build())
                                                               .Add(prices.Build()))
              .status());
    }
    pg::ArrayLiteral daily_programs, daily_members, days, daily_points;
    for (const auto& [key, total] : daily) {
      daily_programs.Add(std::get<0>(key));
      daily_members.Add(std::get<1>(key));
      days.Add(std::get<2>(key));
      daily_points.Add(total);
    }
    const std::string daily_points_column = daily_points.Build();
    LOYALTY_RETURN_IF_ERROR(
        connection
            .Execute(queries::kAddEarnDailyBatch, pg::Params()
                                                      .Add(daily_programs.Build())
                                                      .Add(daily_members.Build())
                                                      .Add(days.Build())
                                                      .Add(daily_points_column)
                                                      .Add(daily_points_column))
            .status());
  }
  return ids;
}

absl::StatusOr<std::vector<DatedBalance>> ReadDatedBalances(pg::Connection& connection,
                                                            std::span<const MemberRef> members,
                                                            std::span<const Balance> balances,
                                                            int dates) {
  LOYALTY_CHECK(members.size() == balances.size());
  std::vector<DatedBalance> dated(members.size());
  pg::Params params = MemberColumns(members);
  params.Add(static_cast<int64_t>(dates));
  LOYALTY_ASSIGN_OR_RETURN(pg::Result expiries,
                           connection.Execute(queries::kNextExpiriesBatch, params));
  for (int row = 0; row < expiries.rows(); ++row) {
    dated[expiries.Int64(row, "n") - 1].next_expiries.push_back(DatedPoints{
        .time = expiries.Time(row, "expire_time"), .points = expiries.Int64(row, "points")});
  }
  // Pending credits of the members that have some, answered by their position in `members`.
  std::vector<MemberRef> pending_members;
  std::vector<size_t> positions;
  for (size_t i = 0; i < members.size(); ++i) {
    if (balances[i].pending == 0) continue;
    pending_members.push_back(members[i]);
    positions.push_back(i);
  }
  if (pending_members.empty()) return dated;
  pg::Params pending_params = MemberColumns(pending_members);
  pending_params.Add(static_cast<int64_t>(dates));
  LOYALTY_ASSIGN_OR_RETURN(pg::Result upcoming,
                           connection.Execute(queries::kUpcomingPendingBatch, pending_params));
  for (int row = 0; row < upcoming.rows(); ++row) {
    dated[positions[upcoming.Int64(row, "n") - 1]].upcoming_available.push_back(DatedPoints{
        .time = upcoming.Time(row, "available_time"), .points = upcoming.Int64(row, "points")});
  }
  return dated;
}

}  // namespace loyalty::points
