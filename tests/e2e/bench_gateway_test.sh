#!/usr/bin/env bash
# The gateway benchmark harness end to end, shrunk to seconds: scripts/bench-gateway on this
# build, with the floor run, must finish and report every phase with nothing but the expected
# answers. The figures mean nothing here (the suite runs beside it); that the harness works does.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "FAIL: $*" >&2; exit 1; }

out="$(LOYALTY_RUN_SKIP_BUILD=1 LOYALTY_BENCH_SECONDS=1 LOYALTY_BENCH_WARMUP_SECONDS=1 \
  LOYALTY_BENCH_MEMBERS=200 LOYALTY_BENCH_CONCURRENCY=16 LOYALTY_BENCH_FLOOR=1 \
  "$root/scripts/bench-gateway" 2>&1)" || { echo "$out" >&2; fail "scripts/bench-gateway failed"; }
line() { grep -E "^  $1 " <<<"$out" || { echo "$out" >&2; fail "no '$1' line in the report"; }; }
line '\(a\) direct' | grep -Eq ' [0-9.]+ req/s ok, .* failed 0' || fail "direct calls failed"
line '\(b\) gateway' | grep -Eq ' [0-9.]+ req/s 2xx, .* non-2xx 0 ' || fail "gateway purchases failed"
line '\(c\) gateway' | grep -Eq ' [0-9.]+ req/s 2xx, .* non-2xx 0 ' || fail "balance reads failed"
line '\(d\) floor' | grep -Eq ' [0-9.]+ req/s 400, .* other answers 0 .* socket errors 0;' \
  || fail "the floor run got answers other than 400"
echo "bench-gateway: harness ok"
