-- name: time_to_complete_percentiles
-- title: Time to complete, percentiles by priority
-- question: How many hours does a completed task take from creation to completion (p50, p90, p95), and do high-priority tasks really finish sooner?
SELECT
    priority,
    count(*) AS completed_tasks,
    approx_percentile(CAST(date_diff('minute', created_at, completed_at) AS double) / 60, 0.5) AS p50_hours,
    approx_percentile(CAST(date_diff('minute', created_at, completed_at) AS double) / 60, 0.9) AS p90_hours,
    approx_percentile(CAST(date_diff('minute', created_at, completed_at) AS double) / 60, 0.95) AS p95_hours
FROM silver_tasks
WHERE status = 'completed'
    AND completed_at IS NOT NULL
GROUP BY priority
ORDER BY CASE priority WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END
