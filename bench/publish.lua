-- wrk script: durable publishes of ~1 KB events over HTTP, spread over 64 rooms.
-- wrk -t2 -c256 -d20s -s bench/publish.lua http://127.0.0.1:8080
local pad = string.rep("x", 960)
local n = 0
request = function()
  n = n + 1
  local room = "bench-" .. (n % (tonumber(os.getenv("ROOMS") or "64")))
  local body = '{"type":"bench","data":{"n":' .. n .. ',"pad":"' .. pad .. '"}}'
  return wrk.format("POST", "/api/rooms/" .. room .. "/events", {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("requests/s: %.0f  non-2xx: %d  p50: %.2fms  p99: %.2fms\n",
    summary.requests / (summary.duration / 1e6), summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
