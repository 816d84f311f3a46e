#!/usr/bin/env bash
# The demo story (scripts/demo) as an automated end-to-end test: every service as a real process
# on a real PostgreSQL, events flowing between them, and every balance, tier and status the story
# promises checked exactly (scripts/demo exits non-zero at the first that differs).
set -euo pipefail
source "$(dirname "$0")/run_lib.sh"

LOYALTY_DEMO_WAIT_SECONDS=60 "$root/scripts/demo" >"$work/demo.log" 2>&1 || {
  cat "$work/demo.log" >&2
  fail "the demo story did not play out as promised"
}
grep -q "The story played out as promised" "$work/demo.log" || fail "the demo story did not finish"
echo "demo story test passed"
