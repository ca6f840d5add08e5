-- name: pipeline_health
-- title: Pipeline health: latest run of each job
-- question: Did the latest silver and gold runs succeed, how long did they take, how long ago did they finish, and did they quarantine records or find drift or anomalies?
WITH ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY job ORDER BY started_at DESC) AS recency
    FROM pipeline_runs
)
SELECT
    job,
    run_id,
    status,
    started_at,
    ended_at,
    date_diff('second', started_at, ended_at) AS duration_seconds,
    date_diff('minute', ended_at, CAST(current_timestamp AS timestamp)) AS minutes_since_end,
    rows_in,
    quarantined,
    drift,
    anomalies
FROM ranked
WHERE recency = 1
ORDER BY job
