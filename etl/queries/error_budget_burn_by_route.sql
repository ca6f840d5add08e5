-- name: error_budget_burn_by_route
-- title: Error budget burn per route against a 99.9% availability SLO (last 30 days)
-- question: Which API routes spend the error budget of a 99.9% availability SLO fastest over the last 30 days (burn rate = 5XX rate / 0.1%; above 1 the route fails more often than the SLO allows)?
SELECT
    method,
    route,
    sum(requests) AS requests,
    sum(server_errors) AS server_errors,
    round(100.0 * sum(server_errors) / sum(requests), 4) AS server_error_rate_pct,
    round(CAST(sum(server_errors) AS double) / sum(requests) / 0.001, 2) AS burn_rate
FROM gold_api_usage_daily
WHERE "date" >= current_date - INTERVAL '29' DAY
GROUP BY method, route
ORDER BY burn_rate DESC, requests DESC, route, method
