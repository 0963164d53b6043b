-- wrk script: durable publishes of ~1 KB events over HTTP, BATCH events per
-- request (a JSON array), spread over ROOMS rooms (defaults 16 and 64).
-- BATCH=16 ROOMS=64 wrk -t1 -c64 -d20s -s bench/publish-batch.lua http://127.0.0.1:8080
local pad = string.rep("x", 960)
local batch = tonumber(os.getenv("BATCH") or "16")
local rooms = tonumber(os.getenv("ROOMS") or "64")
local n = 0
request = function()
  n = n + 1
  local parts = {}
  for i = 1, batch do
    parts[i] = '{"type":"bench","data":{"n":' .. (n * batch + i) .. ',"pad":"' .. pad .. '"}}'
  end
  local body = "[" .. table.concat(parts, ",") .. "]"
  return wrk.format("POST", "/api/rooms/bench-" .. (n % rooms) .. "/events", {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  local rps = summary.requests / (summary.duration / 1e6)
  io.write(string.format("requests/s: %.0f  events/s: %.0f  non-2xx: %d  p50: %.2fms  p99: %.2fms\n",
    rps, rps * batch, summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
