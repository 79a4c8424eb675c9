-- Replays pre-built, pre-signed raw HTTP requests (one file, records separated by a marker line),
-- so that wrk spends no time building or signing requests while the clock runs.
local requests = {}
local index = 0

function init(args)
  local path = args[1]
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local marker = "\n--stackbox-bench-record--\n"
  local start = 1
  while true do
    local first, last = string.find(data, marker, start, true)
    if not first then break end
    table.insert(requests, string.sub(data, start, first - 1))
    start = last + 1
  end
  -- spread threads over the list so they do not replay the same request in lockstep
  index = math.random(#requests) - 1
end

function request()
  index = (index % #requests) + 1
  return requests[index]
end

function done(summary, latency, reqs)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
