"""Scoped changes to the process environment, put back exactly as they were found.

The functions themselves are configured explicitly (the api's runtime, ADR 0015; the ETL
functions, ADR 0017). What remains is boto3's own connection settings: the local platform points
plain clients at its emulator with `AWS_ENDPOINT_URL` and dummy credentials, as a developer would
export them. Every such change goes through here, so nothing outlives its scope: tests, the demo
and the benchmarks share one process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


class EnvironmentOverlay:
    """Variables set (a string) or unset (None) on top of the environment, until `restore()`."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def apply(self, values: Mapping[str, str | None]) -> None:
        """Set or unset each variable; the first value seen of each is what `restore` puts back."""
        for key in values:
            self._saved.setdefault(key, os.environ.get(key))
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def restore(self) -> None:
        """Put every variable `apply` touched back as it was (absent ones removed)."""
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()


@contextmanager
def scoped_environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """`values` applied for the block, then the environment as it was, also when the block raises."""
    overlay = EnvironmentOverlay()
    try:
        overlay.apply(values)
        yield
    finally:
        overlay.restore()
