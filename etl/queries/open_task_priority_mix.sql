-- name: open_task_priority_mix
-- title: Priority mix of open tasks
-- question: What share of the unfinished work is high, medium and low priority, and how much of it is in progress?
SELECT
    priority,
    count(*) AS open_tasks,
    count_if(status = 'in_progress') AS in_progress_tasks,
    round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS share_pct
FROM silver_tasks
WHERE status <> 'completed'
GROUP BY priority
ORDER BY CASE priority WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END
