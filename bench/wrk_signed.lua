-- wrk script for bench/intake_throughput.py: replays pre-signed requests, one distinct request per call.
--
--   wrk -t N ... -s bench/wrk_signed.lua URL -- REQUESTS_FILE FIRST_INDEX N
--
-- REQUESTS_FILE has one request per line: path TAB headers TAB body, where headers are "Name: value"
-- pairs separated by \031 (unit separator). Bodies never hold a raw tab or newline (JSON escapes them;
-- form bodies are percent-encoded). The path comes from the file, not from URL, so a mode may post to
-- several paths. Lines before FIRST_INDEX are skipped, so a measured run does not resend what an
-- earlier run already sent (the gateway would answer those as duplicates). With N wrk threads (N is
-- passed again as the last argument), thread k takes every N-th line. Requests are formatted once, in
-- init(), so request() only returns a prepared string; wrk starts its clock after init().
--
-- done() prints one line "WRK_JSON {...}" on stdout: counts, non-2xx responses, latency in microseconds.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local function split(s, sep)
  local out, from = {}, 1
  while true do
    local i = string.find(s, sep, from, true)
    if not i then
      table.insert(out, string.sub(s, from))
      return out
    end
    table.insert(out, string.sub(s, from, i - 1))
    from = i + #sep
  end
end

function init(args)
  local file = args[1]
  local first = tonumber(args[2] or "0")
  local nthreads = tonumber(args[3] or "1")
  -- The first line this thread has not sent yet; done() turns these into the next run's FIRST_INDEX.
  next_line = first + tid
  stride = nthreads
  prepared = {}
  local n = 0
  local index = 0
  for line in io.lines(file) do
    if index >= first and (index - first) % nthreads == tid then
      local fields = split(line, "\t")
      local headers = {}
      if fields[2] ~= "" then
        for _, pair in ipairs(split(fields[2], "\031")) do
          local colon = string.find(pair, ": ", 1, true)
          headers[string.sub(pair, 1, colon - 1)] = string.sub(pair, colon + 2)
        end
      end
      n = n + 1
      prepared[n] = wrk.format("POST", fields[1], headers, fields[3])
    end
    index = index + 1
  end
  if n == 0 then
    error("no requests left in " .. file .. " from index " .. first)
  end
  count = n
  cursor = 0
  sent = 0
  wrapped = 0
  non2xx = 0
  statuses = {}
end

function request()
  cursor = cursor + 1
  if cursor > count then
    cursor = 1
    wrapped = wrapped + 1
  end
  sent = sent + 1
  next_line = next_line + stride
  return prepared[cursor]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local non2xx_total, sent_total, wrapped_total, prepared_total, next_index = 0, 0, 0, 0, 0
  local by_status = {}
  for _, t in ipairs(threads) do
    non2xx_total = non2xx_total + (t:get("non2xx") or 0)
    sent_total = sent_total + (t:get("sent") or 0)
    wrapped_total = wrapped_total + (t:get("wrapped") or 0)
    prepared_total = prepared_total + (t:get("count") or 0)
    next_index = math.max(next_index, t:get("next_line") or 0)
    local st = t:get("statuses") or {}
    for k, v in pairs(st) do
      by_status[k] = (by_status[k] or 0) + v
    end
  end
  local parts = {}
  for k, v in pairs(by_status) do
    table.insert(parts, string.format('"%s": %d', k, v))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "sent": %d, "next_index": %d, "prepared": %d, '
      .. '"wrapped": %d, '
      .. '"non_2xx": %d, "statuses": {%s}, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, '
      .. '"timeout": %d}, "latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, '
      .. '"p90": %d, "p99": %d, "p999": %d}}\n',
    summary.requests, summary.duration, summary.bytes, sent_total, next_index, prepared_total, wrapped_total,
    non2xx_total, table.concat(parts, ", "), e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)
  ))
end
