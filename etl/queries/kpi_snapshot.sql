-- name: kpi_snapshot
-- title: Business KPIs, latest snapshot
-- question: What are the headline numbers right now (users, active users, tasks, completion rate, tasks per user)?
SELECT
    metric,
    value,
    snapshot_at
FROM gold_business_kpis
WHERE snapshot_at = (SELECT max(snapshot_at) FROM gold_business_kpis)
ORDER BY metric
