-- name: user_insights_overview
-- title: User insights overview, per busiest weekday
-- question: On which weekday are users busiest, and how do those users compare (completion rate, current and longest streaks, overdue work, median hours to complete)?
SELECT
    coalesce(busiest_weekday, 'none yet') AS busiest_weekday,
    count(*) AS users,
    round(avg(completion_rate), 2) AS avg_completion_rate_pct,
    count_if(current_streak_days > 0) AS users_on_a_streak,
    max(longest_streak_days) AS longest_streak_days,
    sum(overdue_tasks) AS overdue_tasks,
    round(approx_percentile(median_hours_to_complete, 0.5), 2) AS median_of_median_hours,
    max(as_of) AS as_of
FROM gold_user_insights
GROUP BY coalesce(busiest_weekday, 'none yet')
ORDER BY
    CASE coalesce(busiest_weekday, 'none yet')
        WHEN 'Monday' THEN 1 WHEN 'Tuesday' THEN 2 WHEN 'Wednesday' THEN 3 WHEN 'Thursday' THEN 4
        WHEN 'Friday' THEN 5 WHEN 'Saturday' THEN 6 WHEN 'Sunday' THEN 7 ELSE 8
    END
