"""The Athena named queries that ship with the stack: one per `.sql` file of `etl/queries/`."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from todo_infra.packaging import REPO_ROOT

QUERIES_DIR = REPO_ROOT / "etl" / "queries"
_MAX_DESCRIPTION = 1024  # Athena's limit on a named query's description


@dataclass(frozen=True)
class NamedQuery:
    """One saved query: its name (the file stem), its SQL and a one-line description."""

    name: str
    sql: str
    description: str


def describe(sql: str, name: str) -> str:
    """The leading `--` comment of a query file, else a generic description."""
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            text = stripped.lstrip("-").strip()
            if text:
                return text[:_MAX_DESCRIPTION]
        elif stripped:
            break
    return f"Saved query {name} (etl/queries/{name}.sql)"


def _from_files(folder: Path) -> tuple[NamedQuery, ...]:
    queries = []
    for path in sorted(folder.glob("*.sql")):
        sql = path.read_text(encoding="utf-8").strip()
        queries.append(NamedQuery(path.stem, sql, describe(sql, path.stem)))
    return tuple(queries)


def _coerce(item: Any, key: str | None = None) -> NamedQuery:
    """Accept what `todo_etl.queries.load_queries()` returns: objects with name/sql, or name -> sql."""
    if isinstance(item, str) and key is not None:
        return NamedQuery(key, item.strip(), describe(item, key))
    name = str(getattr(item, "name", key))
    sql = str(item.sql).strip()
    description = getattr(item, "description", None) or describe(sql, name)
    return NamedQuery(name, sql, str(description)[:_MAX_DESCRIPTION])


def load_named_queries(folder: Path = QUERIES_DIR) -> tuple[NamedQuery, ...]:
    """The queries, through the SQL package's loader when it exists, else straight from the folder."""
    try:
        module = importlib.import_module("todo_etl.queries")
    except ModuleNotFoundError:
        return _from_files(folder)
    loader = getattr(module, "load_queries", None)
    if loader is None or folder != QUERIES_DIR:
        return _from_files(folder)
    loaded = loader()
    items: Iterable[NamedQuery]
    if isinstance(loaded, Mapping):
        items = (_coerce(value, str(key)) for key, value in loaded.items())
    else:
        items = (_coerce(value) for value in loaded)
    return tuple(sorted(items, key=lambda q: q.name))
