#pragma once

// Every SQL statement of rewards-svc, named and parameterized, in one place to review.
// Tables are unqualified: connections run with search_path set to the service's schema.

#include "common/pg/query.h"

namespace loyalty::rewards::queries {

// --- Catalog -------------------------------------------------------------------------------

#define LOYALTY_REWARD_COLUMNS                                                           \
  "reward_id, version, kind, title, description, points_cost, stock, limit_per_member, " \
  "limit_period, min_tier, start_time, end_time, voucher_validity_days, amount_minor, "  \
  "currency_code, percent, cap_minor, sku, experience_type, charity_name, create_time, " \
  "update_time"

inline constexpr pg::Query kInsertReward{
    "rewards_insert_reward",
    "INSERT INTO rewards (program_id, " LOYALTY_REWARD_COLUMNS
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
    "$19, $20, $21, $22, $23)"};

// Writes every column but the key and the creation time, if the version is still $3 - 1.
inline constexpr pg::Query kUpdateReward{
    "rewards_update_reward",
    "UPDATE rewards SET version = $3, kind = $4, title = $5, description = $6, points_cost = $7, "
    "stock = $8, limit_per_member = $9, limit_period = $10, min_tier = $11, start_time = $12, "
    "end_time = $13, voucher_validity_days = $14, amount_minor = $15, currency_code = $16, "
    "percent = $17, cap_minor = $18, sku = $19, experience_type = $20, charity_name = $21, "
    "update_time = $22 WHERE program_id = $1 AND reward_id = $2 AND version = $3 - 1"};

inline constexpr pg::Query kSelectReward{"rewards_select_reward",
                                         "SELECT " LOYALTY_REWARD_COLUMNS
                                         " FROM rewards WHERE program_id = $1 AND reward_id = $2"};

inline constexpr pg::Query kSelectRewardForUpdate{
    "rewards_select_reward_for_update",
    "SELECT " LOYALTY_REWARD_COLUMNS
    " FROM rewards WHERE program_id = $1 AND reward_id = $2 FOR UPDATE"};

// Cheapest first, keyset on (points_cost, reward_id). $2 kind (0: any), $3 max cost (0: any),
// $4 active only at $5, after ($6, $7), $8 rows.
inline constexpr pg::Query kListRewards{
    "rewards_list_rewards",
    "SELECT " LOYALTY_REWARD_COLUMNS
    " FROM rewards WHERE program_id = $1 AND ($2 = 0 OR kind = $2) AND ($3 = 0 OR points_cost <= "
    "$3) AND (NOT $4 OR ((start_time IS NULL OR start_time <= $5) AND (end_time IS NULL OR "
    "end_time > $5))) AND (points_cost, reward_id) > ($6, $7) ORDER BY points_cost, reward_id "
    "LIMIT $8"};

// The batched saga (rpc/redemption_batch.cc): rows travel as one array per column and come
// back with their input position n (from 1).
inline constexpr pg::Query kSelectRewardsBatch{
    "rewards_select_rewards_batch",
    "SELECT k.n, " LOYALTY_REWARD_COLUMNS
    " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, id, n) "
    "JOIN rewards ON rewards.program_id = k.p AND rewards.reward_id = k.id"};

#undef LOYALTY_REWARD_COLUMNS

// The saga's reservation: only a reward with stock left loses one unit. Unlimited rewards
// (stock NULL) are never locked, so their redemptions do not queue on one row.
inline constexpr pg::Query kReserveStock{
    "rewards_reserve_stock",
    "UPDATE rewards SET stock = stock - 1 WHERE program_id = $1 AND reward_id = $2 AND stock > 0"};

inline constexpr pg::Query kReleaseStock{
    "rewards_release_stock",
    "UPDATE rewards SET stock = stock + 1 WHERE program_id = $1 AND reward_id = $2 "
    "AND stock IS NOT NULL"};
// The batch's reservation: the limited rewards among its rewards, locked in key order (so
// batches cannot deadlock on them) with the stock they have left; unlimited ones stay unlocked.
inline constexpr pg::Query kLockStockBatch{
    "rewards_lock_stock_batch",
    "SELECT k.n, r.stock FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, id, n) "
    "JOIN rewards r ON r.program_id = k.p AND r.reward_id = k.id WHERE r.stock IS NOT NULL "
    "ORDER BY r.program_id, r.reward_id FOR UPDATE OF r"};
inline constexpr pg::Query kTakeStockBatch{
    "rewards_take_stock_batch",
    "UPDATE rewards r SET stock = r.stock - t.take "
    "FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(p, id, take) "
    "WHERE r.program_id = t.p AND r.reward_id = t.id"};

// --- Redemptions ---------------------------------------------------------------------------

// Serializes one member's redemptions of one limited reward, so the limit cannot be raced.
inline constexpr pg::Query kLockMemberReward{
    "rewards_lock_member_reward",
    "SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2::text || '/' || $3::text, "
    "0))"};

inline constexpr pg::Query kCountRedemptionsSince{
    "rewards_count_redemptions_since",
    "SELECT count(*) FROM redemptions WHERE program_id = $1 AND member_id = $2 AND reward_id = $3 "
    "AND status IN (1, 2) AND create_time >= $4"};

inline constexpr pg::Query kInsertRedemption{
    "rewards_insert_redemption",
    "INSERT INTO redemptions (program_id, redemption_id, member_id, reward_id, kind, points, "
    "status, stock_reserved, create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, "
    "$8)"};

#define LOYALTY_REDEMPTION_COLUMNS                                                          \
  "program_id, redemption_id, member_id, reward_id, kind, points, status, failure_reason, " \
  "stock_reserved, points_state, fulfilment, create_time, update_time"

inline constexpr pg::Query kSelectRedemption{
    "rewards_select_redemption", "SELECT " LOYALTY_REDEMPTION_COLUMNS
                                 " FROM redemptions WHERE program_id = $1 AND redemption_id = $2"};

inline constexpr pg::Query kSelectRedemptionForUpdate{
    "rewards_select_redemption_for_update",
    "SELECT " LOYALTY_REDEMPTION_COLUMNS
    " FROM redemptions WHERE program_id = $1 AND redemption_id = $2 FOR UPDATE"};

// Newest first, keyset on (create_time, redemption_id).
inline constexpr pg::Query kListRedemptions{
    "rewards_list_redemptions",
    "SELECT " LOYALTY_REDEMPTION_COLUMNS
    " FROM redemptions WHERE program_id = $1 AND member_id = $2 AND (create_time, redemption_id) "
    "< ($3, $4) ORDER BY create_time DESC, redemption_id DESC LIMIT $5"};

// Redemptions a crash (or an unreachable points-svc) left PENDING for longer than the grace.
inline constexpr pg::Query kSelectStalePending{
    "rewards_select_stale_pending",
    "SELECT " LOYALTY_REDEMPTION_COLUMNS
    " FROM redemptions WHERE status = 1 AND update_time < $1 ORDER BY update_time LIMIT $2"};

// Decided redemptions whose points on points-svc do not match their status yet.
inline constexpr pg::Query kSelectUnsettled{
    "rewards_select_unsettled",
    "SELECT " LOYALTY_REDEMPTION_COLUMNS
    " FROM redemptions WHERE ((status IN (2, 3, 4) AND points_state = 1) OR (status = 4 AND "
    "points_state = 2)) AND update_time < $1 ORDER BY update_time LIMIT $2"};

#undef LOYALTY_REDEMPTION_COLUMNS

// The saga's single decision point: PENDING becomes COMPLETED or FAILED exactly once.
inline constexpr pg::Query kCompleteRedemption{
    "rewards_complete_redemption",
    "UPDATE redemptions SET status = 2, points_state = $3, fulfilment = $4, update_time = $5 "
    "WHERE program_id = $1 AND redemption_id = $2 AND status = 1"};

inline constexpr pg::Query kFailRedemption{
    "rewards_fail_redemption",
    "UPDATE redemptions SET status = 3, failure_reason = $3, points_state = $4, update_time = $5 "
    "WHERE program_id = $1 AND redemption_id = $2 AND status = 1 RETURNING stock_reserved"};

inline constexpr pg::Query kInsertRedemptionsBatch{
    "rewards_insert_redemptions_batch",
    "INSERT INTO redemptions (program_id, redemption_id, member_id, reward_id, kind, points, "
    "status, stock_reserved, create_time, update_time) SELECT r.p, r.id, r.m, r.reward, r.kind, "
    "r.points, 1, r.reserved, r.t, r.t FROM unnest($1::text[], $2::text[], $3::text[], "
    "$4::text[], $5::smallint[], $6::bigint[], $7::boolean[], $8::timestamptz[]) "
    "AS r(p, id, m, reward, kind, points, reserved, t)"};
// kCompleteRedemption for a batch; returns the positions of the redemptions it decided.
inline constexpr pg::Query kCompleteRedemptionsBatch{
    "rewards_complete_redemptions_batch",
    "UPDATE redemptions r SET status = 2, points_state = c.points_state, "
    "fulfilment = c.fulfilment, update_time = $5 FROM unnest($1::text[], $2::text[], "
    "$3::smallint[], $4::smallint[]) WITH ORDINALITY AS c(p, id, points_state, fulfilment, n) "
    "WHERE r.program_id = c.p AND r.redemption_id = c.id AND r.status = 1 RETURNING c.n"};
inline constexpr pg::Query kCancelRedemption{
    "rewards_cancel_redemption",
    "UPDATE redemptions SET status = 4, update_time = $3 WHERE program_id = $1 "
    "AND redemption_id = $2 AND status = 2"};

inline constexpr pg::Query kSetPointsState{
    "rewards_set_points_state",
    "UPDATE redemptions SET points_state = $4 WHERE program_id = $1 AND redemption_id = $2 "
    "AND points_state = $3"};

inline constexpr pg::Query kSetFulfilment{
    "rewards_set_fulfilment",
    "UPDATE redemptions SET fulfilment = $3, update_time = $4 WHERE program_id = $1 "
    "AND redemption_id = $2"};

// --- Vouchers ------------------------------------------------------------------------------

#define LOYALTY_VOUCHER_COLUMNS                                                                 \
  "voucher_id, code_sealed, member_id, reward_id, kind, amount_minor, currency_code, percent, " \
  "cap_minor, sku, value_minor, balance_minor, status, expire_time"

// A code collision (60 random bits: practically never) inserts nothing; the caller draws again.
inline constexpr pg::Query kInsertVoucher{
    "rewards_insert_voucher",
    "INSERT INTO vouchers (program_id, voucher_id, code_hash, code_sealed, member_id, reward_id, "
    "kind, amount_minor, currency_code, percent, cap_minor, sku, value_minor, balance_minor, "
    "status, expire_time, create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10, $11, $12, $13, $13, 1, $14, $15, $15) ON CONFLICT (program_id, code_hash) DO NOTHING"};

// kInsertVoucher for a batch; a code collision fails the batch (which then issues one by one,
// drawing again).
inline constexpr pg::Query kInsertVouchersBatch{
    "rewards_insert_vouchers_batch",
    "INSERT INTO vouchers (program_id, voucher_id, code_hash, code_sealed, member_id, reward_id, "
    "kind, amount_minor, currency_code, percent, cap_minor, sku, value_minor, balance_minor, "
    "status, expire_time, create_time, update_time) SELECT v.p, v.id, v.hash, v.sealed, v.m, "
    "v.reward, v.kind, v.amount, v.currency, v.percent, v.cap, v.sku, v.value, v.value, 1, "
    "v.expire_time, $15, $15 FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], "
    "$5::text[], $6::text[], $7::smallint[], $8::bigint[], $9::text[], $10::integer[], "
    "$11::bigint[], $12::text[], $13::bigint[], $14::timestamptz[]) AS v(p, id, hash, sealed, m, "
    "reward, kind, amount, currency, percent, cap, sku, value, expire_time)"};
inline constexpr pg::Query kSelectVoucher{
    "rewards_select_voucher",
    "SELECT " LOYALTY_VOUCHER_COLUMNS " FROM vouchers WHERE program_id = $1 AND voucher_id = $2"};

inline constexpr pg::Query kSelectVoucherByHash{
    "rewards_select_voucher_by_hash",
    "SELECT " LOYALTY_VOUCHER_COLUMNS " FROM vouchers WHERE program_id = $1 AND code_hash = $2"};

inline constexpr pg::Query kSelectVoucherByHashForUpdate{
    "rewards_select_voucher_by_hash_for_update",
    "SELECT " LOYALTY_VOUCHER_COLUMNS
    " FROM vouchers WHERE program_id = $1 AND code_hash = $2 FOR UPDATE"};

inline constexpr pg::Query kSelectVoucherForUpdate{
    "rewards_select_voucher_for_update",
    "SELECT " LOYALTY_VOUCHER_COLUMNS
    " FROM vouchers WHERE program_id = $1 AND voucher_id = $2 FOR UPDATE"};

// A member's punch card vouchers: ids start with the definition id and a '.'.
inline constexpr pg::Query kSelectCardVouchers{
    "rewards_select_card_vouchers",
    "SELECT " LOYALTY_VOUCHER_COLUMNS
    " FROM vouchers WHERE program_id = $1 AND member_id = $2 AND starts_with(voucher_id, $3) "
    "ORDER BY create_time DESC LIMIT $4"};

#undef LOYALTY_VOUCHER_COLUMNS

inline constexpr pg::Query kUpdateVoucherUse{
    "rewards_update_voucher_use",
    "UPDATE vouchers SET balance_minor = $3, status = $4, update_time = $5 "
    "WHERE program_id = $1 AND voucher_id = $2"};

inline constexpr pg::Query kInsertVoucherUse{
    "rewards_insert_voucher_use",
    "INSERT INTO voucher_uses (program_id, voucher_id, order_id, discount_minor, create_time) "
    "VALUES ($1, $2, $3, $4, $5)"};

// --- Punch cards ---------------------------------------------------------------------------

inline constexpr pg::Query kInsertCardDefinition{
    "rewards_insert_card_definition",
    "INSERT INTO punch_card_definitions (program_id, definition_id, title, sku, category, "
    "stamps_needed, reward_id, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"};

inline constexpr pg::Query kListCardDefinitions{
    "rewards_list_card_definitions",
    "SELECT definition_id, title, sku, category, stamps_needed, reward_id "
    "FROM punch_card_definitions WHERE program_id = $1 ORDER BY create_time, definition_id "
    "LIMIT $2"};

inline constexpr pg::Query kEnsureCard{
    "rewards_ensure_card",
    "INSERT INTO punch_cards (program_id, member_id, definition_id, stamps, completed_cards) "
    "VALUES ($1, $2, $3, 0, 0) ON CONFLICT DO NOTHING"};

inline constexpr pg::Query kLockCard{
    "rewards_lock_card",
    "SELECT stamps, completed_cards FROM punch_cards WHERE program_id = $1 AND member_id = $2 "
    "AND definition_id = $3 FOR UPDATE"};

inline constexpr pg::Query kSelectCards{
    "rewards_select_cards",
    "SELECT definition_id, stamps, completed_cards FROM punch_cards WHERE program_id = $1 "
    "AND member_id = $2"};

inline constexpr pg::Query kUpdateCard{
    "rewards_update_card",
    "UPDATE punch_cards SET stamps = $4, completed_cards = $5 WHERE program_id = $1 "
    "AND member_id = $2 AND definition_id = $3"};

// Returns a row only when the order was not seen before (stamped or revoked).
inline constexpr pg::Query kInsertStampedOrder{
    "rewards_insert_stamped_order",
    "INSERT INTO stamped_orders (program_id, member_id, order_id, revoked, create_time) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING order_id"};

// Marks a stamped order revoked; returns a row only when it was not revoked before.
inline constexpr pg::Query kRevokeStampedOrder{
    "rewards_revoke_stamped_order",
    "UPDATE stamped_orders SET revoked = true WHERE program_id = $1 AND member_id = $2 "
    "AND order_id = $3 AND NOT revoked RETURNING order_id"};

inline constexpr pg::Query kInsertStamp{
    "rewards_insert_stamp",
    "INSERT INTO stamps (program_id, member_id, order_id, definition_id, card_number) "
    "VALUES ($1, $2, $3, $4, $5)"};

inline constexpr pg::Query kSelectOrderStamps{
    "rewards_select_order_stamps",
    "SELECT definition_id, card_number FROM stamps WHERE program_id = $1 AND member_id = $2 "
    "AND order_id = $3 ORDER BY definition_id"};

// --- member_tiers: the copy of members-svc's tiers (rpc/member_tiers.h) ---

inline constexpr pg::Query kSetMemberTier{
    "rewards_set_member_tier",
    "INSERT INTO member_tiers (program_id, member_id, tier, update_time) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (program_id, member_id) DO UPDATE SET tier = EXCLUDED.tier, "
    "update_time = EXCLUDED.update_time"};

inline constexpr pg::Query kDeleteMemberTier{
    "rewards_delete_member_tier",
    "DELETE FROM member_tiers WHERE program_id = $1 AND member_id = $2"};

inline constexpr pg::Query kSelectMemberTier{
    "rewards_select_member_tier",
    "SELECT tier FROM member_tiers WHERE program_id = $1 AND member_id = $2"};

}  // namespace loyalty::rewards::queries
