#!/usr/bin/env bash
# Exactly once across crashes (issue 6, "Tests"): members-svc, points-svc and rewards-svc run as
# real processes on a real PostgreSQL; while a client (tests/load/exactly_once_load.cc) makes
# 5,000 purchases, with refunds, activities, referrals and suspensions, each of the three
# consumers' services is killed with SIGKILL 5 times, spread over the run, and restarted at once
# on the same ports and database. The client retries every failed call with the same request_id.
# Once every consumer has caught up with its producer, every effect is checked in PostgreSQL
# (tests/e2e/exactly_once_checks.sql and the punch-card replay below): each event applied exactly
# once, nothing skipped. Any mismatch prints a FAIL line naming the member and the numbers.
#
# Settings: LOYALTY_EXACTLY_ONCE_PURCHASES (5000), _KILLS (5 per service), _RATE (purchases per
# second, 200), LOYALTY_BUILD_DIR (the build whose binaries run), LOYALTY_EXACTLY_ONCE_KEEP=1
# keeps the temporary directory (cluster and logs).
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib/common.sh"
source "$LOYALTY_ROOT/scripts/lib/platform.sh"

PURCHASES="${LOYALTY_EXACTLY_ONCE_PURCHASES:-5000}"
KILLS="${LOYALTY_EXACTLY_ONCE_KILLS:-5}"
RATE="${LOYALTY_EXACTLY_ONCE_RATE:-200}"
PROGRAM=exactly-once
DATABASE=loyalty
# Must equal kStampsNeeded in tests/load/exactly_once_load.cc.
STAMPS_NEEDED=4
# How long the consumers may take to catch up once the purchases are done.
CATCH_UP_SECONDS=90

load="$LOYALTY_BUILD_DIR/tests/exactly-once-load"
for binary in "${PLATFORM_SERVICES[@]}"; do
  [ -x "$LOYALTY_BUILD_DIR/$binary/$binary" ] || die "$LOYALTY_BUILD_DIR/$binary/$binary is missing"
done
[ -x "$load" ] || die "$load is missing"

work="$(mktemp -d /tmp/loyalty-exactly-once.XXXXXX)"
chmod 755 "$work"  # The cluster runs as the postgres user when we are root.
logs="$work/logs"
mkdir -p "$logs"
declare -A pid=()
load_pid=""
cleanup() {
  trap - INT TERM EXIT
  if [ -n "$load_pid" ]; then kill -TERM "$load_pid" 2>/dev/null || true; fi
  local name
  for name in "${!pid[@]}"; do kill -TERM "${pid[$name]}" 2>/dev/null || true; done
  for name in "${!pid[@]}"; do wait "${pid[$name]}" 2>/dev/null || true; done
  pg_stop "$work"
  if [ "${LOYALTY_EXACTLY_ONCE_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# set -e ends the script at any failing command; say which, so no failure is silent.
trap 'echo "FAIL: line $LINENO of $0: a command failed (exit $?)" >&2' ERR
fail() {
  echo "FAIL: $*" >&2
  local name
  for name in "${PLATFORM_SERVICES[@]}" exactly-once-load; do
    [ -f "$logs/$name.log" ] && { echo "--- $name.log (last lines)" >&2; tail -n 15 "$logs/$name.log" >&2; }
  done
  exit 1
}

pg_port=""
pick_port pg_port
declare -A grpc_port=() metrics_port=()
for name in "${PLATFORM_SERVICES[@]}"; do
  pick_port "grpc_port[$name]"
  pick_port "metrics_port[$name]"
done

# fsync off: the test kills services, not PostgreSQL; what a commit promises is not under test.
pg_init "$work"
LOYALTY_PG_FSYNC=off pg_start "$work" "$pg_port" ''
psql() { psql_super "$work" "$pg_port" "$DATABASE" -tA "$@"; }
platform_database "$work" "$pg_port" "$DATABASE"
platform_export "$work" "$pg_port" "$DATABASE" \
  "${grpc_port[members-svc]}" "${metrics_port[members-svc]}" \
  "${grpc_port[points-svc]}" "${metrics_port[points-svc]}" \
  "${grpc_port[rewards-svc]}" "${metrics_port[rewards-svc]}"
platform_migrate "$logs"
for name in "${PLATFORM_SERVICES[@]}"; do
  platform_start "$name" "${grpc_port[$name]}" "$logs/$name.log"
  pid[$name]="$service_pid"
done

progress() { cat "$work/progress" 2>/dev/null || echo 0; }
say "client: $PURCHASES purchases at $RATE/s; kill -9 each consumer's service $KILLS times meanwhile"
"$load" --members="127.0.0.1:${grpc_port[members-svc]}" --points="127.0.0.1:${grpc_port[points-svc]}" \
  --rewards="127.0.0.1:${grpc_port[rewards-svc]}" --program="$PROGRAM" \
  --purchases="$PURCHASES" --rate="$RATE" --progress-file="$work/progress" \
  >"$work/result" 2>"$logs/exactly-once-load.log" &
load_pid=$!

# The kills go round the three services at evenly spaced milestones of the purchases made, so
# each lands while purchases, and therefore events, flow.
kills=$((3 * KILLS))
for k in $(seq 1 "$kills"); do
  name="${PLATFORM_SERVICES[$(((k - 1) % 3))]}"
  milestone=$((k * PURCHASES / (kills + 1)))
  while [ "$(progress)" -lt "$milestone" ]; do
    kill -0 "$load_pid" 2>/dev/null || fail "the client stopped at $(progress) purchases, before kill $k"
    sleep 0.05
  done
  # awk reads to the end: leaving early would fail curl's write, and with it the script.
  lag="$(curl -s --max-time 1 "http://127.0.0.1:${metrics_port[$name]}/metrics" \
    | awk '/^loyalty_event_consumer_lag_seconds/ && !seen {printf "%.2f", $2; seen = 1}' || true)"
  kill -KILL "${pid[$name]}"
  wait "${pid[$name]}" 2>/dev/null || true
  say "kill -9 $name ($k of $kills) at $(progress) purchases, its consumer ${lag:-?} s behind"
  platform_start "$name" "${grpc_port[$name]}" "$logs/$name.log"
  pid[$name]="$service_pid"
done

wait "$load_pid" || { load_pid=""; fail "the client failed: $(grep FAIL "$logs/exactly-once-load.log" || true)"; }
load_pid=""
grep -v '^result' "$logs/exactly-once-load.log" | sed 's/^/    /' >&2
result="$(cat "$work/result")"
say "client: $result"
count() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" $result"; }
purchases="$(count purchases)"
refunds=$(($(count refunds_full) + $(count refunds_partial)))
[ "$purchases" = "$PURCHASES" ] || fail "the client made $purchases purchases, not $PURCHASES"

# Caught up: every consumer's cursor at its producer's head, twice in a row a second apart
# (applying points events makes member events and the reverse, so one look is not enough).
positions() {
  psql -c "SELECT (SELECT COALESCE(max(sequence), 0) FROM points.outbox_events),
                  (SELECT COALESCE(max(sequence), 0) FROM members.outbox_events),
                  (SELECT last_sequence FROM members.event_cursors WHERE stream = 'points'),
                  (SELECT last_sequence FROM rewards.event_cursors WHERE stream = 'points'),
                  (SELECT last_sequence FROM points.event_cursors WHERE stream = 'members'),
                  (SELECT last_sequence FROM rewards.event_cursors WHERE stream = 'members'),
                  (SELECT count(*) FROM points.outbox_events WHERE sequence IS NULL)
                    + (SELECT count(*) FROM members.outbox_events WHERE sequence IS NULL)"
}
# Events are numbered a moment after their commit: none may still be waiting for a number.
caught_up() {
  IFS='|' read -r points_head members_head members_cursor rewards_cursor points_cursor \
    tiers_cursor unnumbered <<<"$(positions)"
  [ "$unnumbered" = 0 ] \
    && [ "${members_cursor:-0}" -ge "$points_head" ] && [ "${rewards_cursor:-0}" -ge "$points_head" ] \
    && [ "${points_cursor:-0}" -ge "$members_head" ] && [ "${tiers_cursor:-0}" -ge "$members_head" ]
}
start_wait=$SECONDS
previous=""
while true; do
  if caught_up && [ "$(positions)" = "$previous" ]; then break; fi
  previous="$(positions)"
  [ $((SECONDS - start_wait)) -lt "$CATCH_UP_SECONDS" ] \
    || fail "consumers did not catch up in ${CATCH_UP_SECONDS}s (heads and cursors: $(positions))"
  sleep 1
done
say "every consumer caught up after $((SECONDS - start_wait)) s (heads and cursors: $(positions))"

failures="$(psql -v program="$PROGRAM" -v purchases="$purchases" -v refunds="$refunds" \
  -f "$LOYALTY_ROOT/tests/e2e/exactly_once_checks.sql" | grep -v '^CREATE VIEW$' || true)"

# Punch cards: points-svc's purchases and full refunds replayed in stream order by the card rule
# (rewards-svc/rpc/rewards_handler.cc: one stamp per order with a coffee line, a full card issues a
# voucher and starts the next; a full refund takes its stamp off only if that card is still open).
psql -c "SELECT p->>'member', p->>'orderId',
                CASE WHEN event_type = 'loyalty.points.v1.PointsEarned' THEN 'E' ELSE 'R' END,
                EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(p->'lines', '[]')) line
                        WHERE line->>'category' = 'coffee'
                          AND COALESCE((line->>'quantity')::bigint, 0) >= 1)
         FROM points.outbox_events, LATERAL (SELECT payload::jsonb AS p) payload
         WHERE program_id = '$PROGRAM'
           AND ((event_type = 'loyalty.points.v1.PointsEarned' AND p->>'source' = 'EARN_SOURCE_PURCHASE')
             OR (event_type = 'loyalty.points.v1.PointsRefunded'
                 AND COALESCE((p->>'orderFullyRefunded')::boolean, false)))
         ORDER BY sequence" >"$work/stamp-events"
psql -c "SELECT c.member_id, c.stamps, c.completed_cards,
                (SELECT count(*) FROM rewards.vouchers v
                 WHERE v.program_id = c.program_id AND v.member_id = c.member_id)
         FROM rewards.punch_cards c WHERE c.program_id = '$PROGRAM'" >"$work/cards"
failures+="$(awk -F'|' -v needed="$STAMPS_NEEDED" '
  FNR == NR {
    key = $1 SUBSEP $2
    if ($3 == "E") {
      if (key in seen) next
      seen[key] = "stamped"
      if ($4 != "t") next
      members[$1] = 1
      card[key] = completed[$1] + 0
      if (++stamps[$1] >= needed) { stamps[$1] = 0; completed[$1]++ }
    } else if (!(key in seen)) {
      seen[key] = "revoked"
    } else if (seen[key] == "stamped") {
      seen[key] = "revoked"
      if ((key in card) && card[key] == completed[$1] + 0 && stamps[$1] > 0) stamps[$1]--
    }
    next
  }
  {
    members[$1] = 1
    actual[$1] = $2 " stamps, " $3 " full cards, " $4 " vouchers"
  }
  END {
    for (m in members) {
      expected = (stamps[m] + 0) " stamps, " (completed[m] + 0) " full cards, " (completed[m] + 0) " vouchers"
      got = (m in actual) ? actual[m] : "0 stamps, 0 full cards, 0 vouchers"
      if (got != expected) printf "\nFAIL: member %s: punch card has %s; its orders imply %s", m, got, expected
    }
  }' "$work/stamp-events" "$work/cards")"

if grep -q 'FAIL' <<<"$failures"; then
  grep 'FAIL' <<<"$failures" | head -n 50 >&2
  echo "FAIL: $(grep -c FAIL <<<"$failures") mismatches after the kills" >&2
  exit 1
fi
say "checked: $purchases purchases, $refunds refunds, $(wc -l <"$work/stamp-events") stamp events, $(wc -l <"$work/cards") punch cards"
echo "exactly-once test passed: every event applied once across $kills kills"
