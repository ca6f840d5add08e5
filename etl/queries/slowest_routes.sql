-- name: slowest_routes
-- title: Slowest API routes by p95 latency (last 7 days)
-- question: Which API routes are slowest over the last 7 days, by their worst daily p95 latency (and the request-weighted mean of the daily p95s, since percentiles of different days cannot be merged exactly)?
SELECT
    method,
    route,
    sum(requests) AS requests,
    max(p95_latency_ms) AS worst_daily_p95_ms,
    round(sum(p95_latency_ms * requests) / sum(requests), 2) AS weighted_p95_ms,
    max(p99_latency_ms) AS worst_daily_p99_ms,
    count(*) AS days_with_traffic
FROM gold_api_usage_daily
WHERE "date" >= current_date - INTERVAL '6' DAY
GROUP BY method, route
ORDER BY worst_daily_p95_ms DESC, requests DESC, route, method
