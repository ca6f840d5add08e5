"""How much history the lake's Iceberg tables keep (standard library only: the CLI and CDK read it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MaintenancePolicy:
    """How much history each table keeps. The dev stage's values are the local defaults
    (infra's stage config holds every stage's; a parity test keeps them equal)."""

    # Time travel reaches this far back; older snapshots (and the files only they hold) go.
    snapshot_retention_hours: int = 7 * 24
    # ...but the newest few snapshots stay whatever their age (a quiet table keeps its history).
    retain_last_snapshots: int = 5
    # Files no snapshot references, older than this, are leftovers of failed runs. Younger ones
    # may belong to a commit in flight, so they are never touched.
    orphan_min_age_hours: int = 72
    # Compact where a partition has at least this many small files.
    compact_min_input_files: int = 5

    def __post_init__(self) -> None:
        if self.snapshot_retention_hours < 1:
            raise ValueError("snapshot_retention_hours must be at least 1")
        if self.retain_last_snapshots < 1:
            raise ValueError("retain_last_snapshots must be at least 1")
        if self.orphan_min_age_hours < 1:
            raise ValueError("orphan_min_age_hours must be at least 1 (younger files may be in flight)")
        if self.compact_min_input_files < 2:
            raise ValueError("compact_min_input_files must be at least 2")


DEFAULT_POLICY = MaintenancePolicy()
