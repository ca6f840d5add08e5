"""`make demo` as a test: the whole story on a small workload, in a hidden state folder as the
Makefile uses, must end with exit code 0 (every call as specified, the lake equal to the table)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from todo_local.demo import run_demo

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_the_demo_tells_the_whole_story_and_exits_0(tmp_path: Path) -> None:
    output = io.StringIO()
    code = run_demo(tmp_path / ".local-demo", tasks_per_user=3, console=Console(file=output, width=160))

    text = output.getvalue()
    assert code == 0, text[-4000:]
    assert "the lake equals the table" in text
    assert "Right to erasure" in text
    assert "nothing found" in text  # the deleted user's email and name are in no file of the lake
    report = tmp_path / ".local-demo" / "report" / "index.html"
    assert report.is_file()
    page = report.read_text(encoding="utf-8")
    assert "<img" in page  # the charts made it into the report
    # The erasure log reaches the report as the deleted user's id and a completed request only.
    erasure = page.split("Right to erasure (erasure_log)</h2>", 1)[1].split("<h2>", 1)[0]
    assert "completed" in erasure
    assert "@example.com" not in erasure
