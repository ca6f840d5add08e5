"""The analyst query folder (`etl/queries/*.sql`) as data: name, title, question and Athena SQL.

One definition for everyone who needs the queries: the CDK Etl stack makes one Athena named query
per file, the local `sql --query NAME` command and the demo run them. Standard library only.

Each file starts with a header comment, then the SQL:

    -- name: completion_rate_by_category
    -- title: Completion rate by category
    -- question: Which categories of live tasks get finished?
    SELECT ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parents[1] / "queries"
REQUIRED_KEYS = ("name", "title", "question")
MAX_QUESTION = 1024  # Athena's limit on a named query's description, which is the question

_HEADER_LINE = re.compile(r"^--\s*(?P<key>[a-z_]+)\s*:\s*(?P<value>.*?)\s*$")
# Athena named-query names: letters, digits, underscores; we also make them the file's stem.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


class QueryDefinitionError(ValueError):
    """A query file is malformed: missing or inconsistent header, or no SQL."""


@dataclass(frozen=True)
class NamedQuery:
    """One analyst query: `description` is the question it answers, `sql` the statement itself."""

    name: str
    title: str
    description: str
    sql: str
    path: Path


def parse_query_file(path: Path) -> NamedQuery:
    """Read one `.sql` file: header comment lines, then the statement (a trailing `;` is dropped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header: dict[str, str] = {}
    body_start = 0
    for index, line in enumerate(lines):
        match = _HEADER_LINE.match(line.strip())
        if match is None:
            body_start = index
            break
        key = match["key"]
        if key in header:
            raise QueryDefinitionError(f"{path.name}: header key '{key}' appears twice")
        header[key] = match["value"]
    else:
        body_start = len(lines)

    missing = [k for k in REQUIRED_KEYS if not header.get(k)]
    if missing:
        raise QueryDefinitionError(f"{path.name}: header lacks {', '.join(missing)}")
    name = header["name"]
    if not _NAME.match(name):
        raise QueryDefinitionError(f"{path.name}: name '{name}' must be lowercase snake_case")
    if name != path.stem:
        raise QueryDefinitionError(f"{path.name}: name '{name}' must equal the file name '{path.stem}'")
    if len(header["question"]) > MAX_QUESTION:
        raise QueryDefinitionError(f"{path.name}: question longer than Athena's {MAX_QUESTION} characters")
    sql = "\n".join(lines[body_start:]).strip().rstrip(";").rstrip()
    if not sql:
        raise QueryDefinitionError(f"{path.name}: no SQL after the header")
    return NamedQuery(name=name, title=header["title"], description=header["question"], sql=sql, path=path)


def load_queries(folder: Path | None = None) -> list[NamedQuery]:
    """Every query of the folder, sorted by name; `QueryDefinitionError` on the first bad file."""
    directory = QUERIES_DIR if folder is None else folder
    if not directory.is_dir():
        raise QueryDefinitionError(f"query folder {directory} does not exist")
    return [parse_query_file(path) for path in sorted(directory.glob("*.sql"))]


def get_query(name: str, folder: Path | None = None) -> NamedQuery:
    """The query called `name`; `KeyError` listing the known names when there is none."""
    queries = load_queries(folder)
    for query in queries:
        if query.name == name:
            return query
    known = ", ".join(q.name for q in queries)
    raise KeyError(f"no query named '{name}' (known: {known})")
