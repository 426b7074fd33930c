-- wrk script for bench/read_path.sh: every request asks for one path of a file of paths, and
-- done() prints one machine-readable line of the results.
--
-- Usage: wrk -t T -c C -d D --latency -s bench/read_path.lua URL -- PATHS [MODE] [OFFSET] [THREADS]
--   PATHS    a file of request paths, one a line (e.g. /api/v1/certificates/SMBENCH000001)
--   MODE     random (default): each request takes a uniformly random line;
--            walk: thread k of THREADS takes lines OFFSET+k+1, OFFSET+k+1+THREADS, ... in order,
--            so no path is asked twice until the file is used up (for a shuffled file of tokens)
--   OFFSET   walk mode: lines to skip, so that successive runs ask different paths (default 0)
--   THREADS  walk mode: wrk's -t (default 1)
--
-- The result line, in microseconds and requests per second:
--   READPATH requests=N duration_us=N rps=N p50_us=N p90_us=N p99_us=N max_us=N
--            err_connect=N err_read=N err_write=N err_status=N err_timeout=N wrapped=N

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local file = args[1] or error("read_path.lua: give a file of paths after --")
   mode = args[2] or "random"
   paths = {}
   for line in io.lines(file) do
      if line ~= "" then
         paths[#paths + 1] = line
      end
   end
   if #paths == 0 then
      error("read_path.lua: no paths in " .. file)
   end
   stride = tonumber(args[4] or "1")
   position = (tonumber(args[3] or "0") + id) % #paths + 1
   wrapped = 0
   math.randomseed(os.time() * 1000 + id)
end

function request()
   local path
   if mode == "walk" then
      path = paths[position]
      position = position + stride
      if position > #paths then
         position = (position - 1) % #paths + 1
         wrapped = 1
      end
   else
      path = paths[math.random(#paths)]
   end
   return wrk.format(nil, path)
end

function done(summary, latency, requests)
   local wraps = 0
   for _, thread in ipairs(threads) do
      wraps = wraps + (thread:get("wrapped") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      "READPATH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d "
         .. "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d wrapped=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout, wraps))
end
