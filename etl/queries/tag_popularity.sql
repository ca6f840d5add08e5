-- name: tag_popularity
-- title: Most used tags
-- question: Which tags do people put on their live tasks most often, and how many of those tasks are done?
SELECT
    lower(tag) AS tag,
    count(*) AS tasks,
    count(DISTINCT user_id) AS users,
    count_if(status = 'completed') AS completed_tasks
FROM silver_tasks
CROSS JOIN UNNEST(tags) AS t (tag)
GROUP BY lower(tag)
ORDER BY tasks DESC, tag
LIMIT 20
