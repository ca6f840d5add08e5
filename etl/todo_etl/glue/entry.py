"""What the Glue entry scripts share: reading job arguments and running a job inside Glue's job frame.

The scripts in `etl/glue_jobs/` are the only files that import awsglue (present on Glue, absent
locally); they hand `getResolvedOptions` and the job object to these functions, so argument handling
is tested locally with the same code Glue runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from todo_etl.glue.jobs import DEFAULT_LOOKBACK_HOURS

Resolver = Callable[[Sequence[str], list[str]], Mapping[str, str]]

REQUIRED_ARGUMENTS = ["JOB_NAME", "bronze_uri", "silver_uri", "gold_uri"]
# getResolvedOptions fails on a missing name, so optional ones are only asked for when passed.
OPTIONAL_ARGUMENTS = ("full_rebuild", "lookback_hours")
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


class JobArgumentError(ValueError):
    """A job argument has a value the job cannot use."""


@dataclass(frozen=True)
class JobArguments:
    """The arguments of the silver and gold jobs, typed."""

    job_name: str
    bronze_uri: str
    silver_uri: str
    gold_uri: str
    full_rebuild: bool = False
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS


def _flag(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise JobArgumentError(f"--{name} must be true or false, got {value!r}")


def _hours(value: str) -> int:
    try:
        hours = int(value)
    except ValueError:
        raise JobArgumentError(f"--lookback_hours must be a whole number, got {value!r}") from None
    if not 0 <= hours <= 24 * 31:
        raise JobArgumentError(f"--lookback_hours must be between 0 and 744, got {hours}")
    return hours


def _passed(argv: Sequence[str], name: str) -> bool:
    """True when `--name value` or `--name=value` is in argv (getResolvedOptions accepts both)."""
    flag = f"--{name}"
    return any(arg == flag or arg.startswith(f"{flag}=") for arg in argv)


def job_arguments(argv: Sequence[str], resolve: Resolver) -> JobArguments:
    """Resolve the job's arguments from `argv` with Glue's `getResolvedOptions` (or a stand-in)."""
    wanted = REQUIRED_ARGUMENTS + [name for name in OPTIONAL_ARGUMENTS if _passed(argv, name)]
    values = resolve(argv, wanted)
    for name in ("bronze_uri", "silver_uri", "gold_uri"):
        if not values[name].strip():
            raise JobArgumentError(f"--{name} must not be empty")
    return JobArguments(
        job_name=values["JOB_NAME"],
        bronze_uri=values["bronze_uri"].rstrip("/"),
        silver_uri=values["silver_uri"].rstrip("/"),
        gold_uri=values["gold_uri"].rstrip("/"),
        full_rebuild=_flag("full_rebuild", values["full_rebuild"]) if "full_rebuild" in values else False,
        lookback_hours=(
            _hours(values["lookback_hours"]) if "lookback_hours" in values else DEFAULT_LOOKBACK_HOURS
        ),
    )
