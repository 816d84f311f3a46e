-- The checks of tests/e2e/exactly_once_test.sh, run as the superuser across the three services'
-- schemas once every consumer has caught up. Every row printed is one mismatch, as a "FAIL:"
-- line naming the member (or stream) and the numbers; no row means the check holds.
-- Variables: program, purchases, refunds (what the client saw succeed).

-- What points-svc's stream says, event by event, in stream order: the qualifying points each
-- event carries by the rule of members-svc/rpc/points_events.cc (docs/events.md: purchases and
-- engagement count, refunds subtract, BIRTHDAY and REFERRAL bonuses do not).
CREATE TEMP VIEW points_stream AS
SELECT o.sequence, o.event_id, o.event_type, p->>'member' AS member_id, p->>'orderId' AS order_id,
       p->>'source' AS source, p->>'activityType' AS activity_type,
       COALESCE((p->>'points')::bigint, 0) AS points,
       COALESCE((p->>'orderFullyRefunded')::boolean, false) AS fully_refunded,
       CASE
         WHEN o.event_type = 'loyalty.points.v1.PointsRefunded'
           THEN -COALESCE((p->>'points')::bigint, 0)
         WHEN p->>'source' = 'EARN_SOURCE_PURCHASE'
           THEN COALESCE((p->>'points')::bigint, 0)
         WHEN p->>'source' = 'EARN_SOURCE_ACTIVITY'
              AND p->>'activityType' NOT IN ('ACTIVITY_TYPE_BIRTHDAY', 'ACTIVITY_TYPE_REFERRAL')
           THEN COALESCE((p->>'points')::bigint, 0)
         ELSE 0
       END AS qualifying
FROM points.outbox_events o, LATERAL (SELECT o.payload::jsonb AS p) payload
WHERE o.program_id = :'program';

-- 1. points-svc itself: each purchase and refund the client made exactly once, despite retries.
SELECT format('FAIL: points-svc recorded %s purchases and %s PointsEarned purchase events for %s orders; the client made %s',
              (SELECT count(*) FROM points.purchases WHERE program_id = :'program'),
              count(*), count(DISTINCT order_id), :'purchases')
FROM points_stream
WHERE event_type = 'loyalty.points.v1.PointsEarned' AND source = 'EARN_SOURCE_PURCHASE'
HAVING count(*) <> :purchases OR count(DISTINCT order_id) <> :purchases
    OR (SELECT count(*) FROM points.purchases WHERE program_id = :'program') <> :purchases;
SELECT format('FAIL: points-svc wrote %s PointsRefunded events for %s orders; the client made %s refunds',
              count(*), count(DISTINCT order_id), :'refunds')
FROM points_stream
WHERE event_type = 'loyalty.points.v1.PointsRefunded'
HAVING count(*) <> :refunds OR count(DISTINCT order_id) <> :refunds;

-- 2. Every consumer applied every event of its types, once: the applied ids are exactly the
-- producer's events of those types, and the cursor is at the producer's head.
WITH follows (consumer, producer, types) AS (VALUES
  ('points-svc', 'members-svc',
   ARRAY['loyalty.members.v1.MemberEnrolled', 'loyalty.members.v1.MemberSuspended',
         'loyalty.members.v1.MemberReactivated', 'loyalty.members.v1.MemberErased',
         'loyalty.members.v1.TierChanged']),
  ('members-svc', 'points-svc',
   ARRAY['loyalty.points.v1.PointsEarned', 'loyalty.points.v1.PointsRefunded']),
  ('rewards-svc', 'points-svc',
   ARRAY['loyalty.points.v1.PointsEarned', 'loyalty.points.v1.PointsRefunded']),
  ('rewards-svc tiers', 'members-svc',
   ARRAY['loyalty.members.v1.MemberEnrolled', 'loyalty.members.v1.TierChanged',
         'loyalty.members.v1.MemberErased'])
), produced AS (
  SELECT 'members-svc' AS producer, event_id, event_type, sequence FROM members.outbox_events
  UNION ALL
  SELECT 'points-svc', event_id, event_type, sequence FROM points.outbox_events
), applied AS (  -- each consumer's cursor, with the ids it applied
  SELECT 'points-svc' AS consumer, c.last_sequence AS cursor, a.event_id
  FROM points.event_cursors c LEFT JOIN points.applied_events a USING (stream)
  WHERE c.stream = 'members'
  UNION ALL
  SELECT 'members-svc', c.last_sequence, a.event_id
  FROM members.event_cursors c LEFT JOIN members.applied_events a USING (stream)
  WHERE c.stream = 'points'
  UNION ALL
  SELECT 'rewards-svc', c.last_sequence, a.event_id
  FROM rewards.event_cursors c LEFT JOIN rewards.applied_events a USING (stream)
  WHERE c.stream = 'points'
  UNION ALL
  SELECT 'rewards-svc tiers', c.last_sequence, a.event_id
  FROM rewards.event_cursors c LEFT JOIN rewards.applied_events a USING (stream)
  WHERE c.stream = 'members'
), expected AS (
  SELECT f.consumer, p.event_id
  FROM follows f JOIN produced p ON p.producer = f.producer AND p.event_type = ANY (f.types)
), gaps AS (
  SELECT f.consumer, f.producer,
         (SELECT count(*) FROM expected e WHERE e.consumer = f.consumer
            AND NOT EXISTS (SELECT 1 FROM applied a
                            WHERE a.consumer = e.consumer AND a.event_id = e.event_id)) AS missing,
         (SELECT count(*) FROM applied a WHERE a.consumer = f.consumer AND a.event_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM expected e
                            WHERE e.consumer = a.consumer AND e.event_id = a.event_id)) AS unknown,
         (SELECT max(a.cursor) FROM applied a WHERE a.consumer = f.consumer) AS cursor,
         (SELECT COALESCE(max(sequence), 0) FROM produced p WHERE p.producer = f.producer) AS head
  FROM follows f
)
SELECT format('FAIL: %s following %s: %s events of its types not applied, %s applied ids not among them, cursor %s, producer head %s',
              consumer, producer, missing, unknown, COALESCE(cursor::text, 'none'), head)
FROM gaps
WHERE missing <> 0 OR unknown <> 0 OR cursor IS NULL OR cursor < head;

-- 3. Tier qualifying points: members-svc's, per member, equal the ledger's qualifying points
-- (points-svc's purchases net of refunds, plus its engagement awards).
WITH ledger AS (
  SELECT member_id, points_earned - reversed_points AS points
  FROM points.purchases WHERE program_id = :'program'
  UNION ALL
  SELECT member_id, points
  FROM points.activity_awards
  WHERE program_id = :'program' AND activity_key NOT IN ('BIRTHDAY', 'REFERRAL')
), expected AS (
  SELECT member_id, sum(points) AS points FROM ledger GROUP BY member_id
), actual AS (
  SELECT member_id, sum(points) AS points
  FROM members.qualifying_activity WHERE program_id = :'program' GROUP BY member_id
)
SELECT format('FAIL: member %s: tier qualifying points %s, ledger qualifying points %s',
              m.member_id, COALESCE(a.points, 0), COALESCE(e.points, 0))
FROM members.members m
LEFT JOIN expected e USING (member_id)
LEFT JOIN actual a USING (member_id)
WHERE m.program_id = :'program' AND COALESCE(a.points, 0) <> COALESCE(e.points, 0);

-- 4. Tiers: each member is in the highest tier whose threshold the running sum of the stream's
-- qualifying points reached (upgrades at once; nothing in the test downgrades), upgraded once
-- per tier, with one TierChanged per upgrade.
WITH running AS (
  SELECT member_id, sum(qualifying) OVER (PARTITION BY member_id ORDER BY sequence) AS total
  FROM points_stream
), peak AS (
  SELECT member_id, max(total) AS peak FROM running GROUP BY member_id
), expected AS (
  SELECT m.member_id,
         (SELECT max(t.position) FROM members.tiers t
          WHERE t.program_id = :'program' AND t.threshold_points <= GREATEST(COALESCE(p.peak, 0), 0))
           AS position
  FROM members.members m LEFT JOIN peak p USING (member_id)
  WHERE m.program_id = :'program'
)
SELECT format('FAIL: member %s: tier position %s, expected %s (peak qualifying points %s)',
              m.member_id, m.tier_position, e.position, COALESCE(p.peak, 0))
FROM members.members m
JOIN expected e USING (member_id)
LEFT JOIN peak p USING (member_id)
WHERE m.program_id = :'program' AND m.tier_position <> e.position;
WITH upgrades AS (
  SELECT member_id, count(*) AS upgrades, count(DISTINCT to_tier) AS tiers
  FROM members.tier_history
  WHERE program_id = :'program' AND kind = 'UPGRADE' GROUP BY member_id
), changes AS (
  SELECT aggregate_id AS member_id, count(*) AS changes
  FROM members.outbox_events
  WHERE program_id = :'program' AND event_type = 'loyalty.members.v1.TierChanged'
  GROUP BY aggregate_id
)
SELECT format('FAIL: member %s: %s upgrades to %s distinct tiers, %s TierChanged events',
              member_id, COALESCE(u.upgrades, 0), COALESCE(u.tiers, 0), COALESCE(c.changes, 0))
FROM upgrades u FULL JOIN changes c USING (member_id)
WHERE COALESCE(u.upgrades, 0) <> COALESCE(u.tiers, 0)
   OR COALESCE(u.upgrades, 0) <> COALESCE(c.changes, 0);

-- 5. Referrals: a referee with an earning purchase has a settled referral, one without a pending
-- one; each referrer has min(settled, cap) rewarded; the bonus is paid once per rewarded
-- referral to each side (points-svc's REFERRAL awards and PointsEarned events).
WITH earners AS (
  SELECT DISTINCT member_id FROM points.purchases
  WHERE program_id = :'program' AND points_earned > 0
)
SELECT format('FAIL: referral %s of referee %s: status %s, but the referee made %s earning purchase',
              r.referral_id, r.referee_id, r.status,
              CASE WHEN e.member_id IS NULL THEN 'no' ELSE 'an' END)
FROM members.referrals r LEFT JOIN earners e ON e.member_id = r.referee_id
WHERE r.program_id = :'program' AND (e.member_id IS NULL) <> (r.status = 1);
SELECT format('FAIL: referrer %s: %s referrals rewarded of %s settled, cap %s',
              r.referrer_id, count(*) FILTER (WHERE r.status = 2),
              count(*) FILTER (WHERE r.status <> 1), p.referral_rewards_max)
FROM members.referrals r JOIN members.programs p USING (program_id)
WHERE r.program_id = :'program'
GROUP BY r.referrer_id, p.referral_rewards_max
HAVING count(*) FILTER (WHERE r.status = 2)
       <> LEAST(count(*) FILTER (WHERE r.status <> 1), p.referral_rewards_max);
WITH expected AS (
  SELECT member_id, count(*) AS bonuses
  FROM (SELECT referrer_id AS member_id FROM members.referrals
        WHERE program_id = :'program' AND status = 2
        UNION ALL
        SELECT referee_id FROM members.referrals
        WHERE program_id = :'program' AND status = 2) paid
  GROUP BY member_id
), awards AS (
  SELECT member_id, count(*) AS awards FROM points.activity_awards
  WHERE program_id = :'program' AND activity_key = 'REFERRAL' GROUP BY member_id
), events AS (
  SELECT member_id, count(*) AS events FROM points_stream
  WHERE activity_type = 'ACTIVITY_TYPE_REFERRAL' GROUP BY member_id
)
SELECT format('FAIL: member %s: %s referral bonuses due, %s REFERRAL awards, %s REFERRAL PointsEarned events',
              m.member_id, COALESCE(e.bonuses, 0), COALESCE(a.awards, 0), COALESCE(v.events, 0))
FROM members.members m
LEFT JOIN expected e USING (member_id)
LEFT JOIN awards a USING (member_id)
LEFT JOIN events v USING (member_id)
WHERE m.program_id = :'program'
  AND (COALESCE(a.awards, 0) <> COALESCE(e.bonuses, 0) OR COALESCE(v.events, 0) <> COALESCE(e.bonuses, 0));

-- 6. points-svc's member projection equals members-svc's status and tier for every member.
SELECT format('FAIL: member %s: points-svc projects status %s, tier %s (%s %%); members-svc has status %s, tier %s (%s %%)',
              m.member_id, COALESCE(p.status::text, 'none'), COALESCE(p.tier, 'none'),
              COALESCE(p.tier_multiplier_percent::text, 'none'), m.status, t.code,
              t.earn_multiplier_percent)
FROM members.members m
JOIN members.tiers t ON t.program_id = m.program_id AND t.position = m.tier_position
LEFT JOIN points.member_projection p
  ON p.program_id = m.program_id AND p.member_id = m.member_id
WHERE m.program_id = :'program'
  AND (p.member_id IS NULL OR p.status <> m.status OR p.tier <> t.code
       OR p.tier_multiplier_percent <> t.earn_multiplier_percent);

-- 6b. rewards-svc's copy of tiers equals members-svc's tier for every member.
SELECT format('FAIL: member %s: rewards-svc copies tier %s; members-svc has tier %s',
              m.member_id, COALESCE(r.tier, 'none'), t.code)
FROM members.members m
JOIN members.tiers t ON t.program_id = m.program_id AND t.position = m.tier_position
LEFT JOIN rewards.member_tiers r
  ON r.program_id = m.program_id AND r.member_id = m.member_id
WHERE m.program_id = :'program' AND (r.member_id IS NULL OR r.tier <> t.code);

-- 7. Every order stamped once: one stamped_orders row per purchase.
SELECT format('FAIL: rewards-svc remembers %s orders for %s purchases', count(*), :'purchases')
FROM rewards.stamped_orders WHERE program_id = :'program'
HAVING count(*) <> :purchases;

-- 8. Every full punch card wrote one PunchCardCompleted event with its voucher, and no other.
WITH issued AS (
  SELECT member_id, sum(completed_cards) AS cards
  FROM rewards.punch_cards WHERE program_id = :'program' GROUP BY member_id
), announced AS (
  SELECT payload::jsonb ->> 'member' AS member_id, count(*) AS events,
         count(DISTINCT payload::jsonb ->> 'voucher') AS vouchers
  FROM rewards.outbox_events
  WHERE program_id = :'program' AND event_type = 'loyalty.rewards.v1.PunchCardCompleted'
  GROUP BY 1
)
SELECT format('FAIL: member %s: %s full punch cards, %s PunchCardCompleted events (%s vouchers)',
              COALESCE(i.member_id, a.member_id), COALESCE(i.cards, 0), COALESCE(a.events, 0),
              COALESCE(a.vouchers, 0))
FROM issued i FULL JOIN announced a USING (member_id)
WHERE COALESCE(i.cards, 0) <> COALESCE(a.events, 0) OR COALESCE(a.events, 0) <> COALESCE(a.vouchers, 0);
