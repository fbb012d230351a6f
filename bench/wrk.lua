-- wrk script for bench/run. Environment:
--   BENCH_TARGETS  file with one request per line, a path (GET, or POST when BENCH_BODY is
--                  set) or `METHOD path`; each request picks one at random
--   BENCH_BODY     (optional) file with a JSON request body to POST; every `{{n}}` in it is
--                  replaced by a number unique to the request (thread and counter)
--   BENCH_PATCH    (optional) file with the JSON body of `PATCH` lines, `{{n}}` as above
--   BENCH_TOKEN    (optional) bearer token
--   BENCH_OUT      where done() writes the summary as JSON (latencies in microseconds)

local function read_file(name)
  if not name or name == "" then return nil end
  local f = assert(io.open(name, "r"))
  local text = f:read("*a")
  f:close()
  return text
end

local body_template = read_file(os.getenv("BENCH_BODY"))
local patch_template = read_file(os.getenv("BENCH_PATCH"))

local targets = {}
for line in io.lines(os.getenv("BENCH_TARGETS")) do
  if line ~= "" then
    local method, path = line:match("^(%u+) (.+)$")
    if not method then
      method, path = body_template and "POST" or "GET", line
    end
    targets[#targets + 1] = {method = method, path = path}
  end
end

local headers = {}
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
local json_headers = {["Content-Type"] = "application/json"}
for k, v in pairs(headers) do json_headers[k] = v end

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
  local target = targets[math.random(#targets)]
  local template = nil
  if target.method == "POST" then template = body_template end
  if target.method == "PATCH" then template = patch_template end
  if template then
    counter = counter + 1
    local n = tostring(thread_id or 0) .. "-" .. tostring(counter) .. "-" .. tostring(os.time())
    local body = template:gsub("{{n}}", n)
    return wrk.format(target.method, target.path, json_headers, body)
  end
  return wrk.format(target.method, target.path, headers)
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
