-- report.lua: wrk's done() hook prints one JSON line the bench driver parses.
--
-- wrk's own text summary rounds and mixes units (1.23ms, 456.78us); this line has exact numbers:
-- durations and latencies in microseconds, bytes as counted by wrk, and every error class.
-- The driver looks for the line starting with "BENCH_JSON ".

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"max":%.1f,"mean":%.1f}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
