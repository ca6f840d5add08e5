"""Report sections over tables a build may not have yet: they say so instead of failing."""

from __future__ import annotations

from pathlib import Path

import pytest

from todo_contracts import lake_layout
from todo_local import report


@pytest.mark.parametrize("name", ["GOLD_USER_INSIGHTS"])
def test_insights_say_why_when_the_table_is_not_in_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delattr(lake_layout, name, raising=False)
    section = report.insights_section(tmp_path, "some-user", "Someone")
    assert section.chart_png is None
    assert "not in this build" in section.text


def test_the_history_section_says_how_it_was_made() -> None:
    section = report.history_section("2 weeks of history for 6 users", [("steady", 1, "a few tasks")])
    assert section.text.startswith("2 weeks of history for 6 users. Every call went through")
    assert list(section.rows) == [("steady", 1, "a few tasks")]


def test_a_chart_is_a_png() -> None:
    png = report._figure_png(lambda ax: ax.plot([1, 2], [3, 4]))
    assert png.startswith(b"\x89PNG")
