-- wrk script for bench/run. Environment:
--   BENCH_TARGETS  file with one request path per line; each request picks one at random
--   BENCH_BODY     (optional) file with a JSON request body to POST; every `{{n}}` in it is
--                  replaced by a number unique to the request (thread and counter)
--   BENCH_TOKEN    (optional) bearer token
--   BENCH_OUT      where done() writes the summary as JSON (latencies in microseconds)

local targets = {}
for line in io.lines(os.getenv("BENCH_TARGETS")) do
  if line ~= "" then targets[#targets + 1] = line end
end

local body_template = nil
local body_file = os.getenv("BENCH_BODY")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "r"))
  body_template = f:read("*a")
  f:close()
end

local headers = {}
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
if body_template then headers["Content-Type"] = "application/json" end

local thread_ids = 0
function setup(thread)
  thread_ids = thread_ids + 1
  thread:set("thread_id", thread_ids)
end

local counter = 0
function init(args)
  math.randomseed(os.time() + (thread_id or 0) * 7919)
end

function request()
  local path = targets[math.random(#targets)]
  if body_template then
    counter = counter + 1
    local n = tostring(thread_id or 0) .. "-" .. tostring(counter) .. "-" .. tostring(os.time())
    local body = body_template:gsub("{{n}}", n)
    return wrk.format("POST", path, headers, body)
  end
  return wrk.format("GET", path, headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  out:close()
end
