-- wrk script for the gateway benchmark (scripts/bench-gateway; issue 5, "Speed").
--
--   wrk -t1 -c64 -d20s --latency -s tests/load/gateway_load.lua http://127.0.0.1:8080 \
--       -- MODE PROGRAM MEMBERS_FILE RUN_ID
--
-- MODE is
--   purchase  POST /v1/programs/{program}/members/{member}/purchases: RecordPurchase with an
--             order id and an Idempotency-Key of its own per request, so that no request is a
--             replay (a replay would be answered from the idempotency record, not measured);
--   balance   GET /v1/programs/{program}/members/{member}/balance: GetBalance;
--   refused   the purchase POST without an order id, which points-svc refuses in its validation
--             before any database work: every answer should be 400, and those count as ok (the
--             floor of the purchase route: HTTP, auth, transcoding and the gRPC hop alone).
-- MEMBERS_FILE holds one member id a line; requests go round the members, each wrk thread
-- starting at its own offset, so that calls in flight at the same time touch different members.
-- RUN_ID prefixes order ids and keys: orders are unique per program for good, so every run needs
-- its own. The API key comes from the environment (LOYALTY_BENCH_API_KEY), not the command line.
--
-- wrk counts only status >= 400 as errors and reports every answer in its throughput. This script
-- counts each non-2xx status itself and done() prints one line for scripts:
--   gateway-load: requests=N ok=N non2xx=N socket_errors=N seconds=S ok_rps=R p50_ms=.. p90_ms=..
--   p99_ms=.. p999_ms=.. max_ms=.. statuses=503:12,429:3
-- ok_rps counts 2xx answers only (400 answers only, in refused mode). Latencies are wrk's (all answers, 2xx or not, from the request
-- written to the answer read; closed loop).

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local mode, program, run_id, api_key
local members = {}
local next_member = 1
local sent = 0
-- Globals, so that done() can read them from each thread (thread:get).
non2xx = 0
statuses = {}

function init(args)
  mode, program, run_id = args[1], args[2], args[4]
  local members_file = args[3]
  if mode ~= "purchase" and mode ~= "balance" and mode ~= "refused" then
    error("MODE must be purchase, balance or refused, not " .. tostring(mode))
  end
  if not program or not members_file or not run_id then
    error("usage: -- MODE PROGRAM MEMBERS_FILE RUN_ID")
  end
  api_key = os.getenv("LOYALTY_BENCH_API_KEY")
  if not api_key or api_key == "" then error("LOYALTY_BENCH_API_KEY is not set") end
  for line in io.lines(members_file) do
    if line ~= "" then table.insert(members, line) end
  end
  if #members == 0 then error("no members in " .. members_file) end
  -- Spread the threads' starting points evenly over the members.
  local thread_count = tonumber(os.getenv("LOYALTY_BENCH_WRK_THREADS") or "1") or 1
  next_member = 1 + math.floor(thread_index * #members / math.max(thread_count, 1)) % #members
end

local function member_path(member, suffix)
  return "/v1/programs/" .. program .. "/members/" .. member .. suffix
end

function request()
  local member = members[next_member]
  next_member = next_member % #members + 1
  if mode == "balance" then
    return wrk.format("GET", member_path(member, "/balance"), {["x-api-key"] = api_key})
  end
  sent = sent + 1
  local id = run_id .. "-t" .. thread_index .. "-" .. sent
  local order = mode == "refused" and "" or '"orderId":"' .. id .. '",'
  return wrk.format("POST", member_path(member, "/purchases"), {
    ["x-api-key"] = api_key,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = id,
  }, '{' .. order .. '"currencyCode":"EUR","totalMinor":"4999"}')
end

function response(status, headers, body)
  local expected = (mode == "refused") and (status == 400) or (status >= 200 and status <= 299)
  if not expected then
    non2xx = non2xx + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local bad, by_status = 0, {}
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    for status, count in pairs(thread:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + count
    end
  end
  local listed = {}
  for status, count in pairs(by_status) do table.insert(listed, status .. ":" .. count) end
  table.sort(listed)
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  local function ms(percentile) return latency:percentile(percentile) / 1000 end
  io.write(string.format(
    "gateway-load: requests=%d ok=%d non2xx=%d socket_errors=%d seconds=%.2f ok_rps=%.1f " ..
    "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f statuses=%s\n",
    summary.requests, summary.requests - bad, bad,
    errors.connect + errors.read + errors.write + errors.timeout, seconds,
    (summary.requests - bad) / seconds, ms(50), ms(90), ms(99), ms(99.9), latency.max / 1000,
    #listed > 0 and table.concat(listed, ",") or "none"))
end
