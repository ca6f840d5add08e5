-- name: overdue_open_tasks_by_priority
-- title: Overdue open tasks by priority
-- question: How many unfinished tasks are past their due date today, per priority, and how late are they?
SELECT
    priority,
    count(*) AS overdue_tasks,
    count(DISTINCT user_id) AS users_affected,
    min(due_date) AS oldest_due_date,
    max(date_diff('day', due_date, current_date)) AS max_days_overdue,
    round(avg(date_diff('day', due_date, current_date)), 1) AS avg_days_overdue
FROM silver_tasks
WHERE status <> 'completed'
    AND due_date < current_date
GROUP BY priority
ORDER BY CASE priority WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END
