-- wrk script: replays one pre-signed request on every keep-alive connection
-- and prints the run's figures in a form bench/api/run parses.
--
-- The request comes from the file named by BENCH_REQUEST:
--   line 1: METHOD PATH
--   then one "Name: value" header per line, an empty line, and the body.
-- SigV4 signatures stay valid for 5 minutes, so the same bytes can be sent
-- again and again inside that window (AWS accepts such replays too).

local function load_request(path)
   local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
   local data = f:read("*a")
   f:close()
   local head, body = data:match("^(.-)\n\n(.*)$")
   assert(head, "request file has no empty line after the headers")
   local method, req_path, headers = nil, nil, {}
   for line in head:gmatch("[^\n]+") do
      if not method then
         method, req_path = line:match("^(%S+) (%S+)$")
         assert(method, "bad request line: " .. line)
      else
         local name, value = line:match("^([^:]+): (.*)$")
         assert(name, "bad header line: " .. line)
         headers[name] = value
      end
   end
   return method, req_path, headers, body
end

local method, req_path, headers, body = load_request(os.getenv("BENCH_REQUEST"))
wrk.method = method
wrk.path = req_path
wrk.headers = headers
wrk.body = body

-- No request() function: wrk then builds the request once per thread and
-- only writes those bytes, so the client costs the same for every server.

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d " ..
      "max_us=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
