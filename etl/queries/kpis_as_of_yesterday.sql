-- name: kpis_as_of_yesterday
-- title: Business KPIs now and as the table stood 24 hours ago (Iceberg time travel)
-- question: How have the headline numbers moved since yesterday, read from the table's own history?
WITH yesterday AS (
    SELECT metric, value, snapshot_at
    FROM gold_business_kpis FOR TIMESTAMP AS OF (current_timestamp - INTERVAL '1' DAY)
),
latest_yesterday AS (
    SELECT metric, value, snapshot_at
    FROM yesterday
    WHERE snapshot_at = (SELECT max(snapshot_at) FROM yesterday)
),
latest_now AS (
    SELECT metric, value, snapshot_at
    FROM gold_business_kpis
    WHERE snapshot_at = (SELECT max(snapshot_at) FROM gold_business_kpis)
)
SELECT
    n.metric,
    y.value AS value_yesterday,
    n.value AS value_now,
    n.value - y.value AS change,
    y.snapshot_at AS snapshot_yesterday,
    n.snapshot_at AS snapshot_now
FROM latest_now n
LEFT JOIN latest_yesterday y ON y.metric = n.metric
ORDER BY n.metric
