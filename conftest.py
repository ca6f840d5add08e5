"""Repository-wide pytest setup: the local-platform fixtures (moto server, gateway, Cognito users)."""

import importlib.util
import os

import pytest

# Spark must bind loopback and never do a DNS lookup of the machine's name.
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# Hypothesis: developers explore new random examples on every run; CI (HYPOTHESIS_PROFILE=ci, set
# by .ci/run and the workflow) replays the same derived examples, so a landing is never decided by
# the draw. Both print the failing example; `print_blob` gives the line that reproduces it.
from hypothesis import settings  # noqa: E402

settings.register_profile("default", print_blob=True)
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The fixtures live in the local platform package so that every test folder can use them.
pytest_plugins = [m for m in ("todo_local.testing.fixtures",) if _available(m)]


# The modules that took longest in recent runs (`--durations`), longest first: they start first.
LONGEST_FIRST = (
    "local/tests/test_e2e_lake_equals_table.py",
    "etl/tests/test_spark_erasure.py",
    "etl/tests/test_spark_lake_atomicity.py",
    "etl/tests/test_spark_silver_property.py",
    "local/tests/test_local_cli.py",
    "etl/tests/test_spark_gold.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first, then the others that start Spark or the whole platform, then the
    rest, each group in collection order. `make test` hands whole modules to its workers in this
    order (loadscope), so the long ones start while short work is left to fill in beside them,
    instead of one of them running alone at the end of the run. Nothing else depends on the order:
    every module sets up what it needs."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        if path in LONGEST_FIRST:
            return LONGEST_FIRST.index(path)
        heavy = any(item.get_closest_marker(name) for name in ("spark", "slow"))
        return len(LONGEST_FIRST) + (0 if heavy else 1)

    order = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (rank(item), order[id(item)]))
