# Shared by the benchmark harness tests: runs one of scripts/bench-* on this build, shrunk to
# seconds and with its floor run, and checks lines of its report. Source it from a test script;
# it defines fail, run_bench and report_line. The figures mean nothing here (the suite runs
# beside it); that the harness still works does.
root="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "FAIL: $*" >&2; exit 1; }

# run_bench NAME: scripts/NAME with one-second phases, 200 members and 16 calls outstanding;
# its whole output goes into $report, and a failed run fails the test with it.
run_bench() {
  report="$(LOYALTY_RUN_SKIP_BUILD=1 LOYALTY_BENCH_SECONDS=1 LOYALTY_BENCH_WARMUP_SECONDS=1 \
    LOYALTY_BENCH_MEMBERS=200 LOYALTY_BENCH_CONCURRENCY=16 LOYALTY_BENCH_FLOOR=1 \
    "$root/scripts/$1" 2>&1)" || { echo "$report" >&2; fail "scripts/$1 failed"; }
}

# report_line LABEL: the report's line for LABEL (an extended regular expression), or a failure.
report_line() {
  grep -E "^  $1 " <<<"$report" || { echo "$report" >&2; fail "no '$1' line in the report"; }
}
