#pragma once

// Every SQL statement of members-svc, named and parameterized, in one place to review.
// Tables are unqualified: connections run with search_path set to the service's schema.

#include "common/pg/query.h"

namespace loyalty::members::queries {

inline constexpr pg::Query kInsertProgram{
    "members_insert_program",
    "INSERT INTO programs (program_id, display_name, currency_code, "
    "point_value_minor_per_thousand, tier_window_months, downgrade_grace_days, create_time, "
    "referral_rewards_max) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"};

inline constexpr pg::Query kInsertTier{
    "members_insert_tier",
    "INSERT INTO tiers (program_id, position, code, display_name, threshold_points, "
    "earn_multiplier_percent) VALUES ($1, $2, $3, $4, $5, $6)"};

inline constexpr pg::Query kInsertTierBenefit{
    "members_insert_tier_benefit",
    "INSERT INTO tier_benefits (program_id, tier_position, position, code, description) "
    "VALUES ($1, $2, $3, $4, $5)"};

inline constexpr pg::Query kSelectProgram{
    "members_select_program",
    "SELECT program_id, display_name, currency_code, point_value_minor_per_thousand, "
    "tier_window_months, downgrade_grace_days, create_time, referral_rewards_max FROM programs "
    "WHERE program_id = $1"};

inline constexpr pg::Query kSelectTiers{
    "members_select_tiers",
    "SELECT position, code, display_name, threshold_points, earn_multiplier_percent "
    "FROM tiers WHERE program_id = $1 ORDER BY position"};

inline constexpr pg::Query kSelectTierBenefits{
    "members_select_tier_benefits",
    "SELECT tier_position, code, description FROM tier_benefits WHERE program_id = $1 "
    "ORDER BY tier_position, position"};

#define LOYALTY_MEMBER_COLUMNS                                                        \
  "program_id, member_id, seq, status, email, phone, display_name, birthday_year, "   \
  "birthday_month, birthday_day, marketing_consent, card_number, referral_code, "     \
  "referred_by_code, suspend_reason, tier_position, tier_period_start, enroll_time, " \
  "update_time, erase_time "

inline constexpr pg::Query kInsertMember{
    "members_insert_member",
    "INSERT INTO members (program_id, member_id, status, email, phone, display_name, "
    "birthday_year, birthday_month, birthday_day, marketing_consent, card_number, referral_code, "
    "referred_by_code, tier_position, tier_period_start, enroll_time, update_time) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"};

inline constexpr pg::Query kSelectMember{"members_select_member",
                                         "SELECT " LOYALTY_MEMBER_COLUMNS
                                         "FROM members WHERE program_id = $1 AND member_id = $2"};

inline constexpr pg::Query kSelectMemberForUpdate{
    "members_select_member_for_update",
    "SELECT " LOYALTY_MEMBER_COLUMNS
    "FROM members WHERE program_id = $1 AND member_id = $2 FOR UPDATE"};

inline constexpr pg::Query kSelectMemberByIdentifier{
    "members_select_member_by_identifier",
    "SELECT member_id FROM members WHERE program_id = $1 AND "
    "((email IS NOT NULL AND email = $2) OR (phone IS NOT NULL AND phone = $3)) "
    "AND member_id <> $4 ORDER BY seq LIMIT 1"};

// Locks the members of the pairs ($1[i], $2[i]) in (program_id, member_id) order, so two
// transactions locking overlapping sets (two replicas applying the same points events) wait for
// each other instead of deadlocking. Unknown pairs are left out.
inline constexpr pg::Query kSelectMembersForUpdate{
    "members_select_members_for_update",
    "SELECT " LOYALTY_MEMBER_COLUMNS
    "FROM members WHERE (program_id, member_id) IN "
    "(SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY program_id, member_id FOR UPDATE"};

// Writes every mutable column; the caller has the row locked (kSelectMemberForUpdate).
inline constexpr pg::Query kUpdateMember{
    "members_update_member",
    "UPDATE members SET status = $3, email = $4, phone = $5, display_name = $6, "
    "birthday_year = $7, birthday_month = $8, birthday_day = $9, marketing_consent = $10, "
    "suspend_reason = $11, tier_position = $12, tier_period_start = $13, update_time = $14, "
    "erase_time = $15 WHERE program_id = $1 AND member_id = $2"};

// Keyset page: members after `seq` $2, optionally filtered by status $3 and tier $4 (NULL = any).
inline constexpr pg::Query kListMembers{
    "members_list_members",
    "SELECT " LOYALTY_MEMBER_COLUMNS
    "FROM members WHERE program_id = $1 AND seq > $2 "
    "AND ($3::smallint IS NULL OR status = $3) AND ($4::integer IS NULL OR tier_position = $4) "
    "ORDER BY seq LIMIT $5"};

#undef LOYALTY_MEMBER_COLUMNS

inline constexpr pg::Query kSelectMemberByReferralCode{
    "members_select_member_by_referral_code",
    "SELECT member_id FROM members WHERE program_id = $1 AND referral_code = $2 AND status <> 3"};

inline constexpr pg::Query kCardNumberTaken{
    "members_card_number_taken",
    "SELECT EXISTS (SELECT 1 FROM members WHERE program_id = $1 AND card_number = $2)"};

inline constexpr pg::Query kReferralCodeTaken{
    "members_referral_code_taken",
    "SELECT EXISTS (SELECT 1 FROM members WHERE program_id = $1 AND referral_code = $2)"};

// Members whose qualification period plus grace has ended, so a renewal or downgrade is due.
// The lowest tier never downgrades, so its members are left to lazy evaluation.
inline constexpr pg::Query kSelectMembersDueForTierReview{
    "members_select_due_for_tier_review",
    "SELECT m.program_id, m.member_id FROM members m JOIN programs p USING (program_id) "
    "WHERE m.status <> 3 AND m.tier_position > 0 "
    // Implied by the window test below (windows are >= 1 month); lets the partial index
    // members_tier_review_idx bound its range scan.
    "AND m.tier_period_start <= $1::timestamptz - interval '1 month' AND m.tier_period_start + "
    "make_interval(months => p.tier_window_months, days => p.downgrade_grace_days) <= $1 "
    "ORDER BY m.tier_period_start LIMIT $2"};

inline constexpr pg::Query kInsertQualifyingActivity{
    "members_insert_qualifying_activity",
    "INSERT INTO qualifying_activity (program_id, member_id, event_id, points, occur_time, "
    "record_time) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"};

// kInsertQualifyingActivity for many rows; returns the event ids of the rows inserted.
inline constexpr pg::Query kInsertQualifyingActivities{
    "members_insert_qualifying_activities",
    "INSERT INTO qualifying_activity (program_id, member_id, event_id, points, occur_time, "
    "record_time) SELECT a.program_id, a.member_id, a.event_id, a.points, a.occur_time, $6 "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[]) "
    "AS a(program_id, member_id, event_id, points, occur_time) "
    "ON CONFLICT DO NOTHING RETURNING event_id"};

// kSumQualifyingPoints for the members ($1[i], $2[i]) with windows ($3[i], $4], in that order.
inline constexpr pg::Query kSumQualifyingPointsOfMembers{
    "members_sum_qualifying_points_of_members",
    "SELECT COALESCE((SELECT sum(q.points) FROM qualifying_activity q "
    "WHERE q.program_id = m.program_id AND q.member_id = m.member_id "
    "AND q.occur_time > m.window_start AND q.occur_time <= $4), 0)::bigint "
    "FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY "
    "AS m(program_id, member_id, window_start, position) ORDER BY m.position"};

// Points in the window (start, end]: an activity at exactly the window end counts.
inline constexpr pg::Query kSumQualifyingPoints{
    "members_sum_qualifying_points",
    "SELECT COALESCE(sum(points), 0)::bigint FROM qualifying_activity "
    "WHERE program_id = $1 AND member_id = $2 AND occur_time > $3 AND occur_time <= $4"};

inline constexpr pg::Query kInsertTierHistory{
    "members_insert_tier_history",
    "INSERT INTO tier_history (program_id, member_id, from_tier, to_tier, kind, change_time) "
    "VALUES ($1, $2, $3, $4, $5, $6)"};

inline constexpr pg::Query kListTierHistory{
    "members_list_tier_history",
    "SELECT from_tier, to_tier, kind, change_time FROM tier_history "
    "WHERE program_id = $1 AND member_id = $2 ORDER BY seq DESC LIMIT $3"};

// --- The birthday job --------------------------------------------------------------------

// Active members born on month $1 and one of days $2, after the key ($3, $4), whose year $5 is
// not settled yet; a page of $6.
inline constexpr pg::Query kSelectBirthdaysDue{
    "members_select_birthdays_due",
    "SELECT m.program_id, m.member_id FROM members m WHERE m.status = 1 "
    "AND m.birthday_month = $1 AND m.birthday_day = ANY($2::integer[]) "
    "AND (m.program_id, m.member_id) > ($3, $4) AND NOT EXISTS (SELECT 1 FROM birthday_awards a "
    "WHERE a.program_id = m.program_id AND a.member_id = m.member_id AND a.year = $5) "
    "ORDER BY m.program_id, m.member_id LIMIT $6"};

inline constexpr pg::Query kSettleBirthday{
    "members_settle_birthday",
    "INSERT INTO birthday_awards (program_id, member_id, year, outcome, settle_time) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"};

// --- Referrals ---------------------------------------------------------------------------

inline constexpr pg::Query kInsertReferral{
    "members_insert_referral",
    "INSERT INTO referrals (program_id, referral_id, referrer_id, referee_id, status, "
    "create_time) VALUES ($1, $2, $3, $4, $5, $6)"};

// A referrer's referrals, newest first, before the keyset position ($3, $4) when given.
inline constexpr pg::Query kListReferrals{
    "members_list_referrals",
    "SELECT program_id, referral_id, referrer_id, referee_id, status, refusal_reason, "
    "create_time, resolve_time FROM referrals WHERE program_id = $1 AND referrer_id = $2 "
    "AND ($3::timestamptz IS NULL OR (create_time, referral_id) < ($3, $4)) "
    "ORDER BY create_time DESC, referral_id DESC LIMIT $5"};

inline constexpr pg::Query kLockPendingReferral{
    "members_lock_pending_referral",
    "SELECT referral_id, referrer_id FROM referrals WHERE program_id = $1 AND referee_id = $2 "
    "AND status = 1 FOR UPDATE"};

// Which of the members ($1[i], $2[i]) have a pending referral as referee (not locked: settling
// one locks it with kLockPendingReferral and looks again).
inline constexpr pg::Query kSelectPendingReferees{
    "members_select_pending_referees",
    "SELECT program_id, referee_id FROM referrals WHERE status = 1 AND (program_id, referee_id) "
    "IN (SELECT * FROM unnest($1::text[], $2::text[]))"};

// Locks the referrer's member row, then counts their rewarded referrals.
inline constexpr pg::Query kCountRewardedReferrals{
    "members_count_rewarded_referrals",
    "WITH referrer AS (SELECT 1 FROM members WHERE program_id = $1 AND member_id = $2 "
    "FOR UPDATE) SELECT count(*) FROM referrals WHERE program_id = $1 AND referrer_id = $2 "
    "AND status = 2 AND EXISTS (SELECT 1 FROM referrer)"};

inline constexpr pg::Query kResolveReferral{
    "members_resolve_referral",
    "UPDATE referrals SET status = $3, refusal_reason = $4, resolve_time = $5 "
    "WHERE program_id = $1 AND referral_id = $2"};

// --- Webhooks (migrations/0010_webhooks.sql) ------------------------------------------------

inline constexpr pg::Query kInsertWebhook{
    "members_insert_webhook",
    "INSERT INTO webhook_endpoints (program_id, webhook_id, url, event_types, description, "
    "state, secret, create_time) VALUES ($1, $2, $3, $4::text[], $5, $6, $7, $8)"};

inline constexpr pg::Query kGetWebhook{
    "members_get_webhook",
    "SELECT program_id, webhook_id, url, array_to_string(event_types, ' ') AS event_types, "
    "description, state, create_time "
    "FROM webhook_endpoints WHERE program_id = $1 AND webhook_id = $2"};

// Oldest first, after the keyset position ($2, $3) when given.
inline constexpr pg::Query kListWebhooks{
    "members_list_webhooks",
    "SELECT program_id, webhook_id, url, array_to_string(event_types, ' ') AS event_types, "
    "description, state, create_time "
    "FROM webhook_endpoints WHERE program_id = $1 "
    "AND ($2::timestamptz IS NULL OR (create_time, webhook_id) > ($2, $3)) "
    "ORDER BY create_time, webhook_id LIMIT $4"};

inline constexpr pg::Query kLockWebhook{
    "members_lock_webhook",
    "SELECT program_id, webhook_id, url, array_to_string(event_types, ' ') AS event_types, "
    "description, state, create_time "
    "FROM webhook_endpoints WHERE program_id = $1 AND webhook_id = $2 FOR UPDATE"};

inline constexpr pg::Query kUpdateWebhook{
    "members_update_webhook",
    "UPDATE webhook_endpoints SET url = $3, event_types = $4::text[], description = $5, "
    "state = $6 WHERE program_id = $1 AND webhook_id = $2"};

inline constexpr pg::Query kDeleteWebhook{
    "members_delete_webhook",
    "DELETE FROM webhook_endpoints WHERE program_id = $1 AND webhook_id = $2"};

// The pending deliveries of an endpoint that is gone or disabled; an attempt in flight records
// nothing afterwards (kRecordAttempt wants state PENDING).
inline constexpr pg::Query kCancelDeliveries{
    "members_cancel_webhook_deliveries",
    "UPDATE webhook_deliveries SET state = 4, leased_until = NULL, finish_time = $3 "
    "WHERE program_id = $1 AND webhook_id = $2 AND state = 1"};

// The fan-out of one consumed event: a delivery for every active endpoint of its program that
// wants its type ($3), due at once. A redelivered event adds nothing.
// The (program, event type) pairs some active endpoint of the programs in $1 wants.
inline constexpr pg::Query kWantedEventTypes{
    "members_wanted_webhook_event_types",
    "SELECT DISTINCT program_id, unnest(event_types) AS event_type FROM webhook_endpoints "
    "WHERE program_id = ANY($1::text[]) AND state = 1"};

// One delivery per event (arrays $1-$4: program, event id, type, body) and active endpoint of
// its program that wants its type, in event order, due at $5.
inline constexpr pg::Query kQueueDeliveries{
    "members_queue_webhook_deliveries",
    "INSERT INTO webhook_deliveries (program_id, webhook_id, event_id, event_type, body, state, "
    "next_attempt_time, create_time) SELECT w.program_id, w.webhook_id, e.id, e.type, e.body, 1, "
    "$5, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY "
    "AS e(program, id, type, body, n) JOIN webhook_endpoints w ON w.program_id = e.program "
    "AND w.state = 1 AND e.type = ANY(w.event_types) ORDER BY e.n "
    "ON CONFLICT (program_id, webhook_id, event_id) DO NOTHING"};

// Claims up to $5 due deliveries ($1: now) under a lease until $6, counting the attempt. At most
// the room left ($3, by endpoint key "program/webhook" in $2; $4 for endpoints not listed) per
// endpoint, so one endpoint's backlog never fills a claim. Rows another dispatcher has locked
// are skipped; the lease and state are checked again on the locked row.
inline constexpr pg::Query kClaimDeliveries{
    "members_claim_webhook_deliveries",
    "WITH room AS (SELECT * FROM unnest($2::text[], $3::int[]) AS r(endpoint, room)), "
    "due AS (SELECT d.delivery_id, d.next_attempt_time, COALESCE(r.room, $4) AS room, "
    "row_number() OVER (PARTITION BY d.program_id, d.webhook_id "
    "ORDER BY d.next_attempt_time, d.delivery_id) AS rank "
    "FROM webhook_deliveries d LEFT JOIN room r ON r.endpoint = d.program_id || '/' || "
    "d.webhook_id "
    "WHERE d.state = 1 AND d.next_attempt_time <= $1 "
    "AND (d.leased_until IS NULL OR d.leased_until <= $1)), "
    "claimed AS (SELECT w.delivery_id FROM webhook_deliveries w JOIN due ON due.delivery_id = "
    "w.delivery_id WHERE due.rank <= due.room AND w.state = 1 "
    "AND (w.leased_until IS NULL OR w.leased_until <= $1) "
    "ORDER BY due.next_attempt_time, w.delivery_id LIMIT $5 FOR UPDATE OF w SKIP LOCKED) "
    "UPDATE webhook_deliveries d SET attempts = d.attempts + 1, leased_until = $6, "
    "last_attempt_time = $1 FROM webhook_endpoints e WHERE d.delivery_id IN "
    "(SELECT delivery_id FROM claimed) AND e.program_id = d.program_id "
    "AND e.webhook_id = d.webhook_id AND e.state = 1 RETURNING d.delivery_id, d.program_id, "
    "d.webhook_id, "
    "d.event_id, d.body, d.attempts, e.url, e.secret"};

// The outcome of the attempt numbered $2, unless the delivery moved on since (cancelled, or its
// lease expired and another attempt was claimed).
inline constexpr pg::Query kRecordAttempt{
    "members_record_webhook_attempt",
    "UPDATE webhook_deliveries SET state = $3, next_attempt_time = $4, leased_until = NULL, "
    "last_status_code = $5, last_error = $6, "
    "finish_time = CASE WHEN $3::smallint <> 1 THEN $7::timestamptz END "
    "WHERE delivery_id = $1 AND attempts = $2 AND state = 1"};

// Newest first, of state $3 (0: any), before delivery $4 when given.
inline constexpr pg::Query kListDeliveries{
    "members_list_webhook_deliveries",
    "SELECT delivery_id, program_id, webhook_id, event_id, event_type, state, attempts, "
    "last_status_code, last_error, create_time, last_attempt_time, next_attempt_time, "
    "finish_time FROM webhook_deliveries WHERE program_id = $1 AND webhook_id = $2 "
    "AND ($3 = 0 OR state = $3) AND ($4::bigint IS NULL OR delivery_id < $4) "
    "ORDER BY delivery_id DESC LIMIT $5"};

inline constexpr pg::Query kGetDelivery{
    "members_get_webhook_delivery",
    "SELECT delivery_id, program_id, webhook_id, event_id, event_type, state, attempts, "
    "last_status_code, last_error, create_time, last_attempt_time, next_attempt_time, "
    "finish_time FROM webhook_deliveries WHERE program_id = $1 AND webhook_id = $2 "
    "AND delivery_id = $3"};

// A dead letter back to PENDING, due at $4, with its attempts reset, while its endpoint exists.
inline constexpr pg::Query kRetryDelivery{
    "members_retry_webhook_delivery",
    "UPDATE webhook_deliveries SET state = 1, attempts = 0, next_attempt_time = $4, "
    "leased_until = NULL, finish_time = NULL WHERE program_id = $1 AND webhook_id = $2 "
    "AND delivery_id = $3 AND state = 3 AND EXISTS (SELECT 1 FROM webhook_endpoints "
    "WHERE program_id = $1 AND webhook_id = $2) RETURNING delivery_id, program_id, webhook_id, "
    "event_id, event_type, state, attempts, last_status_code, last_error, create_time, "
    "last_attempt_time, next_attempt_time, finish_time"};

// Up to $2 deliveries finished before $1, oldest first.
inline constexpr pg::Query kPruneDeliveries{
    "members_prune_webhook_deliveries",
    "DELETE FROM webhook_deliveries WHERE delivery_id IN (SELECT delivery_id "
    "FROM webhook_deliveries WHERE state <> 1 AND finish_time < $1 ORDER BY finish_time "
    "LIMIT $2)"};

inline constexpr pg::Query kCountDeliveries{
    "members_count_webhook_deliveries",
    "SELECT count(*) FILTER (WHERE state = 1) AS pending, "
    "count(*) FILTER (WHERE state = 3) AS dead FROM webhook_deliveries WHERE state IN (1, 3)"};

}  // namespace loyalty::members::queries
