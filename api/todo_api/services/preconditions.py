"""`If-Match` / `ETag`: the ETag of a resource is its version in quotes, e.g. "3"."""

from __future__ import annotations

import re

from todo_api.errors import precondition_failed

# At most 18 digits: int() of a huge digit string raises, and no version gets that large.
STRONG_ETAG = re.compile(r'^"(\d{1,18})"$')


def etag(version: int) -> str:
    """The strong entity tag of a resource at `version`."""
    return f'"{version}"'


def parse_if_match(header: str | None) -> frozenset[int] | None:
    """The versions an `If-Match` header accepts; None when the header is absent or `*`.

    A header naming no version we could ever have (weak or malformed tags) can never match,
    so it fails the precondition rather than being ignored.
    """
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for candidate in header.split(","):
        match = STRONG_ETAG.match(candidate.strip())
        if match:
            versions.add(int(match.group(1)))
    if not versions:
        raise precondition_failed()
    return frozenset(versions)


def check_version(accepted: frozenset[int] | None, current: int) -> None:
    """412 unless the current version is one `If-Match` accepts."""
    if accepted is not None and current not in accepted:
        raise precondition_failed()
