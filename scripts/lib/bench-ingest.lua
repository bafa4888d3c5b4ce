-- wrk script for scripts/bench-ingest.
--
-- BENCH_BODIES names a file of lines "sha256=<hex>\t<json body>\n" (from `dmdesk bench bodies`). Every request
-- gets its own body and X-Hub-Signature-256 header. wrk thread k of n takes the k-th contiguous slice of the
-- file (cut at line boundaries), so threads never share a body; a thread that runs out of its slice starts
-- it again, and those re-sent bodies are counted as "reused" (for dmdesk they are redeliveries).
-- init() only reads the file into one string (fast, so the threads start together); request() walks it.
--
-- done() prints machine-readable lines:
--   BENCH requests=N non200=N errors=N sent=N reused=N bodies=N rps=X p50_ms=X p99_ms=X max_ms=X secs=X
--   BENCH status <code>: N        (one per non-200 status seen)

local path = os.getenv("BENCH_BODIES")
local target = os.getenv("BENCH_PATH") or "/webhooks/instagram"
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   if path == nil then error("BENCH_BODIES is not set") end
   local f = assert(io.open(path, "rb"))
   local all = f:read("*a")
   f:close()
   local len = #all
   -- this thread's slice: [first, last], whole lines only
   local first = math.floor(id * len / nthreads) + 1
   if id > 0 then
      local nl = string.find(all, "\n", first - 1, true)
      first = nl and nl + 1 or len + 1
   end
   local last = len
   if id < nthreads - 1 then
      local cut = math.floor((id + 1) * len / nthreads) + 1
      local nl = string.find(all, "\n", cut - 1, true)
      last = nl or len
   end
   data_ = string.sub(all, first, last)
   all = nil
   pos_ = 1
   bodies = 0
   for _ in string.gmatch(data_, "\n") do bodies = bodies + 1 end
   if bodies == 0 then error("no bodies for thread " .. id .. " in " .. path) end
   local host = wrk.host
   if wrk.port then host = host .. ":" .. wrk.port end
   prefix_ = "POST " .. target .. " HTTP/1.1\r\nHost: " .. host ..
      "\r\nContent-Type: application/json\r\nX-Hub-Signature-256: "
   calls = 0
   non200 = 0
   statuses = {}
end

function request()
   calls = calls + 1
   local nl = string.find(data_, "\n", pos_, true)
   if nl == nil then
      pos_ = 1
      nl = string.find(data_, "\n", pos_, true)
   end
   local tab = string.find(data_, "\t", pos_, true)
   local sig = string.sub(data_, pos_, tab - 1)
   local body = string.sub(data_, tab + 1, nl - 1)
   pos_ = nl + 1
   return prefix_ .. sig .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      local k = tostring(status)
      statuses[k] = (statuses[k] or 0) + 1
   end
end

function done(summary, latency, requests)
   local non, sent, reused, bodiesAll = 0, 0, 0, 0
   local byStatus = {}
   for _, t in ipairs(threads) do
      non = non + (t:get("non200") or 0)
      local c = t:get("calls") or 0
      -- wrk calls request() once on thread 0 before the run to check the script; that one is never sent
      if t:get("id") == 0 and c > 0 then c = c - 1 end
      local b = t:get("bodies") or 0
      sent = sent + c
      bodiesAll = bodiesAll + b
      if c > b then reused = reused + c - b end
      local st = t:get("statuses")
      if st then
         for k, v in pairs(st) do byStatus[k] = (byStatus[k] or 0) + v end
      end
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d non200=%d errors=%d sent=%d reused=%d bodies=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f secs=%.3f\n",
      summary.requests, non, e.connect + e.read + e.write + e.timeout, sent, reused, bodiesAll,
      summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000, secs))
   for k, v in pairs(byStatus) do
      io.write(string.format("BENCH status %s: %d\n", k, v))
   end
end
