-- wrk script of the serving benchmark (bench/serving.py): POSTs pre-built OIP v2 JSON bodies in a fixed cycle,
-- counts every non-2xx answer, and prints one machine-readable "BENCH {...}" line when the run is done.
--
--   wrk -t1 -c8 -d10s --latency --timeout 10s -s bench/mix.lua URL -- BODIES_FILE
--
-- BODIES_FILE holds one JSON body per line (JSON has no raw newlines).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the bodies file")
  requests = {}
  for line in file:lines() do
    if #line > 0 then
      table.insert(requests, wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, line))
    end
  end
  file:close()
  assert(#requests > 0, "no bodies in the bodies file")
  cursor = 0
  non2xx = 0
end

function request()
  cursor = cursor % #requests + 1
  return requests[cursor]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, bad, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout
  ))
end
