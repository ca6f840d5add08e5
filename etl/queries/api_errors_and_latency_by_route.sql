-- name: api_errors_and_latency_by_route
-- title: API error rate and p95 latency by route (last 7 days)
-- question: Which API routes fail (4XX, 5XX) or run slow (p95 latency) over the last 7 days?
SELECT
    method,
    route,
    count(*) AS requests,
    count_if(status BETWEEN 400 AND 499) AS client_errors,
    count_if(status >= 500) AS server_errors,
    round(100.0 * count_if(status >= 500) / count(*), 2) AS server_error_rate_pct,
    approx_percentile(latency_ms, 0.95) AS p95_latency_ms
FROM silver_api_requests
WHERE request_date >= current_date - INTERVAL '6' DAY
GROUP BY method, route
ORDER BY server_errors DESC, requests DESC, route, method
