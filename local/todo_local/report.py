"""The demo's report: charts of the gold tables and the run's figures, as PNGs and one HTML page."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


def _figure_png(draw: Any) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    draw(ax)
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


def engagement_section(lake_dir: Path) -> ReportSection:
    rows = sorted(
        read_lake_table(lake_dir, lake_layout.GOLD_USER_ENGAGEMENT), key=lambda r: -int(r["total_tasks"] or 0)
    )
    labels = [str(r["user_id"])[:8] for r in rows]
    rates = [float(r["completion_rate"] or 0) for r in rows]

    def draw(ax: Any) -> None:
        ax.barh(labels, rates, color="#8172b3")
        ax.set_xlim(0, 100)
        ax.set_xlabel("completion rate (%)")
        ax.invert_yaxis()

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
            for lbl, r in zip(labels, rows, strict=True)
        ],
        _figure_png(draw) if rows else None,
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


def daily_section(lake_dir: Path) -> ReportSection:
    rows = sorted(read_lake_table(lake_dir, lake_layout.GOLD_TASK_COMPLETION_DAILY), key=lambda r: r["date"])
    labels = [str(r["date"]) for r in rows]
    chart = (
        _figure_png(
            _bar_pairs(
                labels,
                [int(r["tasks_created"] or 0) for r in rows],
                [int(r["tasks_completed"] or 0) for r in rows],
                ("created", "completed"),
            )
        )
        if rows
        else None
    )
    return ReportSection(
        "Tasks per day (gold_task_completion_daily)",
        ("date", "created", "completed", "deleted", "avg h to complete", "p90 h"),
        [
            (
                str(r["date"]),
                r["tasks_created"],
                r["tasks_completed"],
                r.get("tasks_deleted"),
                None
                if r.get("avg_hours_to_complete") is None
                else round(float(r["avg_hours_to_complete"]), 3),
                None
                if r.get("p90_hours_to_complete") is None
                else round(float(r["p90_hours_to_complete"]), 3),
            )
            for r in rows
        ],
        chart,
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


def gold_sections(lake_dir: Path) -> list[ReportSection]:
    """One section per gold table the demo charts."""
    return [
        kpi_section(lake_dir),
        category_section(lake_dir),
        engagement_section(lake_dir),
        daily_section(lake_dir),
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
