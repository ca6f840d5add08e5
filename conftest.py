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


# The fixtures live in the local platform package so that every test folder can use them.
pytest_plugins = [m for m in ("todo_local.testing.fixtures",) if _available(m)]
