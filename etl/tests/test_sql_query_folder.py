"""The query folder is well formed: headers, Athena syntax, and only catalog tables referenced."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from todo_contracts.lake_layout import ALL_TABLES
from todo_etl.queries import QUERIES_DIR, QueryDefinitionError, get_query, load_queries, parse_query_file

CATALOG = {t.name for t in ALL_TABLES}
QUERIES = load_queries()


def referenced_tables(sql: str) -> set[str]:
    """Physical tables a statement reads: every table reference that is not one of its CTEs."""
    tree = sqlglot.parse_one(sql, read="athena")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}


def test_the_folder_holds_at_least_ten_queries_with_unique_names() -> None:
    names = [q.name for q in QUERIES]
    assert len(names) >= 10
    assert len(set(names)) == len(names)
    assert len(QUERIES) == len(list(QUERIES_DIR.glob("*.sql")))


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_query_parses_as_athena_and_reads_only_catalog_tables(query) -> None:
    tables = referenced_tables(query.sql)

    assert tables, "a query must read at least one lake table"
    assert tables <= CATALOG, f"unknown tables: {sorted(tables - CATALOG)}"
    tree = sqlglot.parse_one(query.sql, read="athena")
    assert all(not t.args.get("db") for t in tree.find_all(exp.Table)), "table names must be unqualified"


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_query_header_gives_a_title_and_a_question(query) -> None:
    assert query.title
    assert "?" in query.description, "the description states the question the query answers"
    assert not query.sql.lstrip().startswith("--")
    assert not query.sql.rstrip().endswith(";")


def test_get_query_finds_by_name_and_lists_known_names_when_absent() -> None:
    assert get_query("kpi_snapshot").name == "kpi_snapshot"
    with pytest.raises(KeyError, match=r"known: .*kpi_snapshot"):
        get_query("no_such_query")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.sql"
    path.write_text(text, encoding="utf-8")
    return path


def test_parse_reads_header_and_body_and_drops_the_semicolon(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "users_total",
        "-- name: users_total\n-- title: Users\n-- question: How many users?\n\n"
        "-- a comment inside the body stays\nSELECT count(*) FROM silver_users;\n",
    )

    query = parse_query_file(path)

    assert (query.name, query.title, query.description) == ("users_total", "Users", "How many users?")
    assert query.sql == "-- a comment inside the body stays\nSELECT count(*) FROM silver_users"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- name: q\n-- title: T\nSELECT 1", "lacks question"),
        ("-- title: T\n-- question: Q?\nSELECT 1", "lacks name"),
        ("-- name: other\n-- title: T\n-- question: Q?\nSELECT 1", "must equal the file name"),
        ("-- name: q\n-- name: q\n-- title: T\n-- question: Q?\nSELECT 1", "appears twice"),
        ("-- name: q\n-- title: T\n-- question: Q?\n", "no SQL"),
        ("-- name: q\n-- title: \n-- question: Q?\nSELECT 1", "lacks title"),
        ("-- name: q\n-- title: T\n-- question: " + "Why" * 342 + "?\nSELECT 1", "longer than Athena's 1024"),
    ],
)
def test_malformed_query_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "q", text)

    with pytest.raises(QueryDefinitionError, match=message):
        parse_query_file(path)


def test_a_name_that_athena_would_refuse_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Bad-Name", "-- name: Bad-Name\n-- title: T\n-- question: Q?\nSELECT 1")

    with pytest.raises(QueryDefinitionError, match="snake_case"):
        parse_query_file(path)


def test_load_queries_of_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(QueryDefinitionError, match="does not exist"):
        load_queries(tmp_path / "absent")


def test_referenced_tables_ignores_ctes_and_unnest() -> None:
    sql = (
        "WITH recent AS (SELECT * FROM silver_tasks) "
        "SELECT tag FROM recent CROSS JOIN UNNEST(tags) AS t (tag) JOIN silver_users USING (user_id)"
    )

    assert referenced_tables(sql) == {"silver_tasks", "silver_users"}
