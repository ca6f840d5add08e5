-- name: daily_active_users
-- title: Daily active users (last 30 days)
-- question: How many distinct users changed at least one task on each of the last 30 days, and how many changes did they make?
SELECT
    event_date,
    count(DISTINCT user_id) AS active_users,
    count(*) AS task_changes,
    count_if(change_type = 'created') AS tasks_created,
    count_if(change_type = 'completed') AS tasks_completed
FROM silver_task_events
WHERE event_date >= current_date - INTERVAL '29' DAY
GROUP BY event_date
ORDER BY event_date
