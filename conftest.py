"""Repository-wide pytest setup: the local-platform fixtures (moto server, gateway, Cognito users)."""

import importlib.util
import os

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
