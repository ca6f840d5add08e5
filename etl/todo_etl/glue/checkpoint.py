"""The silver job's checkpoint: the newest arrival hour read from each bronze source."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from todo_etl.glue.lake_fs import HourPartition, LakeFs, join

CHECKPOINT_KEY = "_state/checkpoint.json"


@dataclass
class Checkpoint:
    """High-water arrival hour per bronze folder (cdc, logs) and the run that set it."""

    high_water: dict[str, datetime] = field(default_factory=dict)
    run_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "high_water": {k: v.isoformat() for k, v in sorted(self.high_water.items())},
                "run_id": self.run_id,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        data = json.loads(text)
        marks = {str(k): datetime.fromisoformat(str(v)) for k, v in data.get("high_water", {}).items()}
        return cls(high_water=marks, run_id=data.get("run_id"))


def read_checkpoint(fs: LakeFs, silver_uri: str) -> Checkpoint | None:
    text = fs.read_text(join(silver_uri, CHECKPOINT_KEY))
    return Checkpoint.from_json(text) if text else None


def write_checkpoint(fs: LakeFs, silver_uri: str, checkpoint: Checkpoint) -> None:
    fs.write_text(join(silver_uri, CHECKPOINT_KEY), checkpoint.to_json())


def partitions_to_read(
    partitions: list[HourPartition], high_water: datetime | None, lookback_hours: int
) -> list[HourPartition]:
    """Every partition at or after `high_water - lookback` (all of them without a high water).

    Re-reading the lookback window catches files that land late in an hour already read;
    what is read twice is deduplicated downstream.
    """
    if high_water is None:
        return list(partitions)
    start = high_water - timedelta(hours=lookback_hours)
    return [p for p in partitions if p.hour >= start]
