#!/usr/bin/env bash
# The gateway benchmark harness end to end, shrunk to seconds: scripts/bench-gateway on this
# build, with the floor run, must finish and report every phase with nothing but the expected
# answers.
set -euo pipefail
source "$(dirname "$0")/bench_lib.sh"

run_bench bench-gateway
report_line '\(a\) direct' | grep -Eq ' [0-9.]+ req/s ok, .* failed 0' || fail "direct calls failed"
report_line '\(b\) gateway' | grep -Eq ' [0-9.]+ req/s 2xx, .* non-2xx 0 ' \
  || fail "gateway purchases failed"
report_line '\(c\) gateway' | grep -Eq ' [0-9.]+ req/s 2xx, .* non-2xx 0 ' || fail "balance reads failed"
report_line '\(d\) floor' | grep -Eq ' [0-9.]+ req/s 400, .* other answers 0 .* socket errors 0;' \
  || fail "the floor run got answers other than 400"
echo "bench-gateway: harness ok"
