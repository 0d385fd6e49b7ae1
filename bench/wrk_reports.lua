-- wrk script for bench/reports.py: each request is one bank system's pull of a firm's
-- report with that firm's consent-bound token.  The pairs come from the file named by the
-- first script argument ("token uscc" per line); each connection walks them round-robin
-- from its own starting point, so every firm is pulled in turn.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  pairs_ = {}
  for line in io.lines(args[1]) do
    local token, uscc = line:match("^(%S+)%s+(%S+)$")
    if token then pairs_[#pairs_ + 1] = { token, uscc } end
  end
  position = math.random(#pairs_)
  refused = 0
end

function request()
  position = position % #pairs_ + 1
  local pair = pairs_[position]
  return wrk.format("POST", "/api/v1/reports", {
    ["Authorization"] = "Bearer " .. pair[1],
    ["Content-Type"] = "application/json",
  }, '{"uscc":"' .. pair[2] .. '","purpose":"loan_application"}')
end

function response(status, headers, body)
  if status ~= 201 then
    refused = refused + 1
    if refused <= 3 then io.stderr:write(status .. " " .. body:sub(1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local refusals = 0
  for _, thread in ipairs(threads) do refusals = refusals + (thread:get("refused") or 0) end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "socket_errors": %d, "refused": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    refusals, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
