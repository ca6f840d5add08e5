"""The contracts package: standard library only, and its one timestamp spelling."""

from __future__ import annotations

import ast
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import todo_contracts
from todo_contracts.lake_layout import GLUE_JOB_LAYERS, Layer, layer_argument
from todo_contracts.timestamps import rfc3339

PACKAGE = Path(todo_contracts.__file__).parent


def test_the_contracts_import_nothing_but_the_standard_library_and_themselves() -> None:
    """Every Lambda bundle and the Glue zip carry the package without its dependencies."""
    outside = set()
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top and top != "todo_contracts" and top not in sys.stdlib_module_names:
                    outside.add(f"{path.name}: {name}")
    assert not outside


def test_rfc3339_is_utc_with_milliseconds_and_z() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert rfc3339(datetime(2026, 11, 24, 8, 0, 0, 123456, tzinfo=tokyo)) == "2026-11-23T23:00:00.123Z"
    assert rfc3339(datetime(2026, 11, 23, 23, 0, tzinfo=UTC)) == "2026-11-23T23:00:00.000Z"
    assert rfc3339(datetime(2026, 11, 23, 23, 0)) == "2026-11-23T23:00:00.000Z"  # naive is UTC


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_rfc3339_strings_sort_as_their_instants(a: datetime, b: datetime) -> None:
    """Conditional writes and checkpoints compare these strings: their order is time order."""
    a, b = (d.replace(microsecond=d.microsecond // 1000 * 1000) for d in (a, b))
    assert (rfc3339(a) < rfc3339(b)) == (a < b)  # years are always four digits
    assert datetime.fromisoformat(rfc3339(a)) == a


def test_every_glue_job_reaches_silver_and_gold() -> None:
    """Silver holds the Iceberg warehouse, gold pipeline_runs: every job records its run there."""
    assert set(GLUE_JOB_LAYERS) == {"silver", "gold", "maintenance"}
    for job, layers in GLUE_JOB_LAYERS.items():
        assert {Layer.SILVER, Layer.GOLD} <= set(layers), job
    assert [layer_argument(layer) for layer in Layer] == ["bronze_uri", "silver_uri", "gold_uri"]
