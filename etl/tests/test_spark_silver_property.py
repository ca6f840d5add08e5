"""Property: however a task's changes are split into files and hours, duplicated and reordered,
silver's current state is the state of its last version (or nothing, after a delete).

The bronze is read in two overlapping batches, as two incremental runs with a lookback would,
through the same functions `run_silver` chains (read, validate, merge history, current state).
"""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from todo_etl.glue import bronze_reader, silver_transform
from todo_etl.glue.lake_fs import LakeFs, join
from todo_etl.lake_layout import CDC_FOLDER

pytestmark = pytest.mark.spark

STATUSES = ("pending", "in_progress", "completed")
ARRIVAL = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)

# One task's life: the status of each version, and whether it ends with a delete.
task_lives = st.tuples(st.lists(st.sampled_from(STATUSES), min_size=1, max_size=4), st.booleans())


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    lives=st.lists(task_lives, min_size=1, max_size=3),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    hours=st.integers(min_value=1, max_value=4),
)
def test_silver_state_is_the_last_version_whatever_the_delivery(
    spark: Any, kit: Any, lives: list[tuple[list[str], bool]], seed: int, hours: int
) -> None:
    shuffle = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        bronze = kit.Bronze(Path(folder) / "bronze")
        records: list[dict[str, Any]] = []
        expected: dict[str, tuple[int, str, str]] = {}
        for n, (statuses, deleted) in enumerate(lives):
            task_id = f"t{n}"
            for version, status in enumerate(statuses, start=1):
                title = f"{task_id} v{version}"
                item = kit.task_item("u1", task_id, version, kit.T0, status=status, title=title)
                records.append(bronze.put(item))
                expected[task_id] = (version, status, title)
            if deleted:
                records.append(bronze.delete("USER#u1", f"TASK#{task_id}"))
                del expected[task_id]
        # Every record lands in a random hour; some are delivered a second time elsewhere.
        deliveries = records + [r for r in records if shuffle.random() < 0.3]
        shuffle.shuffle(deliveries)
        by_hour: dict[int, list[dict[str, Any]]] = {}
        for record in deliveries:
            by_hour.setdefault(shuffle.randrange(hours), []).append(record)
        for hour, batch in sorted(by_hour.items()):
            bronze.write(batch, ARRIVAL + timedelta(hours=hour))

        partitions = LakeFs(spark).hour_partitions(join(str(bronze.root), CDC_FOLDER))
        split = shuffle.randrange(1, len(partitions) + 1)
        history = None
        # The second batch re-reads the first batch's newest hour, like the lookback does.
        for selected in (partitions[:split], partitions[max(split - 1, 0) :]):
            parsed = bronze_reader.parse_cdc(bronze_reader.read_lines(spark, selected), ARRIVAL)
            history = silver_transform.merge_history(history, parsed.valid)
            assert parsed.quarantine.count() == 0
        assert history is not None
        tasks = silver_transform.current_tasks(history).collect()
        assert {t["task_id"]: (t["version"], t["status"], t["title"]) for t in tasks} == expected
        events = silver_transform.task_events(history).collect()
        assert len(events) == len(records)
