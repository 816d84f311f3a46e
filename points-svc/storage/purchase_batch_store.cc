#include "points-svc/storage/purchase_batch_store.h"

#include <map>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "common/check.h"
#include "common/pg/array.h"
#include "common/status/macros.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "points-svc/storage/ledger_batch.h"
#include "points-svc/storage/ledger_store.h"
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

// Position (WITH ORDINALITY, from 1) of a row's input, as an index.
size_t Position(const pg::Result& rows, int row) {
  return static_cast<size_t>(rows.Int64(row, "n") - 1);
}

}  // namespace

// --- Reads ---------------------------------------------------------------------------------

pg::Statement EnsureBalances(std::span<const MemberRef> members) {
  return {&queries::kEnsureBalances, MemberColumns(members)};
}

pg::Statement LockBalances(std::span<const MemberRef> members) {
  return {&queries::kLockBalances, MemberColumns(members)};
}

std::vector<std::optional<Balance>> ParseBalances(const pg::Result& rows,
                                                  std::span<const MemberRef> members) {
  absl::flat_hash_map<std::pair<std::string, std::string>, Balance> locked;
  for (int row = 0; row < rows.rows(); ++row) {
    locked[{rows.String(row, "program_id"), rows.String(row, "member_id")}] =
        BalanceFromRow(rows, row);
  }
  std::vector<std::optional<Balance>> balances;
  balances.reserve(members.size());
  for (const MemberRef& member : members) {
    auto it = locked.find(std::make_pair(member.program_id, member.member_id));
    balances.push_back(it == locked.end() ? std::nullopt : std::optional<Balance>(it->second));
  }
  return balances;
}

pg::Statement RecordedOrders(std::span<const OrderRef> orders) {
  pg::ArrayLiteral programs, order_ids;
  for (const OrderRef& order : orders) {
    programs.Add(order.program_id);
    order_ids.Add(order.order_id);
  }
  return {&queries::kRecordedOrders, pg::Params().Add(programs.Build()).Add(order_ids.Build())};
}

std::vector<bool> ParseRecordedOrders(const pg::Result& rows, size_t orders) {
  std::vector<bool> recorded(orders, false);
  for (int row = 0; row < rows.rows(); ++row) recorded[Position(rows, row)] = true;
  return recorded;
}

pg::Statement PurchasePointsInWindows(std::span<const MemberRef> members,
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
  return {&queries::kPurchasePointsInWindows, std::move(params)};
}

std::vector<EarnedSoFar> ParseEarned(const pg::Result& rows, size_t members) {
  std::vector<EarnedSoFar> earned(members);
  for (int row = 0; row < rows.rows(); ++row) {
    earned[Position(rows, row)] =
        EarnedSoFar{.today = rows.Int64(row, "today"), .this_month = rows.Int64(row, "month")};
  }
  return earned;
}

pg::Statement NextExpiries(std::span<const MemberRef> members, int dates) {
  pg::Params params = MemberColumns(members);
  params.Add(static_cast<int64_t>(dates));
  return {&queries::kNextExpiriesBatch, std::move(params)};
}

pg::Statement UpcomingPending(std::span<const MemberRef> members, int dates) {
  pg::Params params = MemberColumns(members);
  params.Add(static_cast<int64_t>(dates));
  return {&queries::kUpcomingPendingBatch, std::move(params)};
}

std::vector<DatedBalance> ParseDatedBalances(const pg::Result& expiries, const pg::Result* upcoming,
                                             size_t members) {
  std::vector<DatedBalance> dated(members);
  for (int row = 0; row < expiries.rows(); ++row) {
    dated[Position(expiries, row)].next_expiries.push_back(DatedPoints{
        .time = expiries.Time(row, "expire_time"), .points = expiries.Int64(row, "points")});
  }
  if (upcoming != nullptr) {
    std::vector<std::vector<DatedPoints>> dates = ParseUpcomingPending(*upcoming, members);
    for (size_t i = 0; i < members; ++i) dated[i].upcoming_available = std::move(dates[i]);
  }
  return dated;
}

std::vector<std::vector<DatedPoints>> ParseUpcomingPending(const pg::Result& rows, size_t members) {
  std::vector<std::vector<DatedPoints>> dates(members);
  for (int row = 0; row < rows.rows(); ++row) {
    dates[pg::InputIndex(rows, row, members)].push_back(
        DatedPoints{.time = rows.Time(row, "available_time"), .points = rows.Int64(row, "points")});
  }
  return dates;
}

pg::Statement AllocatePurchaseIds(int count) {
  return {&queries::kAllocatePurchaseIds, pg::Params().Add(static_cast<int64_t>(count))};
}

std::vector<PurchaseIds> ParsePurchaseIds(const pg::Result& rows) {
  std::vector<PurchaseIds> ids(static_cast<size_t>(rows.rows()));
  for (int row = 0; row < rows.rows(); ++row) {
    ids[row] = PurchaseIds{.txn_id = rows.Int64(row, "txn_id"),
                           .lot_id = rows.Int64(row, "lot_id"),
                           .pending_id = rows.Int64(row, "pending_id")};
  }
  return ids;
}

absl::StatusOr<DatedBalance> ReadDatedBalance(pg::Connection& connection, const MemberRef& member,
                                              const Balance& balance, int dates) {
  const MemberRef members[] = {member};
  std::vector<pg::Statement> statements = {NextExpiries(members, dates)};
  // Pending credits are only looked up when the balance has some.
  if (balance.pending > 0) statements.push_back(UpcomingPending(members, dates));
  LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> results, connection.ExecutePipeline(statements));
  return ParseDatedBalances(results[0], results.size() > 1 ? &results[1] : nullptr, 1)[0];
}

// --- Writes --------------------------------------------------------------------------------

std::vector<pg::Statement> WritePurchases(std::span<const PurchaseWrite> purchases) {
  std::vector<pg::Statement> statements;
  if (purchases.empty()) return statements;

  // One ledger transaction per purchase, its entries, and each member's balance change summed.
  pg::ArrayLiteral txn_programs, txn_ids, kinds, txn_orders, txn_times;
  EntryColumns entries;
  BalanceDeltas deltas;
  for (const PurchaseWrite& write : purchases) {
    LOYALTY_CHECK(write.posting.balanced());
    txn_programs.Add(write.member.program_id);
    txn_ids.Add(write.ids.txn_id);
    kinds.Add(int64_t{::loyalty::points::v1::TRANSACTION_KIND_PURCHASE});
    txn_orders.Add(write.order_id);
    txn_times.Add(write.create_time);
    entries.Add(write.member.program_id, write.ids.txn_id, write.posting);
    deltas.Add(write.member.program_id, write.member.member_id, write.posting, write.points);
  }
  statements.push_back({&queries::kInsertTransactions, pg::Params()
                                                           .Add(txn_programs.Build())
                                                           .Add(txn_ids.Build())
                                                           .Add(kinds.Build())
                                                           .Add(txn_orders.Build())
                                                           .Add(txn_times.Build())});
  if (!entries.empty()) statements.push_back(entries.Insert());
  statements.push_back(deltas.Apply());

  // Lots for points available at once, pending credits for the rest; then the purchases, their
  // lines, and the points per member and day (caps, leaderboards).
  pg::ArrayLiteral lot_programs, lot_members, lot_ids, lot_txns, lot_amounts, lot_expiries,
      lot_orders;
  pg::ArrayLiteral pending_programs, pending_members, pending_ids, pending_orders, pending_amounts,
      pending_times, pending_expiries;
  pg::ArrayLiteral programs, orders, buyers, currencies, totals, points, purchase_pending_ids,
      purchase_lot_ids, occur_times, create_times;
  pg::ArrayLiteral line_programs, line_orders, line_numbers, skus, categories, quantities, prices;
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> daily;
  for (const PurchaseWrite& write : purchases) {
    LOYALTY_CHECK(write.lot_points == 0 || write.pending_points == 0);
    std::optional<int64_t> lot_id, pending_id;
    if (write.lot_points > 0) {
      lot_id = write.ids.lot_id;
      lot_programs.Add(write.member.program_id);
      lot_members.Add(write.member.member_id);
      lot_ids.Add(*lot_id);
      lot_txns.Add(write.ids.txn_id);
      lot_amounts.Add(write.lot_points);
      lot_expiries.AddOptional(write.expire_time);
      lot_orders.Add(write.order_id);
    } else if (write.pending_points > 0) {
      pending_id = write.ids.pending_id;
      pending_programs.Add(write.member.program_id);
      pending_members.Add(write.member.member_id);
      pending_ids.Add(*pending_id);
      pending_orders.Add(write.order_id);
      pending_amounts.Add(write.pending_points);
      pending_times.Add(write.available_time);
      pending_expiries.AddOptional(write.expire_time);
    }
    programs.Add(write.member.program_id);
    orders.Add(write.order_id);
    buyers.Add(write.member.member_id);
    currencies.Add(write.currency_code);
    totals.Add(write.purchase->total_minor);
    points.Add(write.points);
    purchase_pending_ids.AddOptional(pending_id);
    purchase_lot_ids.AddOptional(lot_id);
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
  if (lot_programs.size() > 0) {
    statements.push_back({&queries::kInsertLots, pg::Params()
                                                     .Add(lot_programs.Build())
                                                     .Add(lot_members.Build())
                                                     .Add(lot_ids.Build())
                                                     .Add(lot_txns.Build())
                                                     .Add(lot_amounts.Build())
                                                     .Add(lot_expiries.Build())
                                                     .Add(lot_orders.Build())});
  }
  if (pending_programs.size() > 0) {
    statements.push_back({&queries::kInsertPendings, pg::Params()
                                                         .Add(pending_programs.Build())
                                                         .Add(pending_members.Build())
                                                         .Add(pending_ids.Build())
                                                         .Add(pending_orders.Build())
                                                         .Add(pending_amounts.Build())
                                                         .Add(pending_times.Build())
                                                         .Add(pending_expiries.Build())});
  }
  statements.push_back({&queries::kInsertPurchases, pg::Params()
                                                        .Add(programs.Build())
                                                        .Add(orders.Build())
                                                        .Add(buyers.Build())
                                                        .Add(currencies.Build())
                                                        .Add(totals.Build())
                                                        .Add(points.Build())
                                                        .Add(purchase_pending_ids.Build())
                                                        .Add(purchase_lot_ids.Build())
                                                        .Add(occur_times.Build())
                                                        .Add(create_times.Build())});
  if (line_programs.size() > 0) {
    statements.push_back({&queries::kInsertPurchaseLinesBatch, pg::Params()
                                                                   .Add(line_programs.Build())
                                                                   .Add(line_orders.Build())
                                                                   .Add(line_numbers.Build())
                                                                   .Add(skus.Build())
                                                                   .Add(categories.Build())
                                                                   .Add(quantities.Build())
                                                                   .Add(prices.Build())});
  }
  pg::ArrayLiteral daily_programs, daily_members, days, daily_points;
  for (const auto& [key, total] : daily) {
    daily_programs.Add(std::get<0>(key));
    daily_members.Add(std::get<1>(key));
    days.Add(std::get<2>(key));
    daily_points.Add(total);
  }
  const std::string daily_points_column = daily_points.Build();
  statements.push_back({&queries::kAddEarnDailyBatch, pg::Params()
                                                          .Add(daily_programs.Build())
                                                          .Add(daily_members.Build())
                                                          .Add(days.Build())
                                                          .Add(daily_points_column)
                                                          .Add(daily_points_column)});
  return statements;
}

}  // namespace loyalty::points
