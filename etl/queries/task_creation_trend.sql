-- name: task_creation_trend
-- title: Task creation trend with a 7-day moving average
-- question: Is task creation growing? Daily tasks created and completed, with 7-day moving averages over every calendar day (days without activity count as zero).
WITH bounds AS (
    SELECT min("date") AS first_day, max("date") AS last_day
    FROM gold_task_completion_daily
),
calendar AS (
    SELECT CAST(calendar_day AS date) AS activity_date
    FROM bounds
    CROSS JOIN UNNEST(sequence(first_day, last_day, INTERVAL '1' DAY)) AS t (calendar_day)
),
daily AS (
    SELECT
        c.activity_date,
        coalesce(g.tasks_created, 0) AS tasks_created,
        coalesce(g.tasks_completed, 0) AS tasks_completed
    FROM calendar AS c
    LEFT JOIN gold_task_completion_daily AS g
        ON g."date" = c.activity_date
)
SELECT
    activity_date,
    tasks_created,
    tasks_completed,
    round(avg(tasks_created) OVER (ORDER BY activity_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW), 2)
        AS created_7d_avg,
    round(avg(tasks_completed) OVER (ORDER BY activity_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW), 2)
        AS completed_7d_avg
FROM daily
ORDER BY activity_date
