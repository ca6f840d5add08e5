"""What the Glue entry scripts share: reading job arguments and running a job inside Glue's job frame.

The scripts in `etl/glue_jobs/` are the only files that import awsglue (present on Glue, absent
locally); they hand `getResolvedOptions` and the job object to these functions, so argument handling
is tested locally with the same code Glue runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from todo_contracts.lake_layout import GLUE_JOB_LAYERS, Layer, layer_argument
from todo_etl.glue.catalog_settings import GLUE_CATALOG
from todo_etl.glue.iceberg_tables import Lake
from todo_etl.glue.jobs import DEFAULT_LOOKBACK_HOURS
from todo_etl.glue.maintenance_policy import DEFAULT_POLICY, MaintenancePolicy

Resolver = Callable[[Sequence[str], list[str]], Mapping[str, str]]

# Every job's; each also requires the base URI of every layer it reaches (`required_arguments`).
JOB_NAME_ARGUMENT = "JOB_NAME"
DATABASE_ARGUMENT = "database"
# getResolvedOptions fails on a missing name, so optional ones are only asked for when passed.
OPTIONAL_ARGUMENTS = (
    "catalog",
    "full_rebuild",
    "lookback_hours",
    "snapshot_retention_hours",
    "retain_last_snapshots",
    "orphan_min_age_hours",
    "rollback_table",
    "rollback_snapshot",
)
# The Spark catalog name the job's `--conf` settings declare.
DEFAULT_CATALOG = GLUE_CATALOG
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


class JobArgumentError(ValueError):
    """A job argument has a value the job cannot use."""


@dataclass(frozen=True)
class JobArguments:
    """The arguments of the silver, gold and maintenance jobs, typed (no bronze for gold)."""

    job_name: str
    bronze_uri: str | None
    silver_uri: str
    gold_uri: str
    database: str
    catalog: str = DEFAULT_CATALOG
    full_rebuild: bool = False
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS
    maintenance: MaintenancePolicy = field(default=DEFAULT_POLICY)
    # The maintenance job's other duty, from the runbook: put one table back on an older snapshot.
    rollback: tuple[str, int] | None = None

    def lake(self) -> Lake:
        return Lake(
            bronze_uri=self.bronze_uri,
            silver_uri=self.silver_uri,
            gold_uri=self.gold_uri,
            catalog=self.catalog,
            database=self.database,
        )


def _flag(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise JobArgumentError(f"--{name} must be true or false, got {value!r}")


def _whole(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise JobArgumentError(f"--{name} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise JobArgumentError(f"--{name} must be between {low} and {high}, got {number}")
    return number


def _identifier(name: str, value: str) -> str:
    text = value.strip()
    if not text or not all(c.isalnum() or c == "_" for c in text):
        raise JobArgumentError(f"--{name} must be letters, digits and underscores, got {value!r}")
    return text


def _passed(argv: Sequence[str], name: str) -> bool:
    """True when `--name value` or `--name=value` is in argv (getResolvedOptions accepts both)."""
    flag = f"--{name}"
    return any(arg == flag or arg.startswith(f"{flag}=") for arg in argv)


def _policy(values: Mapping[str, str]) -> MaintenancePolicy:
    def whole(name: str, default: int, low: int, high: int) -> int:
        return _whole(name, values[name], low, high) if name in values else default

    return MaintenancePolicy(
        snapshot_retention_hours=whole(
            "snapshot_retention_hours", DEFAULT_POLICY.snapshot_retention_hours, 1, 24 * 366
        ),
        retain_last_snapshots=whole("retain_last_snapshots", DEFAULT_POLICY.retain_last_snapshots, 1, 1000),
        orphan_min_age_hours=whole("orphan_min_age_hours", DEFAULT_POLICY.orphan_min_age_hours, 1, 24 * 366),
        compact_min_input_files=DEFAULT_POLICY.compact_min_input_files,
    )


def required_arguments(job: str) -> list[str]:
    """What the job's entry script asks `getResolvedOptions` for: the common names and the base
    URI of each layer the job reaches (`GLUE_JOB_LAYERS`, which its job definition also reads)."""
    try:
        layers = GLUE_JOB_LAYERS[job]
    except KeyError:
        raise JobArgumentError(f"no Glue job named {job!r}; the jobs are {sorted(GLUE_JOB_LAYERS)}") from None
    return [JOB_NAME_ARGUMENT, *(layer_argument(layer) for layer in layers), DATABASE_ARGUMENT]


def job_arguments(argv: Sequence[str], resolve: Resolver, job: str) -> JobArguments:
    """Resolve `job`'s arguments from `argv` with Glue's `getResolvedOptions` (or a stand-in)."""
    wanted = required_arguments(job) + [name for name in OPTIONAL_ARGUMENTS if _passed(argv, name)]
    values = resolve(argv, wanted)
    uris: dict[Layer, str] = {}
    for layer in GLUE_JOB_LAYERS[job]:
        name = layer_argument(layer)
        if not values[name].strip():
            raise JobArgumentError(f"--{name} must not be empty")
        uris[layer] = values[name].rstrip("/")
    return JobArguments(
        job_name=values[JOB_NAME_ARGUMENT],
        bronze_uri=uris.get(Layer.BRONZE),
        silver_uri=uris[Layer.SILVER],
        gold_uri=uris[Layer.GOLD],
        database=_identifier(DATABASE_ARGUMENT, values[DATABASE_ARGUMENT]),
        catalog=_identifier("catalog", values["catalog"]) if "catalog" in values else DEFAULT_CATALOG,
        full_rebuild=_flag("full_rebuild", values["full_rebuild"]) if "full_rebuild" in values else False,
        lookback_hours=(
            _whole("lookback_hours", values["lookback_hours"], 0, 24 * 31)
            if "lookback_hours" in values
            else DEFAULT_LOOKBACK_HOURS
        ),
        maintenance=_policy(values),
        rollback=_rollback(values),
    )


def _rollback(values: Mapping[str, str]) -> tuple[str, int] | None:
    table, snapshot = values.get("rollback_table"), values.get("rollback_snapshot")
    if table is None and snapshot is None:
        return None
    if table is None or snapshot is None:
        raise JobArgumentError("--rollback_table and --rollback_snapshot go together")
    return _identifier("rollback_table", table), _whole("rollback_snapshot", snapshot, -(2**63), 2**63 - 1)


def run_glue_job(
    job: str,
    argv: Sequence[str],
    resolve: Resolver,
    glue_context_type: Any,
    job_type: Any,
    body: Callable[[SparkSession, JobArguments], str],
) -> None:
    """Glue's job frame around `body(spark, arguments)`: resolve `job`'s arguments, make the Glue
    context and session, `glue_job.init`, run, print the body's one-line outcome, `glue_job.commit`.

    The awsglue classes come in as arguments because only Glue has them; a failure raises out
    of `body`, so Glue marks the run failed (and the job's pipeline_runs row says why).
    """
    from pyspark.context import SparkContext

    arguments = job_arguments(argv, resolve, job)
    glue_context = glue_context_type(SparkContext.getOrCreate())
    glue_job = job_type(glue_context)
    glue_job.init(arguments.job_name, {"JOB_NAME": arguments.job_name})
    print(body(glue_context.spark_session, arguments))  # noqa: T201 - lands in the Glue driver log
    glue_job.commit()
