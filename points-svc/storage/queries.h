#pragma once

// Every SQL statement of points-svc, named and parameterized, in one place to review.
// Tables are unqualified: connections run with search_path set to the service's schema.
// Arrays travel as PostgreSQL text array literals (storage/pg_array.h) for multi-row writes.

#include "common/pg/query.h"

namespace loyalty::points::queries {

// --- Balances ------------------------------------------------------------------------------

inline constexpr pg::Query kEnsureBalance{
    "points_ensure_balance",
    "INSERT INTO balances (program_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"};

// Every mutation of a member locks its balance row first: one writer per member at a time.
inline constexpr pg::Query kLockBalance{
    "points_lock_balance",
    "SELECT available, pending, held, debt, lifetime_earned FROM balances "
    "WHERE program_id = $1 AND member_id = $2 FOR UPDATE"};

inline constexpr pg::Query kSelectBalance{
    "points_select_balance",
    "SELECT available, pending, held, debt, lifetime_earned FROM balances "
    "WHERE program_id = $1 AND member_id = $2"};

// GetBalance's read for a batch of members ($1, $2; each read at its own time $3), in one
// statement: per member (n, from 1) a row of part 0 with the stored balance (zeros without a row)
// and whether anything came due that the read must apply first (pending credits now available,
// open holds run out), then its next expiries (part 1) and upcoming pending credits (part 2), at
// most $4 dates each, read member by member through the lots and pending indexes.
inline constexpr pg::Query kSelectBalanceViews{
    "points_select_balance_views",
    "SELECT k.n, 0 AS part, NULL::timestamptz AS time, NULL::bigint AS points, "
    "COALESCE(b.available, 0) AS available, COALESCE(b.pending, 0) AS pending, "
    "COALESCE(b.held, 0) AS held, COALESCE(b.debt, 0) AS debt, "
    "COALESCE(b.lifetime_earned, 0) AS lifetime_earned, "
    "EXISTS (SELECT 1 FROM pending_credits c WHERE c.program_id = k.p AND c.member_id = k.m "
    "AND NOT c.released AND c.available_time <= k.t) OR EXISTS (SELECT 1 FROM holds h "
    "WHERE h.program_id = k.p AND h.member_id = k.m AND h.status = 1 AND h.expire_time <= k.t) "
    "AS due FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY "
    "AS k(p, m, t, n) LEFT JOIN balances b ON b.program_id = k.p AND b.member_id = k.m "
    "UNION ALL SELECT k.n, 1, d.expire_time, d.points, NULL, NULL, NULL, NULL, NULL, NULL "
    "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, m, n) CROSS JOIN LATERAL "
    "(SELECT expire_time, sum(remaining)::bigint AS points FROM lots WHERE program_id = k.p "
    "AND member_id = k.m AND remaining > 0 GROUP BY expire_time ORDER BY expire_time "
    "LIMIT $4) AS d WHERE d.expire_time IS NOT NULL "
    "UNION ALL SELECT k.n, 2, d.available_time, d.points, NULL, NULL, NULL, NULL, NULL, NULL "
    "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, m, n) CROSS JOIN LATERAL "
    "(SELECT available_time, sum(amount)::bigint AS points FROM pending_credits "
    "WHERE program_id = k.p AND member_id = k.m AND NOT released AND amount > 0 "
    "GROUP BY available_time ORDER BY available_time LIMIT $4) AS d "
    "ORDER BY 1, 2, 3"};

inline constexpr pg::Query kUpdateBalance{
    "points_update_balance",
    "UPDATE balances SET available = available + $3, pending = pending + $4, held = held + $5, "
    "debt = debt + $6, lifetime_earned = lifetime_earned + $7 "
    "WHERE program_id = $1 AND member_id = $2"};

// --- Transactions and entries --------------------------------------------------------------

inline constexpr pg::Query kInsertTransaction{
    "points_insert_transaction",
    "INSERT INTO ledger_transactions (program_id, kind, reason, order_id, hold_id, "
    "counterparty_member, member_id, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "RETURNING txn_id"};

inline constexpr pg::Query kInsertEntries{
    "points_insert_entries",
    "INSERT INTO ledger_entries (program_id, txn_id, owner, account, amount) "
    "SELECT $1, $2, e.owner, e.account, e.amount "
    "FROM unnest($3::text[], $4::text[], $5::bigint[]) AS e(owner, account, amount)"};

// A member's transactions, newest first, with the member's own change of available + pending.
inline constexpr pg::Query kListTransactions{
    "points_list_transactions",
    "SELECT t.txn_id, t.kind, t.reason, t.order_id, t.hold_id, t.counterparty_member, "
    "t.member_id, t.create_time, COALESCE(sum(e.amount) FILTER (WHERE e.account IN ('available', "
    "'pending')), "
    "0)::bigint AS points "
    "FROM ledger_entries e JOIN ledger_transactions t "
    "ON t.program_id = e.program_id AND t.txn_id = e.txn_id "
    "WHERE e.program_id = $1 AND e.owner = $2 AND e.txn_id < $3 "
    "GROUP BY t.txn_id, t.kind, t.reason, t.order_id, t.hold_id, t.counterparty_member, "
    "t.member_id, t.create_time ORDER BY t.txn_id DESC LIMIT $4"};

// --- Lots ----------------------------------------------------------------------------------

inline constexpr pg::Query kInsertLot{
    "points_insert_lot",
    "INSERT INTO lots (program_id, member_id, txn_id, amount, remaining, expire_time, order_id) "
    "VALUES ($1, $2, $3, $4, $4, $5, $6) RETURNING lot_id"};

// Just the open lots needed to cover $3 points, in spending order: the preferred lot $4 (a
// refunded purchase's own lot) first, then oldest expiry, never-expiring last.
inline constexpr pg::Query kSelectLotsToSpend{
    "points_select_lots_to_spend",
    "SELECT lot_id, remaining, expire_time FROM ("
    " SELECT lot_id, remaining, expire_time, (lot_id = $4) AS preferred,"
    "  sum(remaining) OVER (ORDER BY (lot_id = $4) DESC, expire_time ASC NULLS LAST, lot_id"
    "  ROWS UNBOUNDED PRECEDING) - remaining AS before"
    " FROM lots WHERE program_id = $1 AND member_id = $2 AND remaining > 0) AS open_lots "
    "WHERE before < $3 ORDER BY preferred DESC, expire_time ASC NULLS LAST, lot_id"};

inline constexpr pg::Query kTakeFromLots{
    "points_take_from_lots",
    "UPDATE lots SET remaining = remaining - t.take "
    "FROM unnest($3::bigint[], $4::bigint[]) AS t(lot_id, take) "
    "WHERE lots.program_id = $1 AND lots.member_id = $2 AND lots.lot_id = t.lot_id"};

// Lots due to expire whose member still has available points to expire, oldest first.
inline constexpr pg::Query kSelectDueLots{
    "points_select_due_lots",
    "SELECT l.member_id, l.lot_id, l.remaining, l.expire_time FROM lots l "
    "WHERE l.program_id = $1 AND l.remaining > 0 AND l.expire_time IS NOT NULL "
    "AND l.expire_time <= $2 AND EXISTS (SELECT 1 FROM balances b WHERE "
    "b.program_id = l.program_id AND b.member_id = l.member_id AND b.available > 0) "
    "ORDER BY l.expire_time, l.lot_id LIMIT $3"};

// A member's due lots, oldest first (inside the member's locked transaction).
inline constexpr pg::Query kSelectMemberDueLots{
    "points_select_member_due_lots",
    "SELECT lot_id, remaining, expire_time FROM lots WHERE program_id = $1 AND member_id = $2 "
    "AND remaining > 0 AND expire_time IS NOT NULL AND expire_time <= $3 "
    "ORDER BY expire_time, lot_id"};

// --- Pending credits -----------------------------------------------------------------------

inline constexpr pg::Query kSelectDuePending{
    "points_select_due_pending",
    "SELECT pending_id, order_id, amount, expire_time FROM pending_credits "
    "WHERE program_id = $1 AND member_id = $2 AND NOT released AND available_time <= $3 "
    "ORDER BY available_time, pending_id"};

inline constexpr pg::Query kSelectPendingById{
    "points_select_pending_by_id",
    "SELECT amount, released FROM pending_credits "
    "WHERE program_id = $1 AND member_id = $2 AND pending_id = $3"};

inline constexpr pg::Query kReleasePending{
    "points_release_pending",
    "UPDATE pending_credits SET released = true "
    "WHERE program_id = $1 AND member_id = $2 AND pending_id = $3"};

inline constexpr pg::Query kReducePending{
    "points_reduce_pending",
    "UPDATE pending_credits SET amount = amount - $4 "
    "WHERE program_id = $1 AND member_id = $2 AND pending_id = $3"};

// Members with pending points due (for the background release), at most $3.
inline constexpr pg::Query kSelectMembersWithDuePending{
    "points_select_members_with_due_pending",
    "SELECT DISTINCT member_id FROM (SELECT member_id FROM pending_credits "
    "WHERE program_id = $1 AND NOT released AND available_time <= $2 "
    "ORDER BY available_time LIMIT $3) AS due"};

// --- Purchases and activities --------------------------------------------------------------

inline constexpr pg::Query kSelectPurchaseForUpdate{
    "points_select_purchase_for_update",
    "SELECT member_id, total_minor, points_earned, refunded_minor, reversed_points, pending_id, "
    "lot_id, occur_time FROM purchases WHERE program_id = $1 AND order_id = $2 FOR UPDATE"};

inline constexpr pg::Query kSelectPurchaseLines{
    "points_select_purchase_lines",
    "SELECT line_no, sku, quantity, unit_price_minor, refunded_quantity FROM purchase_lines "
    "WHERE program_id = $1 AND order_id = $2 ORDER BY line_no"};

inline constexpr pg::Query kUpdatePurchaseRefund{
    "points_update_purchase_refund",
    "UPDATE purchases SET refunded_minor = refunded_minor + $3, "
    "reversed_points = reversed_points + $4 WHERE program_id = $1 AND order_id = $2"};

inline constexpr pg::Query kUpdateLineRefunds{
    "points_update_line_refunds",
    "UPDATE purchase_lines SET refunded_quantity = refunded_quantity + r.quantity "
    "FROM unnest($3::integer[], $4::bigint[]) AS r(line_no, quantity) "
    "WHERE purchase_lines.program_id = $1 AND purchase_lines.order_id = $2 "
    "AND purchase_lines.line_no = r.line_no"};

inline constexpr pg::Query kAddEarnDaily{
    "points_add_earn_daily",
    "INSERT INTO earn_daily (program_id, member_id, day, purchase_points, points) "
    "VALUES ($1, $2, $3::date, $4, $5) ON CONFLICT (program_id, member_id, day) DO UPDATE SET "
    "purchase_points = earn_daily.purchase_points + EXCLUDED.purchase_points, "
    "points = earn_daily.points + EXCLUDED.points"};

inline constexpr pg::Query kInsertActivityAward{
    "points_insert_activity_award",
    "INSERT INTO activity_awards (program_id, member_id, activity_key, reference, points, "
    "occur_time, txn_id) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"};

inline constexpr pg::Query kActivityAwardExists{
    "points_activity_award_exists",
    "SELECT EXISTS (SELECT 1 FROM activity_awards WHERE program_id = $1 AND member_id = $2 "
    "AND activity_key = $3 AND reference = $4)"};

inline constexpr pg::Query kCountActivityAwards{
    "points_count_activity_awards",
    "SELECT count(*) FROM activity_awards WHERE program_id = $1 AND member_id = $2 "
    "AND activity_key = $3 AND occur_time >= $4"};

// --- Earning rules -------------------------------------------------------------------------

inline constexpr pg::Query kSelectRules{
    "points_select_rules", "SELECT rules, version FROM earning_rules WHERE program_id = $1"};

inline constexpr pg::Query kLockRules{
    "points_lock_rules",
    "SELECT rules, version FROM earning_rules WHERE program_id = $1 FOR UPDATE"};

inline constexpr pg::Query kUpsertRules{
    "points_upsert_rules",
    "INSERT INTO earning_rules (program_id, rules, version, update_time) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (program_id) DO UPDATE SET rules = EXCLUDED.rules, version = EXCLUDED.version, "
    "update_time = EXCLUDED.update_time"};

// --- Holds ---------------------------------------------------------------------------------

inline constexpr pg::Query kSelectHold{"points_select_hold",
                                       "SELECT member_id, points, status, expire_time FROM holds "
                                       "WHERE program_id = $1 AND hold_id = $2"};

inline constexpr pg::Query kSelectHoldForUpdate{
    "points_select_hold_for_update",
    "SELECT member_id, points, status, expire_time FROM holds "
    "WHERE program_id = $1 AND hold_id = $2 FOR UPDATE"};

inline constexpr pg::Query kResolveHold{
    "points_resolve_hold",
    "UPDATE holds SET status = $3, resolve_time = $4 WHERE program_id = $1 AND hold_id = $2"};

inline constexpr pg::Query kSelectMemberExpiredHolds{
    "points_select_member_expired_holds",
    "SELECT hold_id FROM holds WHERE program_id = $1 AND member_id = $2 AND status = 1 "
    "AND expire_time <= $3 ORDER BY expire_time"};

inline constexpr pg::Query kSelectExpiredHolds{
    "points_select_expired_holds",
    "SELECT program_id, member_id, hold_id FROM holds WHERE status = 1 AND expire_time <= $1 "
    "ORDER BY expire_time LIMIT $2"};

// --- Batched holds (CreateHolds, CaptureHolds; storage/hold_batch_store.h) -----------------
// Rows travel as one array per column and come back with their input position (n, from 1).

inline constexpr pg::Query kSelectHoldsBatch{
    "points_select_holds_batch",
    "SELECT k.n, h.member_id, h.points, h.status, h.expire_time "
    "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, id, n) "
    "JOIN holds h ON h.program_id = k.p AND h.hold_id = k.id"};

// Locks in (program, hold) order, after the members' balances (the lock order of every path).
inline constexpr pg::Query kLockHoldsBatch{
    "points_lock_holds_batch",
    "SELECT k.n, h.member_id, h.points, h.status, h.expire_time "
    "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, id, n) "
    "JOIN holds h ON h.program_id = k.p AND h.hold_id = k.id "
    "ORDER BY h.program_id, h.hold_id FOR UPDATE OF h"};

// Members with time-driven work due at $3 (pending points to release, expired holds to void):
// the rare ones a batch maintains one by one before its own writes.
inline constexpr pg::Query kMembersDueMaintenance{
    "points_members_due_maintenance",
    "SELECT k.n FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, m, n) "
    "WHERE EXISTS (SELECT 1 FROM pending_credits WHERE program_id = k.p AND member_id = k.m "
    "AND NOT released AND available_time <= $3) "
    "OR EXISTS (SELECT 1 FROM holds WHERE program_id = k.p AND member_id = k.m AND status = 1 "
    "AND expire_time <= $3)"};

// $1 ledger transaction ids from the table's identity sequence (looked up once per statement).
inline constexpr pg::Query kAllocateTxnIds{
    "points_allocate_txn_ids",
    "SELECT nextval(s.txn) AS txn_id FROM (SELECT pg_get_serial_sequence('ledger_transactions', "
    "'txn_id')::regclass AS txn OFFSET 0) AS s CROSS JOIN generate_series(1, $1)"};

inline constexpr pg::Query kInsertHoldTransactions{
    "points_insert_hold_transactions",
    "INSERT INTO ledger_transactions (program_id, txn_id, kind, reason, hold_id, create_time) "
    "OVERRIDING SYSTEM VALUE SELECT * FROM unnest($1::text[], $2::bigint[], $3::smallint[], "
    "$4::text[], $5::text[], $6::timestamptz[])"};

inline constexpr pg::Query kInsertHolds{
    "points_insert_holds",
    "INSERT INTO holds (program_id, hold_id, member_id, points, status, reason, expire_time, "
    "create_time, resolve_time) SELECT h.p, h.id, h.m, h.points, h.status, h.reason, "
    "h.expire_time, h.create_time, CASE WHEN h.status = 1 THEN NULL ELSE h.create_time END "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], "
    "$6::timestamptz[], $7::timestamptz[], $8::smallint[]) AS h(p, id, m, points, reason, "
    "expire_time, create_time, status)"};

inline constexpr pg::Query kResolveHolds{
    "points_resolve_holds",
    "UPDATE holds h SET status = r.status, resolve_time = r.t "
    "FROM unnest($1::text[], $2::text[], $3::smallint[], $4::timestamptz[]) AS r(p, id, status, t) "
    "WHERE h.program_id = r.p AND h.hold_id = r.id"};

// kSelectLotsToSpend for many members at once: each member's open lots needed to cover its
// amount, in spending order (oldest expiry first, never-expiring last).
inline constexpr pg::Query kSelectLotsToSpendBatch{
    "points_select_lots_to_spend_batch",
    "SELECT k.n, l.lot_id, l.remaining, l.expire_time "
    "FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS k(p, m, amount, n) "
    "CROSS JOIN LATERAL (SELECT lot_id, remaining, expire_time FROM ("
    " SELECT lot_id, remaining, expire_time, sum(remaining) OVER (ORDER BY expire_time ASC "
    " NULLS LAST, lot_id ROWS UNBOUNDED PRECEDING) - remaining AS before FROM lots "
    " WHERE program_id = k.p AND member_id = k.m AND remaining > 0) AS open_lots "
    " WHERE before < k.amount) AS l ORDER BY k.n, l.expire_time ASC NULLS LAST, l.lot_id"};

inline constexpr pg::Query kTakeFromLotsBatch{
    "points_take_from_lots_batch",
    "UPDATE lots SET remaining = remaining - t.take "
    "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS t(p, m, lot_id, take) "
    "WHERE lots.program_id = t.p AND lots.member_id = t.m AND lots.lot_id = t.lot_id"};

// --- Projections ---------------------------------------------------------------------------

inline constexpr pg::Query kSelectMemberProjection{
    "points_select_member_projection",
    "SELECT status, tier, tier_multiplier_percent, refresh_time FROM member_projection "
    "WHERE program_id = $1 AND member_id = $2"};

inline constexpr pg::Query kUpsertMemberProjection{
    "points_upsert_member_projection",
    "INSERT INTO member_projection (program_id, member_id, status, tier, "
    "tier_multiplier_percent, refresh_time) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (program_id, member_id) DO UPDATE SET status = EXCLUDED.status, "
    "tier = EXCLUDED.tier, tier_multiplier_percent = EXCLUDED.tier_multiplier_percent, "
    "refresh_time = EXCLUDED.refresh_time "
    "WHERE member_projection.refresh_time <= EXCLUDED.refresh_time"};

// The member events (rpc/member_events.h). A MemberEnrolled never overwrites a row: whatever
// GetMember projected is at least as new as the enrolment.
inline constexpr pg::Query kInsertProjectedMember{
    "points_insert_projected_member",
    "INSERT INTO member_projection (program_id, member_id, status, tier, "
    "tier_multiplier_percent, refresh_time) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (program_id, member_id) DO NOTHING"};

inline constexpr pg::Query kSetProjectedMemberStatus{
    "points_set_projected_member_status",
    "UPDATE member_projection SET status = $3, refresh_time = $4 "
    "WHERE program_id = $1 AND member_id = $2"};

inline constexpr pg::Query kSetProjectedMemberTier{
    "points_set_projected_member_tier",
    "UPDATE member_projection SET tier = $3, tier_multiplier_percent = $4, refresh_time = $5 "
    "WHERE program_id = $1 AND member_id = $2"};

inline constexpr pg::Query kSelectProgramProjection{
    "points_select_program_projection",
    "SELECT currency_code, refresh_time FROM program_projection WHERE program_id = $1"};

inline constexpr pg::Query kUpsertProgramProjection{
    "points_upsert_program_projection",
    "INSERT INTO program_projection (program_id, currency_code, refresh_time) "
    "VALUES ($1, $2, $3) ON CONFLICT (program_id) DO UPDATE SET "
    "currency_code = EXCLUDED.currency_code, refresh_time = EXCLUDED.refresh_time"};

// Programs points-svc knows (for the background maintenance), bounded.
inline constexpr pg::Query kListPrograms{
    "points_list_programs",
    "SELECT program_id FROM program_projection ORDER BY program_id LIMIT 10000"};

// --- Leaderboard ---------------------------------------------------------------------------

inline constexpr pg::Query kLeaderboardTop{
    "points_leaderboard_top",
    "SELECT member_id, total, rank() OVER (ORDER BY total DESC) AS rank FROM ("
    " SELECT member_id, sum(points)::bigint AS total FROM earn_daily"
    " WHERE program_id = $1 AND day >= $2::date GROUP BY member_id HAVING sum(points) > 0"
    ") AS totals ORDER BY total DESC, member_id LIMIT $3"};

inline constexpr pg::Query kLeaderboardMember{
    "points_leaderboard_member",
    "WITH totals AS (SELECT member_id, sum(points)::bigint AS total FROM earn_daily "
    "WHERE program_id = $1 AND day >= $2::date GROUP BY member_id HAVING sum(points) > 0) "
    "SELECT total, (SELECT count(*) FROM totals o WHERE o.total > t.total) + 1 AS rank "
    "FROM totals t WHERE member_id = $3"};

// plan_cache_mode for the rest of the transaction (SET LOCAL), between statements of a pipeline.
inline constexpr pg::Query kSetPlanCacheMode{"points_set_plan_cache_mode",
                                             "SELECT set_config('plan_cache_mode', $1, true)"};

// --- Batched purchases (group commit; storage/purchase_batch_store.h) -----------------------
// Rows travel as one array per column ($n::type[]) and come back with their input position.

inline constexpr pg::Query kEnsureBalances{
    "points_ensure_balances",
    "INSERT INTO balances (program_id, member_id) "
    "SELECT k.p, k.m FROM unnest($1::text[], $2::text[]) AS k(p, m) ORDER BY k.p, k.m "
    "ON CONFLICT DO NOTHING"};

// Locks in (program, member) order, so batches never deadlock on each other.
inline constexpr pg::Query kLockBalances{
    "points_lock_balances",
    "SELECT b.program_id, b.member_id, b.available, b.pending, b.held, b.debt, "
    "b.lifetime_earned FROM balances b JOIN unnest($1::text[], $2::text[]) AS k(p, m) "
    "ON b.program_id = k.p AND b.member_id = k.m "
    "ORDER BY b.program_id, b.member_id FOR UPDATE OF b"};

inline constexpr pg::Query kApplyBalanceDeltas{
    "points_apply_balance_deltas",
    "UPDATE balances b SET available = b.available + d.available, "
    "pending = b.pending + d.pending, held = b.held + d.held, debt = b.debt + d.debt, "
    "lifetime_earned = b.lifetime_earned + d.earned "
    "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], "
    "$7::bigint[]) AS d(p, m, available, pending, held, debt, earned) "
    "WHERE b.program_id = d.p AND b.member_id = d.m"};

inline constexpr pg::Query kRecordedOrders{
    "points_recorded_orders",
    "SELECT k.n FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, o, n) "
    "WHERE EXISTS (SELECT 1 FROM purchases WHERE program_id = k.p AND order_id = k.o)"};

// Purchase points earned on the day of each row's time and in its month up to that day (caps).
// The join bounds the days on one side only: with both bounds, which come from the join and not
// from constants, the planner costs the day range at its default 0.5%, as selective as the
// member, and walked the whole program's days through the smaller earn_daily_leaderboard_idx
// (seen in bench-points: 2,600 rows read per member). One-sided, the range looks like a third
// of the rows and the primary key's member prefix wins; days after the row's own (a purchase
// recorded late) are rare and only filtered out.
inline constexpr pg::Query kPurchasePointsInWindows{
    "points_purchase_points_in_windows",
    "SELECT k.n, COALESCE(sum(e.purchase_points) FILTER (WHERE e.day = k.day), 0)::bigint "
    "AS today, COALESCE(sum(e.purchase_points) FILTER (WHERE e.day <= k.day), 0)::bigint "
    "AS month FROM unnest($1::text[], $2::text[], $3::date[], $4::date[]) "
    "WITH ORDINALITY AS k(p, m, day, month_start, n) "
    "LEFT JOIN earn_daily e ON e.program_id = k.p AND e.member_id = k.m "
    "AND e.day >= k.month_start GROUP BY k.n"};

inline constexpr pg::Query kInsertTransactions{
    "points_insert_transactions",
    "INSERT INTO ledger_transactions (program_id, txn_id, kind, order_id, create_time) "
    "OVERRIDING SYSTEM VALUE SELECT * FROM unnest($1::text[], $2::bigint[], $3::smallint[], "
    "$4::text[], $5::timestamptz[])"};

inline constexpr pg::Query kInsertEntriesBatch{
    "points_insert_entries_batch",
    "INSERT INTO ledger_entries (program_id, txn_id, owner, account, amount) "
    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[])"};

inline constexpr pg::Query kInsertLots{
    "points_insert_lots",
    "INSERT INTO lots (program_id, member_id, lot_id, txn_id, amount, remaining, expire_time, "
    "order_id) OVERRIDING SYSTEM VALUE SELECT l.p, l.m, l.id, l.txn, l.amount, l.amount, "
    "l.expire_time, l.o FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], "
    "$5::bigint[], $6::timestamptz[], $7::text[]) AS l(p, m, id, txn, amount, expire_time, o)"};

inline constexpr pg::Query kInsertPendings{
    "points_insert_pendings",
    "INSERT INTO pending_credits (program_id, member_id, pending_id, order_id, amount, "
    "available_time, expire_time) OVERRIDING SYSTEM VALUE SELECT * FROM unnest($1::text[], "
    "$2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::timestamptz[], $7::timestamptz[])"};

// Ids for $1 purchases from the identity sequences of the tables they go to (each sequence is
// looked up once per statement, not per row).
inline constexpr pg::Query kAllocatePurchaseIds{
    "points_allocate_purchase_ids",
    "SELECT nextval(s.txn) AS txn_id, nextval(s.lot) AS lot_id, nextval(s.pending) AS pending_id "
    "FROM (SELECT pg_get_serial_sequence('ledger_transactions', 'txn_id')::regclass AS txn, "
    "pg_get_serial_sequence('lots', 'lot_id')::regclass AS lot, "
    "pg_get_serial_sequence('pending_credits', 'pending_id')::regclass AS pending "
    "OFFSET 0) AS s CROSS JOIN generate_series(1, $1)"};

inline constexpr pg::Query kInsertPurchases{
    "points_insert_purchases",
    "INSERT INTO purchases (program_id, order_id, member_id, currency_code, total_minor, "
    "points_earned, pending_id, lot_id, occur_time, create_time) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], "
    "$6::bigint[], $7::bigint[], $8::bigint[], $9::timestamptz[], $10::timestamptz[])"};

inline constexpr pg::Query kInsertPurchaseLinesBatch{
    "points_insert_purchase_lines_batch",
    "INSERT INTO purchase_lines (program_id, order_id, line_no, sku, category, quantity, "
    "unit_price_minor) SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], "
    "$5::text[], $6::bigint[], $7::bigint[])"};

inline constexpr pg::Query kAddEarnDailyBatch{
    "points_add_earn_daily_batch",
    "INSERT INTO earn_daily (program_id, member_id, day, purchase_points, points) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::bigint[], $5::bigint[]) "
    "ON CONFLICT (program_id, member_id, day) DO UPDATE SET "
    "purchase_points = earn_daily.purchase_points + EXCLUDED.purchase_points, "
    "points = earn_daily.points + EXCLUDED.points"};

// The next expiries and upcoming pending credits of each member, at most $3 dates each, read
// member by member through the lots and pending indexes.
//
// The lots read leaves lots that never expire to the outer filter: they sort last (NULLS LAST),
// so they fill the LIMIT only when fewer dates exist. Asking for `expire_time IS NOT NULL` inside
// would let the planner use lots_due_idx, the program-wide (program_id, expire_time) index that
// yields expiry order for free: a plan made while the table was small (a new program, a fresh
// replica) then walks every lot of the program for each member, and a generic plan keeps doing so
// as the table grows. Without it only member-scoped indexes qualify, and one generic plan is safe
// at any size (kSelectBalanceViews reads the same way).
inline constexpr pg::Query kNextExpiriesBatch{
    "points_next_expiries_batch",
    "SELECT k.n, d.expire_time, d.points FROM unnest($1::text[], $2::text[]) "
    "WITH ORDINALITY AS k(p, m, n) CROSS JOIN LATERAL (SELECT expire_time, "
    "sum(remaining)::bigint AS points FROM lots WHERE program_id = k.p AND member_id = k.m "
    "AND remaining > 0 GROUP BY expire_time ORDER BY expire_time LIMIT $3) AS d "
    "WHERE d.expire_time IS NOT NULL ORDER BY k.n, d.expire_time"};

inline constexpr pg::Query kUpcomingPendingBatch{
    "points_upcoming_pending_batch",
    "SELECT k.n, d.available_time, d.points FROM unnest($1::text[], $2::text[]) "
    "WITH ORDINALITY AS k(p, m, n) CROSS JOIN LATERAL (SELECT available_time, "
    "sum(amount)::bigint AS points FROM pending_credits WHERE program_id = k.p "
    "AND member_id = k.m AND NOT released AND amount > 0 GROUP BY available_time "
    "ORDER BY available_time LIMIT $3) AS d ORDER BY k.n, d.available_time"};

}  // namespace loyalty::points::queries
