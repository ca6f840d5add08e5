-- name: completion_rate_by_category
-- title: Completion rate by category
-- question: Which categories of live tasks get finished, and which pile up unfinished?
SELECT
    category,
    count(*) AS total_tasks,
    count_if(status = 'completed') AS completed_tasks,
    round(100.0 * count_if(status = 'completed') / count(*), 2) AS completion_rate_pct
FROM silver_tasks
GROUP BY category
ORDER BY completion_rate_pct DESC, total_tasks DESC, category
