"""Glue job arguments: `job_arguments` with a stand-in for awsglue's `getResolvedOptions`."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

import pytest

from todo_contracts.lake_layout import GLUE_JOB_LAYERS, SILVER_TASKS, Layer
from todo_etl.glue.entry import (
    DEFAULT_CATALOG,
    JobArgumentError,
    JobArguments,
    job_arguments,
    required_arguments,
)
from todo_etl.glue.iceberg_tables import Lake
from todo_etl.glue.jobs import DEFAULT_LOOKBACK_HOURS, GOLD_JOB, SILVER_JOB
from todo_etl.glue.maintenance import MAINTENANCE_JOB
from todo_etl.glue.maintenance_policy import DEFAULT_POLICY, MaintenancePolicy

pytestmark = pytest.mark.spark

# What Glue puts in argv: its own arguments around the job's (the job ignores those).
BASE = [
    "script.py",
    "--JOB_NAME",
    "todo-insights-dev-silver",
    "--job-bookmark-option",
    "job-bookmark-disable",
    "--bronze_uri",
    "s3://bronze-bucket/",
    "--silver_uri",
    "s3://silver-bucket",
    "--gold_uri",
    "s3://gold-bucket/",
    "--database",
    "todo_insights_dev",
]


class Resolver:
    """Behaves like getResolvedOptions: every asked-for name is required; records what was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, argv: Sequence[str], names: list[str]) -> Mapping[str, str]:
        self.asked = list(names)
        parser = argparse.ArgumentParser(prog="glue")
        for name in names:
            parser.add_argument(f"--{name}", required=True)
        known, _ = parser.parse_known_args(list(argv[1:]))
        return {k: str(v) for k, v in vars(known).items()}


def test_required_arguments_only_give_the_defaults_and_trimmed_uris() -> None:
    resolver = Resolver()
    assert job_arguments(BASE, resolver, SILVER_JOB) == JobArguments(
        job_name="todo-insights-dev-silver",
        bronze_uri="s3://bronze-bucket",
        silver_uri="s3://silver-bucket",
        gold_uri="s3://gold-bucket",
        database="todo_insights_dev",
        catalog=DEFAULT_CATALOG,
        full_rebuild=False,
        lookback_hours=DEFAULT_LOOKBACK_HOURS,
        maintenance=DEFAULT_POLICY,
    )
    # Optional names are not asked for when absent: the real resolver would fail on them.
    assert resolver.asked == ["JOB_NAME", "bronze_uri", "silver_uri", "gold_uri", "database"]


def test_the_arguments_name_the_lake_the_jobs_write() -> None:
    arguments = job_arguments([*BASE, "--catalog", "my_catalog"], Resolver(), SILVER_JOB)
    assert arguments.lake() == Lake(
        bronze_uri="s3://bronze-bucket",
        silver_uri="s3://silver-bucket",
        gold_uri="s3://gold-bucket",
        catalog="my_catalog",
        database="todo_insights_dev",
    )
    assert arguments.lake().identifier(SILVER_TASKS) == ("my_catalog.todo_insights_dev.silver_tasks")


def test_maintenance_arguments_give_the_stage_policy() -> None:
    extra = ["--snapshot_retention_hours", "48", "--retain_last_snapshots", "3", "--orphan_min_age_hours=96"]
    assert job_arguments(BASE + extra, Resolver(), MAINTENANCE_JOB).maintenance == MaintenancePolicy(
        snapshot_retention_hours=48, retain_last_snapshots=3, orphan_min_age_hours=96
    )


@pytest.mark.parametrize(
    ("extra", "full_rebuild", "lookback"),
    [
        (["--full_rebuild", "true"], True, DEFAULT_LOOKBACK_HOURS),
        (["--full_rebuild", "FALSE"], False, DEFAULT_LOOKBACK_HOURS),
        (["--full_rebuild", "1", "--lookback_hours", "0"], True, 0),
        (["--lookback_hours", "744"], False, 744),
        (["--full_rebuild=yes", "--lookback_hours=6"], True, 6),
    ],
    ids=["rebuild-true", "rebuild-false", "rebuild-1-lookback-0", "lookback-max", "equals-form"],
)
def test_optional_arguments_are_parsed(extra: list[str], full_rebuild: bool, lookback: int) -> None:
    arguments = job_arguments(BASE + extra, Resolver(), SILVER_JOB)
    assert (arguments.full_rebuild, arguments.lookback_hours) == (full_rebuild, lookback)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--full_rebuild", "maybe"], "--full_rebuild must be true or false, got 'maybe'"),
        (["--lookback_hours", "three"], "--lookback_hours must be a whole number, got 'three'"),
        (["--lookback_hours", "2.5"], "--lookback_hours must be a whole number, got '2.5'"),
        (["--lookback_hours", "-1"], "--lookback_hours must be between 0 and 744, got -1"),
        (["--lookback_hours", "745"], "--lookback_hours must be between 0 and 744, got 745"),
        (["--silver_uri", "  "], "--silver_uri must not be empty"),
        (
            ["--database", "todo; DROP"],
            "--database must be letters, digits and underscores, got 'todo; DROP'",
        ),
        (["--catalog", ""], "--catalog must be letters, digits and underscores, got ''"),
        (["--orphan_min_age_hours", "0"], "--orphan_min_age_hours must be between 1 and 8784, got 0"),
        (["--retain_last_snapshots", "x"], "--retain_last_snapshots must be a whole number, got 'x'"),
    ],
    ids=[
        "rebuild-maybe",
        "lookback-word",
        "lookback-fraction",
        "lookback-negative",
        "lookback-too-big",
        "blank-uri",
        "database-injection",
        "catalog-empty",
        "orphan-age-zero",
        "retain-word",
    ],
)
def test_bad_values_raise_a_job_argument_error(extra: list[str], message: str) -> None:
    with pytest.raises(JobArgumentError) as error:
        job_arguments(BASE + extra, Resolver(), SILVER_JOB)
    assert str(error.value) == message


def test_each_job_asks_for_the_layers_it_reaches_and_no_other() -> None:
    assert set(GLUE_JOB_LAYERS) == {SILVER_JOB, GOLD_JOB, MAINTENANCE_JOB}
    assert required_arguments(SILVER_JOB) == ["JOB_NAME", "bronze_uri", "silver_uri", "gold_uri", "database"]
    assert required_arguments(MAINTENANCE_JOB) == required_arguments(SILVER_JOB)
    # Gold reads silver and writes gold: it is never handed the bronze bucket.
    assert required_arguments(GOLD_JOB) == ["JOB_NAME", "silver_uri", "gold_uri", "database"]


def test_the_gold_job_needs_no_bronze_and_its_lake_has_none() -> None:
    argv = [a for a in BASE if a not in ("--bronze_uri", "s3://bronze-bucket/")]
    resolver = Resolver()
    arguments = job_arguments(argv, resolver, GOLD_JOB)
    assert resolver.asked == ["JOB_NAME", "silver_uri", "gold_uri", "database"]
    assert (arguments.bronze_uri, arguments.silver_uri, arguments.gold_uri) == (
        None,
        "s3://silver-bucket",
        "s3://gold-bucket",
    )
    lake = arguments.lake()
    assert lake.location(SILVER_TASKS) == "s3://silver-bucket/tasks"
    with pytest.raises(LookupError, match="no bronze layer"):
        lake.layer_uri(Layer.BRONZE)


def test_an_unknown_job_name_is_refused() -> None:
    with pytest.raises(JobArgumentError, match="no Glue job named 'bronze'"):
        job_arguments(BASE, Resolver(), "bronze")


def test_a_missing_required_argument_fails_in_the_resolver() -> None:
    argv = [a for a in BASE if a not in ("--gold_uri", "s3://gold-bucket/")]
    with pytest.raises(SystemExit):
        job_arguments(argv, Resolver(), SILVER_JOB)


class _GlueContext:
    """Stands in for awsglue's GlueContext (only Glue has it): holds the session."""

    def __init__(self, spark_context: object) -> None:
        from pyspark.sql import SparkSession

        self.spark_session = SparkSession.builder.getOrCreate()
        self.spark_context = spark_context


class _Job:
    events: list[tuple[str, object]] = []

    def __init__(self, glue_context: object) -> None:
        self.glue_context = glue_context

    def init(self, name: str, arguments: dict[str, str]) -> None:
        _Job.events.append(("init", (name, arguments)))

    def commit(self) -> None:
        _Job.events.append(("commit", None))


def test_the_glue_frame_resolves_arguments_runs_the_body_and_commits(
    spark: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from todo_etl.glue.entry import run_glue_job

    seen: list[JobArguments] = []

    def body(session: object, arguments: JobArguments) -> str:
        assert session is spark
        seen.append(arguments)
        return "silver run r1: succeeded"

    _Job.events.clear()
    run_glue_job(SILVER_JOB, BASE, Resolver(), _GlueContext, _Job, body)
    assert seen[0].database == "todo_insights_dev"
    assert _Job.events == [
        ("init", ("todo-insights-dev-silver", {"JOB_NAME": "todo-insights-dev-silver"})),
        ("commit", None),
    ]
    assert capsys.readouterr().out == "silver run r1: succeeded\n"


def test_a_failing_body_never_commits_the_glue_job(spark: object) -> None:
    from todo_etl.glue.entry import run_glue_job

    def body(session: object, arguments: JobArguments) -> str:
        raise RuntimeError("the run failed")

    _Job.events.clear()
    with pytest.raises(RuntimeError, match="the run failed"):
        run_glue_job(SILVER_JOB, BASE, Resolver(), _GlueContext, _Job, body)
    assert [event for event, _ in _Job.events] == ["init"]
