-- name: weekly_cohort_retention
-- title: Weekly cohort retention
-- question: Of the users who signed up in a given week, what share changed a task 0, 1, 2, ... weeks later?
WITH cohorts AS (
    SELECT user_id, CAST(date_trunc('week', created_at) AS date) AS cohort_week
    FROM silver_users
),
cohort_sizes AS (
    SELECT cohort_week, count(*) AS cohort_users
    FROM cohorts
    GROUP BY cohort_week
),
activity AS (
    SELECT DISTINCT user_id, CAST(date_trunc('week', event_time) AS date) AS activity_week
    FROM silver_task_events
)
SELECT
    c.cohort_week,
    s.cohort_users,
    date_diff('week', c.cohort_week, a.activity_week) AS weeks_since_signup,
    count(DISTINCT a.user_id) AS active_users,
    round(100.0 * count(DISTINCT a.user_id) / s.cohort_users, 2) AS retention_pct
FROM cohorts AS c
JOIN activity AS a
    ON a.user_id = c.user_id
    AND a.activity_week >= c.cohort_week
JOIN cohort_sizes AS s
    ON s.cohort_week = c.cohort_week
GROUP BY c.cohort_week, s.cohort_users, date_diff('week', c.cohort_week, a.activity_week)
ORDER BY c.cohort_week, weeks_since_signup
