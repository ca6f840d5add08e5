-- name: category_weekly_trend
-- title: Weekly created versus completed per category
-- question: Per category and week, is the backlog growing (more created than completed) or shrinking?
SELECT
    date_trunc('week', "date") AS week,
    category,
    sum(tasks_created) AS tasks_created,
    sum(tasks_completed) AS tasks_completed,
    sum(tasks_created) - sum(tasks_completed) AS backlog_change
FROM gold_category_trends
GROUP BY date_trunc('week', "date"), category
ORDER BY week, category
