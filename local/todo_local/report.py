"""The demo's report: charts of the gold tables and the run's figures, as PNGs and one HTML page.

Every figure is read from the lake the pipeline built (gold tables, or Athena SQL on silver and
gold through the local engine), never from what the demo sent. Sections over tables that a build
may not have yet (`gold_user_insights`, `gold_api_usage_daily`) say so instead of failing.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from todo_contracts import lake_layout
from todo_local.reconcile import read_lake_table


@dataclass
class ReportSection:
    """A titled block of the report: a table of rows, optionally with a chart."""

    title: str
    columns: Sequence[str] = ()
    rows: Sequence[Sequence[Any]] = ()
    chart_png: bytes | None = None
    text: str = ""


@dataclass
class Report:
    title: str
    sections: list[ReportSection] = field(default_factory=list)


def _figure_png(draw: Any, *, rows: int = 1, size: tuple[float, float] = (7, 3.2)) -> bytes:
    """A chart as PNG bytes: `draw` gets the axes (a list of `rows` axes when rows > 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, 1, figsize=size, dpi=110, squeeze=False)
    flat = [row[0] for row in axes]
    draw(flat if rows > 1 else flat[0])
    for ax in flat:
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _bar_pairs(
    labels: Sequence[str], first: Sequence[float], second: Sequence[float], names: tuple[str, str]
) -> Any:
    def draw(ax: Any) -> None:
        positions = range(len(labels))
        width = 0.4
        ax.bar([p - width / 2 for p in positions], first, width, label=names[0], color="#4c72b0")
        ax.bar([p + width / 2 for p in positions], second, width, label=names[1], color="#55a868")
        ax.set_xticks(list(positions), labels, rotation=20, ha="right")
        ax.legend(frameon=False)

    return draw


def category_section(lake_dir: Path) -> ReportSection:
    rows = read_lake_table(lake_dir, lake_layout.GOLD_CATEGORY_TRENDS)
    totals: dict[str, list[int]] = {}
    for row in rows:
        counts = totals.setdefault(str(row["category"]), [0, 0])
        counts[0] += int(row["tasks_created"] or 0)
        counts[1] += int(row["tasks_completed"] or 0)
    labels = sorted(totals, key=lambda c: -totals[c][0])
    chart = (
        _figure_png(
            _bar_pairs(
                labels,
                [totals[c][0] for c in labels],
                [totals[c][1] for c in labels],
                ("created", "completed"),
            )
        )
        if labels
        else None
    )
    return ReportSection(
        "Tasks by category (gold_category_trends)",
        ("category", "created", "completed"),
        [(c, totals[c][0], totals[c][1]) for c in labels],
        chart,
    )


ENGAGEMENT_ROWS = 12  # the table lists the most active users; the chart shows everyone


def engagement_section(lake_dir: Path) -> ReportSection:
    """Every user as a dot: tasks against completion rate (habits show as clusters)."""
    rows = sorted(
        read_lake_table(lake_dir, lake_layout.GOLD_USER_ENGAGEMENT), key=lambda r: -int(r["total_tasks"] or 0)
    )
    labels = [str(r["user_id"])[:8] for r in rows]
    totals = [int(r["total_tasks"] or 0) for r in rows]
    rates = [float(r["completion_rate"] or 0) for r in rows]
    overdue = [int(r.get("overdue_tasks") or 0) for r in rows]

    def draw(ax: Any) -> None:
        points = ax.scatter(totals, rates, c=overdue, cmap="OrRd", s=42, edgecolors="#555", linewidths=0.5)
        ax.set_ylim(0, 105)
        ax.set_xlabel("live tasks")
        ax.set_ylabel("completion rate (%)")
        ax.grid(alpha=0.3)
        ax.figure.colorbar(points, ax=ax, label="overdue tasks", fraction=0.04)

    shown = list(zip(labels, rows, strict=True))[:ENGAGEMENT_ROWS]
    return ReportSection(
        "Completion rate per user (gold_user_engagement)",
        ("user", "total", "completed", "open", "overdue", "rate %"),
        [
            (
                lbl,
                r["total_tasks"],
                r["completed_tasks"],
                r.get("open_tasks"),
                r.get("overdue_tasks"),
                round(float(r["completion_rate"] or 0), 1),
            )
            for lbl, r in shown
        ],
        _figure_png(draw, size=(7.5, 3.6)) if rows else None,
        text=f"{len(rows)} users, one dot each; the table lists the {len(shown)} with the most tasks."
        if rows
        else "",
    )


def kpi_section(lake_dir: Path) -> ReportSection:
    rows = read_lake_table(lake_dir, lake_layout.GOLD_BUSINESS_KPIS)
    if not rows:
        return ReportSection("Business KPIs (gold_business_kpis)", text="no snapshot yet")
    latest = max(r["snapshot_at"] for r in rows)
    values = {str(r["metric"]): float(r["value"]) for r in rows if r["snapshot_at"] == latest}
    ordered = [m for m in lake_layout.BUSINESS_KPI_METRICS if m in values]
    return ReportSection(
        "Business KPIs (gold_business_kpis, latest snapshot)",
        ("metric", "value"),
        [(m, round(values[m], 2)) for m in ordered],
        text=f"snapshot at {latest}",
    )


def _week_axis(ax: Any) -> None:
    """Dates on the x axis, one tick per Monday."""
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))  # type: ignore[no-untyped-call]
    ax.grid(axis="y", alpha=0.3)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _round(value: Any, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def daily_section(lake_dir: Path) -> ReportSection:
    """The completion trend over the whole history: created and completed per day, a week per row."""
    rows = sorted(read_lake_table(lake_dir, lake_layout.GOLD_TASK_COMPLETION_DAILY), key=lambda r: r["date"])
    if not rows:
        return ReportSection("Completion trend (gold_task_completion_daily)", text="no day in gold yet")
    days = [r["date"] for r in rows]
    created = [int(r["tasks_created"] or 0) for r in rows]
    completed = [int(r["tasks_completed"] or 0) for r in rows]

    def draw(ax: Any) -> None:
        ax.bar(days, created, width=0.8, color="#4c72b0", alpha=0.35, label="created")
        ax.plot(
            days, completed, color="#55a868", linewidth=1.8, marker="o", markersize=2.5, label="completed"
        )
        ax.set_ylabel("tasks per day")
        ax.legend(frameon=False, loc="upper left")
        _week_axis(ax)

    weeks: dict[date, list[int]] = {}
    for r in rows:
        week = weeks.setdefault(_monday(r["date"]), [0, 0, 0, 0])
        week[0] += int(r["tasks_created"] or 0)
        week[1] += int(r["tasks_completed"] or 0)
        week[2] += int(r.get("tasks_deleted") or 0)
        week[3] += 1
    span = (
        f"{days[0]:%d %b %Y} to {days[-1]:%d %b %Y}, {len(days)} days with activity; the last day "
        "also holds the demo's live traffic."
    )
    return ReportSection(
        "Completion trend: tasks per day (gold_task_completion_daily)",
        ("week of", "days", "created", "completed", "deleted"),
        [(f"{w:%Y-%m-%d}", v[3], v[0], v[1], v[2]) for w, v in sorted(weeks.items())],
        _figure_png(draw, size=(9, 3.4)),
        text=span,
    )


PERCENTILES_SQL = """
SELECT CAST(date_trunc('week', completed_at) AS date) AS week,
       count(*) AS completed,
       approx_percentile(CAST(date_diff('minute', created_at, completed_at) AS double) / 60, 0.5)
           AS p50_hours,
       approx_percentile(CAST(date_diff('minute', created_at, completed_at) AS double) / 60, 0.9)
           AS p90_hours
FROM silver_tasks
WHERE status = 'completed' AND completed_at IS NOT NULL
GROUP BY 1
ORDER BY 1
""".strip()


def percentiles_section(lake_dir: Path) -> ReportSection:
    """Hours from creation to completion, p50 and p90 per completion week (Athena SQL on silver)."""
    from todo_local.athena_engine import AthenaEngine

    title = "Time to complete per week, p50 and p90 (silver_tasks, Athena SQL)"
    with AthenaEngine(lake_dir) as engine:
        result = engine.query(PERCENTILES_SQL)
    if not result.rows:
        return ReportSection(title, text="no completed task yet")
    weeks = [r[0] for r in result.rows]
    p50 = [float(r[2]) for r in result.rows]
    p90 = [float(r[3]) for r in result.rows]

    def draw(ax: Any) -> None:
        ax.plot(weeks, p90, color="#c44e52", marker="o", label="p90")
        ax.plot(weeks, p50, color="#4c72b0", marker="o", label="p50")
        ax.fill_between(weeks, p50, p90, color="#c44e52", alpha=0.08)
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

        ax.set_yscale("log")
        # Plain hours at 1-2-5 steps (not 5x10^1, and no crowded minor labels).
        ax.yaxis.set_major_locator(FixedLocator([0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
        ax.set_ylabel("hours to complete (log scale)")
        ax.legend(frameon=False, loc="upper left")
        _week_axis(ax)

    return ReportSection(
        title,
        ("week of", "completed", "p50 h", "p90 h"),
        [(f"{r[0]:%Y-%m-%d}", r[1], round(float(r[2]), 1), round(float(r[3]), 1)) for r in result.rows],
        _figure_png(draw, size=(9, 3.2)),
        text="Live tasks completed in each week (a task's latest completion); the query is in this "
        "section's source: PERCENTILES_SQL.",
    )


def cohort_section(lake_dir: Path) -> ReportSection:
    """The named query weekly_cohort_retention as a heat map: sign-up week by weeks since sign-up."""
    from todo_etl.queries import load_queries
    from todo_local.athena_engine import AthenaEngine

    title = "Weekly cohort retention (named query weekly_cohort_retention)"
    query = next((q for q in load_queries() if q.name == "weekly_cohort_retention"), None)
    if query is None:
        return ReportSection(title, text="the named query is not in this build")
    with AthenaEngine(lake_dir) as engine:
        result = engine.query(query.sql)
    column = {name: i for i, name in enumerate(result.columns)}
    cells: dict[tuple[date, int], float] = {}
    sizes: dict[date, int] = {}
    for row in result.rows:
        week, since = row[column["cohort_week"]], int(row[column["weeks_since_signup"]])
        cells[(week, since)] = float(row[column["retention_pct"]])
        sizes[week] = int(row[column["cohort_users"]])
    if not cells:
        return ReportSection(title, text="no cohort yet")
    cohorts = sorted(sizes)
    horizon = max(since for _, since in cells) + 1

    def draw(ax: Any) -> None:
        import numpy as np

        grid = np.full((len(cohorts), horizon), np.nan)
        for (week, since), pct in cells.items():
            grid[cohorts.index(week), since] = pct
        image = ax.imshow(grid, cmap="YlGnBu", vmin=0, vmax=100, aspect="auto")
        for (y, x), pct in np.ndenumerate(grid):
            if not np.isnan(pct):
                ax.text(x, y, f"{pct:.0f}", ha="center", va="center", fontsize=8,
                        color="white" if pct > 60 else "#222")  # fmt: skip
        ax.set_xticks(range(horizon), [str(n) for n in range(horizon)])
        ax.set_yticks(range(len(cohorts)), [f"{w:%d %b} (n={sizes[w]})" for w in cohorts])
        ax.set_xlabel("weeks since sign-up")
        ax.set_ylabel("sign-up week")
        ax.figure.colorbar(image, ax=ax, label="% of cohort active", fraction=0.04)
        ax.spines[["left", "bottom"]].set_visible(False)

    height = max(2.6, 0.42 * len(cohorts) + 1.3)
    return ReportSection(
        title,
        ("sign-up week", "users", *[f"+{n}w %" for n in range(horizon)]),
        [(f"{w:%Y-%m-%d}", sizes[w], *[cells.get((w, n)) for n in range(horizon)]) for w in cohorts],
        _figure_png(draw, size=(9, height)),
        text="Share of each sign-up week's users who changed a task n weeks later (silver_users, "
        "silver_task_events). The newest cohorts have had fewer weeks to come back.",
    )


def insights_section(lake_dir: Path, user_id: str | None, who: str) -> ReportSection:
    """One user's row of gold_user_insights: streaks, and the top categories as a chart."""
    title = f"One user's insights: {who} (gold_user_insights)"
    table = getattr(lake_layout, "GOLD_USER_INSIGHTS", None)
    if table is None:
        return ReportSection(title, text="gold_user_insights is not in this build of the pipeline")
    if user_id is None:
        return ReportSection(title, text="no history user to show")
    rows = [r for r in read_lake_table(lake_dir, table) if r["user_id"] == user_id]
    if not rows:
        return ReportSection(title, text="the latest gold run has no insights for this user")
    row = max(rows, key=lambda r: r["as_of"])
    categories = list(row.get("top_categories") or [])
    labels = [str(c["category"]) for c in categories]
    chart = (
        _figure_png(
            _bar_pairs(
                labels,
                [int(c["created"] or 0) for c in categories],
                [int(c["completed"] or 0) for c in categories],
                ("created", "completed"),
            ),
            size=(6, 2.8),
        )
        if labels
        else None
    )
    fields = [k for k in row if k not in ("user_id", "top_categories")]
    return ReportSection(
        title,
        ("figure", "value"),
        [(k, _round(row[k], 2) if isinstance(row[k], float) else row[k]) for k in fields],
        chart,
        text=f"current streak {row.get('current_streak_days')} days, longest "
        f"{row.get('longest_streak_days')} days; the chart shows the top categories.",
    )


API_USAGE_FROM_SILVER_SQL = """
SELECT request_date AS date,
       count(*) AS requests,
       count_if(status >= 400 AND status < 500) AS client_errors,
       count_if(status >= 500) AS server_errors,
       approx_percentile(latency_ms, 0.5) AS p50_latency_ms,
       approx_percentile(latency_ms, 0.95) AS p95_latency_ms,
       approx_percentile(latency_ms, 0.99) AS p99_latency_ms
FROM silver_api_requests
GROUP BY 1
ORDER BY 1
""".strip()


def _api_days(lake_dir: Path) -> tuple[str, str, list[dict[str, Any]]]:
    """Per day: requests, errors and latency percentiles; from gold_api_usage_daily when this build
    has it (latency of the busiest route: percentiles of routes do not add up), else silver."""
    table = getattr(lake_layout, "GOLD_API_USAGE_DAILY", None)
    if table is not None:
        rows = read_lake_table(lake_dir, table)
        by_route: dict[str, int] = {}
        for r in rows:
            route = f"{r['method']} {r['route']}"
            by_route[route] = by_route.get(route, 0) + int(r["requests"] or 0)
        busiest = max(by_route, key=lambda k: by_route[k]) if by_route else ""
        days: dict[date, dict[str, Any]] = {}
        for r in rows:
            day = days.setdefault(r["date"], {"date": r["date"], "requests": 0, "errors": 0})
            day["requests"] += int(r["requests"] or 0)
            day["errors"] += int(r["client_errors"] or 0) + int(r["server_errors"] or 0)
            if f"{r['method']} {r['route']}" == busiest:
                for p in ("p50", "p95", "p99"):
                    day[p] = r[f"{p}_latency_ms"]
        return (
            "gold_api_usage_daily",
            f"latency of the busiest route, {busiest}",
            sorted(days.values(), key=lambda d: d["date"]),
        )
    from todo_local.athena_engine import AthenaEngine

    with AthenaEngine(lake_dir) as engine:
        result = engine.query(API_USAGE_FROM_SILVER_SQL)
    out = []
    for row in result.rows:
        values = dict(zip(result.columns, row, strict=True))
        out.append(
            {
                "date": values["date"],
                "requests": int(values["requests"]),
                "errors": int(values["client_errors"]) + int(values["server_errors"]),
                "p50": values["p50_latency_ms"],
                "p95": values["p95_latency_ms"],
                "p99": values["p99_latency_ms"],
            }
        )
    return "silver_api_requests; gold_api_usage_daily is not in this build", "latency of all routes", out


API_TABLE_DAYS = 14


def api_usage_section(lake_dir: Path) -> ReportSection:
    """Requests and error rate per day, and latency percentiles per day."""
    source, latency_note, days = _api_days(lake_dir)
    title = f"API usage per day ({source})"
    if not days:
        return ReportSection(title, text="no request in the lake yet")
    dates = [d["date"] for d in days]
    rates = [100.0 * d["errors"] / d["requests"] if d["requests"] else 0.0 for d in days]

    def draw(axes: Any) -> None:
        top, bottom = axes
        top.bar(dates, [d["requests"] for d in days], width=0.8, color="#4c72b0", alpha=0.6)
        top.set_ylabel("requests")
        rate = top.twinx()
        rate.plot(dates, rates, color="#c44e52", linewidth=1.5, label="error rate (4xx+5xx)")
        rate.set_ylabel("error rate %", color="#c44e52")
        rate.set_ylim(0, max(10.0, max(rates) * 1.3))
        rate.spines[["top"]].set_visible(False)
        rate.legend(frameon=False, loc="upper left")
        _week_axis(top)
        for p, color in (("p99", "#c44e52"), ("p95", "#dd8452"), ("p50", "#4c72b0")):
            points = [(d["date"], float(d[p])) for d in days if d.get(p) is not None]
            if points:
                bottom.plot(*zip(*points, strict=True), marker="o", markersize=2.5, color=color, label=p)
        bottom.set_ylabel("latency ms")
        bottom.set_title(latency_note, fontsize=9, loc="left")
        bottom.legend(frameon=False, loc="upper left", ncols=3)
        _week_axis(bottom)

    recent = list(zip(days, rates, strict=True))[-API_TABLE_DAYS:]
    return ReportSection(
        title,
        ("date", "requests", "4xx+5xx", "error rate %", "p50 ms", "p95 ms", "p99 ms"),
        [
            (
                f"{d['date']:%Y-%m-%d}",
                d["requests"],
                d["errors"],
                round(rate, 2),
                _round(d.get("p50")),
                _round(d.get("p95")),
                _round(d.get("p99")),
            )
            for d, rate in recent
        ],
        _figure_png(draw, rows=2, size=(9, 5.4)),
        text=f"{len(days)} days; the table shows the last {len(recent)}. Replayed history requests "
        "were made in-process, milliseconds apart in real time: their latency is this machine's, "
        "their dates the simulated ones.",
    )


def history_section(description: str, personas: Sequence[tuple[str, int, str]]) -> ReportSection:
    """How the history in every chart below was made."""
    return ReportSection(
        "How this history was made",
        ("habit", "users", "what they do"),
        personas,
        text=description
        + ". Every call went through the local gateway (Cognito authorizer, the same Lambda handler) "
        "to the table, its stream, CDC, Firehose and the pipeline; only the clock was simulated.",
    )


def erasure_section(lake_dir: Path) -> ReportSection:
    """The erasure log: who (user id only), when asked for and done, and what the step rewrote."""
    rows = sorted(read_lake_table(lake_dir, lake_layout.ERASURE_LOG), key=lambda r: str(r["requested_at"]))
    return ReportSection(
        "Right to erasure (erasure_log)",
        ("user id", "status", "requested at", "completed at", "objects rewritten", "records", "rows deleted"),
        [
            (
                r["user_id"],
                r["status"],
                r["requested_at"],
                r["completed_at"],
                r["objects_rewritten"],
                r["records_redacted"],
                r["rows_deleted"],
            )
            for r in rows
        ],
        text="" if rows else "no account has been deleted yet",
    )


def gold_sections(
    lake_dir: Path, insights_user: str | None = None, insights_who: str = ""
) -> list[ReportSection]:
    """The charts of the lake, trend first."""
    return [
        kpi_section(lake_dir),
        daily_section(lake_dir),
        cohort_section(lake_dir),
        percentiles_section(lake_dir),
        insights_section(lake_dir, insights_user, insights_who),
        api_usage_section(lake_dir),
        category_section(lake_dir),
        engagement_section(lake_dir),
    ]


def table_section(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], text: str = ""
) -> ReportSection:
    return ReportSection(title, columns, rows, text=text)


def _cell(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def write_report(report: Report, out_dir: Path) -> Path:
    """Write `index.html` (charts inline) and one PNG per chart into `out_dir`; returns the page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{html.escape(report.title)}</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:2em auto;max-width:960px;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ddd;padding:3px 8px}"
        "th{background:#f4f4f4}h2{margin-top:1.6em}</style>",
        f"<h1>{html.escape(report.title)}</h1>",
    ]
    for n, section in enumerate(report.sections, start=1):
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        if section.chart_png:
            (out_dir / f"chart-{n:02d}.png").write_bytes(section.chart_png)
            encoded = base64.b64encode(section.chart_png).decode()
            parts.append(f"<img alt='{html.escape(section.title)}' src='data:image/png;base64,{encoded}'>")
        if section.columns:
            parts.append("<table><tr>" + "".join(f"<th>{_cell(c)}</th>" for c in section.columns) + "</tr>")
            for row in section.rows:
                parts.append("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>")
            parts.append("</table>")
    page = out_dir / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page


def rows_from_mapping(values: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in values.items()]
