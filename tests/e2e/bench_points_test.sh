#!/usr/bin/env bash
# The points benchmark harness end to end, shrunk to seconds: scripts/bench-points on this build,
# with the floor run, must finish and report both sides, the floor, and no failed call.
set -euo pipefail
source "$(dirname "$0")/bench_lib.sh"

run_bench bench-points
report_line pgbench | grep -Eq ' [0-9.]+ tps' || fail "pgbench reported no tps"
report_line points-svc | grep -Eq ' [0-9.]+ req/s, .* failed 0 ' || fail "RecordPurchase failed calls"
report_line ratio | grep -Eq '[0-9.]+ x pgbench' || fail "no ratio"
report_line floor | grep -Eq ' [0-9.]+ calls/s, .* failed 0 ' || fail "the floor run failed calls"
grep -Eq 'WAL [0-9]+ bytes per purchase' <<<"$report" || fail "no WAL per purchase"
echo "bench-points: harness ok"
