"""`If-Match` / `ETag` (the ETag of a resource is its version in quotes, e.g. "3"), and the
optimistic read-change-write loop that tasks and profiles are updated with."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol, TypeVar

from todo_api.repository.errors import ItemNotFoundError, VersionMismatchError
from todo_api.services.failures import DomainError, PreconditionFailedError, WriteConflictError

# At most 18 digits: int() of a huge digit string raises, and no version gets that large.
STRONG_ETAG = re.compile(r'^"(\d{1,18})"$')
# Without If-Match a lost race is retried on fresh data (no update is lost); with it, it is a 412.
UPDATE_ATTEMPTS = 3


class Versioned(Protocol):
    """A resource whose writes are conditioned on its version."""

    @property
    def version(self) -> int: ...


VersionedT = TypeVar("VersionedT", bound=Versioned)


def etag(version: int) -> str:
    """The strong entity tag of a resource at `version`."""
    return f'"{version}"'


def parse_if_match(header: str | None) -> frozenset[int] | None:
    """The versions an `If-Match` header accepts; None when the header is absent or `*`.

    A header naming no version we could ever have (weak or malformed tags) can never match: it
    gives the empty set, so the precondition fails (412) when it is checked against the stored
    version, after the request has been validated (a bad body is 422 whatever If-Match says).
    """
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for candidate in header.split(","):
        match = STRONG_ETAG.match(candidate.strip())
        if match:
            versions.add(int(match.group(1)))
    return frozenset(versions)


def check_version(accepted: frozenset[int] | None, current: int) -> None:
    """412 unless the current version is one `If-Match` accepts."""
    if accepted is not None and current not in accepted:
        raise PreconditionFailedError()


def update_versioned(
    read: Callable[[], VersionedT],
    change: Callable[[VersionedT], VersionedT | None],
    write: Callable[[VersionedT, int], None],
    accepted: frozenset[int] | None,
    not_found: type[DomainError],
) -> tuple[VersionedT, VersionedT]:
    """Read, check `If-Match`, change and write conditioned on the version read; (read, written).

    `change` returns None when nothing would change: then nothing is written and the pair is the
    resource as read, twice. `write(updated, expected_version)` raises the repository's
    ItemNotFoundError (answered with `not_found()`) or VersionMismatchError: a lost race is a 412
    under If-Match, otherwise it is retried on fresh data, and 409 after UPDATE_ATTEMPTS.
    """
    for _attempt in range(UPDATE_ATTEMPTS):
        current = read()
        check_version(accepted, current.version)
        updated = change(current)
        if updated is None:
            return current, current
        try:
            write(updated, current.version)
        except ItemNotFoundError:
            raise not_found() from None
        except VersionMismatchError:
            if accepted is not None:
                raise PreconditionFailedError() from None  # a concurrent change beat this If-Match writer
            continue
        return current, updated
    raise WriteConflictError()
