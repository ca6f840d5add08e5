"""What the repository raises when a conditional write does not go through."""

from __future__ import annotations


class RepositoryError(Exception):
    """Base of the repository's expected failures (never raised for infrastructure faults)."""


class ItemNotFoundError(RepositoryError):
    """The item to change does not exist."""


class ItemAlreadyExistsError(RepositoryError):
    """The item to create exists already."""


class VersionMismatchError(RepositoryError):
    """The item exists, but its version is not the one the write was conditioned on."""


class ProfileMissingError(RepositoryError):
    """A task cannot be created because its owner has no profile."""


class AccountBeingDeletedError(RepositoryError):
    """A task cannot be created because its owner's account is being deleted."""


class WriteConflictError(RepositoryError):
    """Concurrent transactions kept colliding; the caller may retry."""
