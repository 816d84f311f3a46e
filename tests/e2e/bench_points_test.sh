#!/usr/bin/env bash
# The points benchmark harness end to end, shrunk to seconds: scripts/bench-points on this build,
# with the floor run, must finish and report both sides, the floor, and no failed call. The
# figures mean nothing here (the suite runs beside it); that the harness still works does.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "FAIL: $*" >&2; exit 1; }

out="$(LOYALTY_RUN_SKIP_BUILD=1 LOYALTY_BENCH_SECONDS=1 LOYALTY_BENCH_WARMUP_SECONDS=1 \
  LOYALTY_BENCH_MEMBERS=200 LOYALTY_BENCH_CONCURRENCY=16 LOYALTY_BENCH_FLOOR=1 \
  "$root/scripts/bench-points" 2>&1)" || { echo "$out" >&2; fail "scripts/bench-points failed"; }
line() { grep -E "^  $1 " <<<"$out" || { echo "$out" >&2; fail "no '$1' line in the report"; }; }
line pgbench | grep -Eq ' [0-9.]+ tps' || fail "pgbench reported no tps"
line points-svc | grep -Eq ' [0-9.]+ req/s, .* failed 0 ' || fail "RecordPurchase failed calls"
line ratio | grep -Eq '[0-9.]+ x pgbench' || fail "no ratio"
line floor | grep -Eq ' [0-9.]+ calls/s, .* failed 0 ' || fail "the floor run failed calls"
grep -Eq 'WAL [0-9]+ bytes per purchase' <<<"$out" || fail "no WAL per purchase"
echo "bench-points: harness ok"
