"""`todo-insights pipeline run` and `reconcile` as commands, against a running ingesting_platform: the exit
codes and messages of SPEC §3 (0 when equal; 1 with each difference; a clear message, never a
traceback, when a stage fails or the platform cannot be drained)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from todo_contracts.lake_layout import CDC_FOLDER, INSIGHTS_EXPORT_MANIFEST, Layer
from todo_local.cli import main
from todo_local.platform import LocalPlatform

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def member(ingesting_platform: LocalPlatform, module_user_factory: Any) -> Any:
    user = module_user_factory()
    assert user.client.post("/api/v1/users", json={"name": "Cli"}).status_code == 201
    return user


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())  # the console wraps long lines


def test_pipeline_then_reconcile_exit_0(
    ingesting_platform: LocalPlatform, member: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert member.client.post("/api/v1/tasks", json={"title": "one"}).status_code == 201
    code, output = run(capsys, "pipeline", "run", "--dir", str(ingesting_platform.directory))
    assert code == 0, output
    # The command ran the insights loader into the platform's table (ADR 0014), once gold exports.
    assert "insights loader" in output
    if (Path(ingesting_platform.lake_dir) / Layer.GOLD.value / INSIGHTS_EXPORT_MANIFEST).is_file():
        insights = member.client.get("/api/v1/users/me/insights")
        assert insights.status_code == 200, insights.text
        assert insights.json()["total_tasks"] == 1
    code, output = run(capsys, "reconcile", "--dir", str(ingesting_platform.directory))
    assert code == 0, output
    assert "the lake equals the table" in output


def test_reconcile_exits_1_and_names_each_difference(
    ingesting_platform: LocalPlatform, member: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    task_id = member.client.post("/api/v1/tasks", json={"title": "not in the lake yet"}).json()["task_id"]
    code, output = run(capsys, "reconcile", "--dir", str(ingesting_platform.directory))
    assert code == 1
    assert f"task {task_id}: missing_in_silver" in output


def test_a_failing_silver_stage_is_exit_1_with_the_reason_not_a_traceback(
    ingesting_platform: LocalPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    cdc = Path(ingesting_platform.lake_dir) / Layer.BRONZE.value / CDC_FOLDER
    partitions = sorted(p for p in cdc.rglob("*") if p.is_dir())
    corrupt = partitions[-1] / "todo-local-cdc-1-2026-01-01-00-00-00-corrupt.gz"
    corrupt.write_bytes(b"this is not gzip")
    try:
        code, output = run(
            capsys, "pipeline", "run", "--dir", str(ingesting_platform.directory), "--full-rebuild"
        )
    finally:
        corrupt.unlink()
    assert code == 1
    assert "the silver stage failed (its pipeline_runs row records the failure)" in output
    assert "Traceback" not in output
    # With the bad object gone, the next run catches up and the lake equals the table again.
    assert run(capsys, "pipeline", "run", "--dir", str(ingesting_platform.directory))[0] == 0
    assert run(capsys, "reconcile", "--dir", str(ingesting_platform.directory))[0] == 0


def test_a_failed_drain_is_exit_2_with_a_clear_message(
    ingesting_platform: LocalPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("the poller lost its stream")

    ingesting_platform.add_drainer("broken", broken)  # last test of the module: drainers cannot be removed
    code, output = run(capsys, "pipeline", "run", "--dir", str(ingesting_platform.directory))
    assert code == 2
    assert "could not drain the platform" in output
    assert "Traceback" not in output


def test_without_a_platform_both_commands_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["pipeline", "run"], ["reconcile"]):
        code, output = run(capsys, *command, "--dir", str(tmp_path))
        assert code == 2
        assert "local up" in output
