"""The local Athena: DuckDB views named like the catalog tables, Athena SQL translated with sqlglot.

Every table of `todo_contracts.lake_layout` becomes a view typed as the catalog types it, so a query
written for Athena runs here unchanged: bronze over its gzip JSON Lines folders, silver and gold
over the data files of their current Iceberg snapshot (planned by pyiceberg, cached per snapshot
id, so a view is rebuilt only when its table committed). `FOR VERSION AS OF` / `FOR TIMESTAMP AS
OF` read older snapshots, as Athena does. Translation is sqlglot (`read="athena"`,
`write="duckdb"`) plus AST transforms for the places where the two engines give different answers
to the same SQL (ADR 0007 lists them and why each shim exists).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema
from sqlglot.time import format_time
from sqlglot.trie import new_trie

from todo_contracts.lake_layout import ALL_TABLES, Column, LakeTable
from todo_local.lake_catalog import HistoryTooShortError, LakeCatalogError, LocalLakeCatalog

ATHENA = "athena"
MAX_CACHED_TRANSLATIONS = 512
DUCKDB = "duckdb"

# Athena's format_datetime takes Joda-Time patterns; DuckDB's strftime takes C ones. Longest
# tokens first is handled by the trie, so "MMM" never reads as "MM" + "M".
_JODA_TO_STRFTIME = {
    "yyyy": "%Y",
    "YYYY": "%Y",
    "yy": "%y",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "M": "%-m",
    "dd": "%d",
    "d": "%-d",
    "DDD": "%j",
    "HH": "%H",
    "H": "%-H",
    "hh": "%I",
    "h": "%-I",
    "mm": "%M",
    "m": "%-M",
    "ss": "%S",
    "s": "%-S",
    "SSSSSS": "%f",
    "SSS": "%g",
    "a": "%p",
    "EEEE": "%A",
    "EEE": "%a",
    "E": "%a",
    "ZZ": "%z",
    "Z": "%z",
    "z": "%Z",
    "''": "'",
}
_JODA_TRIE = new_trie(_JODA_TO_STRFTIME)

# Day-or-larger steps keep a DATE a DATE in Athena; DuckDB widens the result to a TIMESTAMP.
_DATE_PRESERVING_UNITS = frozenset({"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"})


# Iceberg metadata tables Athena exposes as "<table>$<kind>", all of which pyiceberg can inspect.
METADATA_TABLES = frozenset({"snapshots", "history", "files", "partitions", "manifests", "refs"})


def _metadata_type(arrow_type: str) -> str:
    """An Athena type for a metadata column, enough for the shims' typing (nested types as text)."""
    if arrow_type.startswith("timestamp"):
        return "timestamp"
    return {"int64": "bigint", "int32": "int", "string": "string", "bool": "boolean", "double": "double"}.get(
        arrow_type, "string"
    )


class QueryError(RuntimeError):
    """A query could not be translated or run; carries the SQL DuckDB was given (if any)."""

    def __init__(self, message: str, athena_sql: str, translated_sql: str | None = None) -> None:
        detail = f"{message}\n-- Athena SQL:\n{athena_sql.strip()}"
        if translated_sql is not None:
            detail += f"\n-- translated to DuckDB:\n{translated_sql}"
        super().__init__(detail)
        self.reason = message
        self.athena_sql = athena_sql
        self.translated_sql = translated_sql

    @property
    def history_too_short(self) -> bool:
        """The query time-travels to before a table's first snapshot (Athena refuses it too)."""
        return isinstance(self.__cause__, HistoryTooShortError)


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows (plain Python values) of one query, plus the SQL DuckDB ran."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    translated_sql: str = ""

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


@functools.lru_cache(maxsize=256)
def duckdb_type(athena_type: str) -> str:
    """The DuckDB spelling of an Athena (Hive DDL) column type, e.g. `array<string>` -> `TEXT[]`.
    Cached: the catalog has a few dozen distinct types, and parsing one costs ~0.2 ms."""
    return exp.DataType.build(athena_type, dialect=ATHENA).sql(DUCKDB)


def table_columns(table: LakeTable) -> tuple[Column, ...]:
    """Every column a query can see: the data columns, then the partition keys (as Athena lists them)."""
    return table.columns + table.partition_keys


def catalog_schema(tables: Iterable[LakeTable] = ALL_TABLES) -> dict[str, dict[str, str]]:
    """The catalog as sqlglot wants it for qualification and typing: table -> column -> type."""
    return {t.name: {c.name: c.type for c in table_columns(t)} for t in tables}


# --- translation ---------------------------------------------------------------------------------


def parse_statement(athena_sql: str) -> exp.Expr:
    """The one Athena statement of `athena_sql`, or a QueryError saying what is wrong with it."""
    try:
        statements = [s for s in sqlglot.parse(athena_sql, read=ATHENA) if s is not None]
    except ParseError as exc:
        raise QueryError(f"Not valid Athena SQL: {exc}", athena_sql) from exc
    if len(statements) != 1:
        raise QueryError(f"Expected exactly one statement, got {len(statements)}", athena_sql)
    return statements[0]


def translate(athena_sql: str, schema: dict[str, dict[str, str]] | None = None) -> str:
    """Athena SQL -> DuckDB SQL: sqlglot's transpiler plus the shims of ADR 0007."""
    return translate_tree(parse_statement(athena_sql), schema)


def translate_tree(tree: exp.Expr, schema: dict[str, dict[str, str]] | None = None) -> str:
    """A parsed Athena statement -> DuckDB SQL."""
    schema = catalog_schema() if schema is None else schema
    catalog = MappingSchema(dict(schema), dialect=ATHENA)
    return _apply_shims(_typed(tree, catalog)).sql(dialect=DUCKDB)


def _apply_shims(tree: exp.Expr) -> exp.Expr:
    # Children before parents, so a shim never hides a nested expression from the others, and
    # every decision reads the Athena types annotated before anything was rewritten.
    for node in reversed(list(tree.dfs())):
        new = node
        for shim in _SHIMS:
            new = shim(new)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def _name_like_athena(tree: exp.Expr) -> exp.Expr:
    """Name unaliased computed result columns `_col0`, `_col1`, ... by position, as Athena does."""
    if isinstance(tree, exp.Query):
        for index, projection in enumerate(tree.selects):
            if not isinstance(projection, exp.Alias | exp.Column | exp.Star):
                projection.replace(exp.alias_(projection.copy(), f"_col{index}"))
    return tree


def _typed(tree: exp.Expr, schema: MappingSchema) -> exp.Expr:
    """Resolve columns against the catalog so the shims can see Athena's types of expressions."""
    tree = _name_like_athena(tree)
    # A query the optimizer cannot qualify (rare constructs) still runs: only the shims that need
    # column types stay inactive for it; literal-typed cases keep working.
    with contextlib.suppress(SqlglotError):
        tree = qualify(
            tree.copy(),
            schema=schema,
            dialect=ATHENA,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
    return annotate_types(tree, schema=schema, dialect=ATHENA)


def _is_date(node: exp.Expr | None) -> bool:
    return node is not None and node.type is not None and node.type.is_type(exp.DataType.Type.DATE)


def _as_date(node: exp.Expr) -> exp.Expr:
    return exp.Cast(this=node.copy(), to=exp.DataType.build("DATE"))


def _unit_name(node: exp.Expr) -> str:
    unit = node.args.get("unit")
    return unit.name.upper() if unit is not None else "DAY"


def _shim_date_diff(node: exp.Expr) -> exp.Expr:
    # Athena counts whole elapsed units (00:59 -> 01:01 is 0 hours); DuckDB's date_diff counts
    # unit boundaries crossed (1 hour). DuckDB's date_sub is the whole-unit function.
    if isinstance(node, exp.DateDiff):
        unit = exp.Literal.string(_unit_name(node).lower())
        return exp.Anonymous(this="DATE_SUB", expressions=[unit, node.expression, node.this])
    return node


def _shim_date_arithmetic(node: exp.Expr) -> exp.Expr:
    # DATE +/- INTERVAL (and date_add on a date) is a DATE in Athena, a TIMESTAMP in DuckDB.
    if isinstance(node, exp.Add | exp.Sub):
        interval = node.expression if isinstance(node.expression, exp.Interval) else node.this
        other = node.this if interval is node.expression else node.expression
        if isinstance(interval, exp.Interval) and _is_date(other) and _interval_keeps_date(interval):
            return _as_date(node)
    if (
        isinstance(node, exp.DateAdd | exp.DateSub | exp.TsOrDsAdd)
        and _is_date(node.this)
        and _unit_name(node) in _DATE_PRESERVING_UNITS
    ):
        return _as_date(node)
    return node


def _interval_keeps_date(interval: exp.Interval) -> bool:
    unit = interval.args.get("unit")
    return unit is not None and unit.name.upper() in _DATE_PRESERVING_UNITS


def _shim_date_trunc(node: exp.Expr) -> exp.Expr:
    # date_trunc of a DATE is a DATE in Athena; DuckDB returns a TIMESTAMP.
    if isinstance(node, exp.TimestampTrunc | exp.DateTrunc) and _is_date(node.this):
        return _as_date(node)
    return node


def _shim_format_datetime(node: exp.Expr) -> exp.Expr:
    # DuckDB has no format_datetime; strftime with the Joda pattern rewritten is the same thing.
    if isinstance(node, exp.Anonymous) and node.name.lower() == "format_datetime":
        args = node.expressions
        if len(args) == 2 and isinstance(args[1], exp.Literal) and args[1].is_string:
            pattern = format_time(args[1].this, _JODA_TO_STRFTIME, _JODA_TRIE) or ""
            return exp.Anonymous(this="STRFTIME", expressions=[args[0], exp.Literal.string(pattern)])
    return node


def _shim_map_agg(node: exp.Expr) -> exp.Expr:
    # DuckDB has no map_agg aggregate; build the map from a list of (key, value) entries.
    # Athena drops NULL keys, so do we (a NULL map key is an error in DuckDB).
    if isinstance(node, exp.Anonymous) and node.name.lower() == "map_agg" and len(node.expressions) == 2:
        key, value = node.expressions
        entries = exp.Anonymous(
            this="STRUCT_PACK",
            expressions=[
                exp.PropertyEQ(this=exp.to_identifier("k"), expression=key.copy()),
                exp.PropertyEQ(this=exp.to_identifier("v"), expression=value),
            ],
        )
        listed = exp.Filter(
            this=exp.Anonymous(this="LIST", expressions=[entries]),
            expression=exp.Where(this=exp.Not(this=exp.Is(this=key, expression=exp.Null()))),
        )
        return exp.Anonymous(this="MAP_FROM_ENTRIES", expressions=[listed])
    return node


def _shim_approx_percentile(node: exp.Expr) -> exp.Expr:
    # Athena's approx_percentile returns a value that occurs in the data; DuckDB's approx_quantile
    # interpolates between values and varies with its sketch. The exact discrete quantile is what
    # an approximation aims at, and it makes local answers reproducible.
    if isinstance(node, exp.ApproxQuantile) and node.args.get("weight") is None:
        return exp.Anonymous(this="QUANTILE_DISC", expressions=[node.this, node.args["quantile"]])
    return node


_SHIMS: Sequence[Callable[[exp.Expr], exp.Expr]] = (
    _shim_date_arithmetic,
    _shim_date_trunc,
    _shim_date_diff,
    _shim_format_datetime,
    _shim_map_agg,
    _shim_approx_percentile,
)


# --- catalog views -------------------------------------------------------------------------------


def _quote_ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(DUCKDB)


def _string_literal(value: str) -> str:
    return exp.Literal.string(value).sql(DUCKDB)


class AthenaEngine:
    """An in-memory DuckDB with one view per catalog table of `lake_dir`."""

    def __init__(self, lake_dir: Path, tables: Sequence[LakeTable] = ALL_TABLES) -> None:
        self.lake_dir = Path(lake_dir)
        self.tables = tuple(tables)
        self._by_name = {t.name: t for t in self.tables}
        self._schema = catalog_schema(self.tables)
        self.catalog = LocalLakeCatalog(self.lake_dir)
        # The metadata location each Iceberg view was built from, and views of older snapshots.
        self._built_from: dict[str, str | None] = {}
        self._snapshot_views: set[str] = set()
        # Whether each bronze view was built over files: its glob is read by DuckDB at every query,
        # so a view needs redefining only when the folder goes from empty to holding files.
        self._bronze_built_over_files: dict[str, bool] = {}
        # DuckDB SQL per Athena statement, for statements that read only current views (no time
        # travel, no metadata table): their translation depends on nothing but the text.
        self._translations: dict[str, str] = {}
        self._connection = duckdb.connect(database=":memory:")
        # Athena runs in UTC and divides integers as integers; make DuckDB agree.
        self._connection.execute("SET TimeZone = 'UTC'")
        self._connection.execute("SET integer_division = true")
        self.refresh()

    def __enter__(self) -> AthenaEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()

    def table_dir(self, table: LakeTable) -> Path:
        return self.lake_dir / table.relative_path

    def refresh(self) -> None:
        """Bring every view up to date: bronze files may have appeared, Iceberg tables committed.

        An Iceberg view is rebuilt only when its table's metadata pointer moved (one catalog read
        for all tables), so a query costs one planning per snapshot, not per query; a bronze view
        only when its folder went from empty to holding files or back (its glob does the rest).
        """
        pointers = self.catalog.pointers()
        for table in self.tables:
            if table.is_iceberg:
                pointer = pointers.get(table.name)
                if table.name in self._built_from and self._built_from[table.name] == pointer:
                    continue
                body = self._iceberg_view_body(table, pointer, None)
                self._built_from[table.name] = pointer
            else:
                has_files = self._has_json_files(self.table_dir(table))
                if self._bronze_built_over_files.get(table.name) is has_files:
                    continue
                body = self._view_body(table)
                self._bronze_built_over_files[table.name] = has_files
            self._connection.execute(f"CREATE OR REPLACE VIEW {_quote_ident(table.name)} AS {body}")

    def translate(self, athena_sql: str) -> str:
        return translate(athena_sql, self._schema)

    def describe(self, table_name: str) -> list[tuple[str, str]]:
        """(column, DuckDB type) of a catalog view, as the view defines it now."""
        if table_name not in self._schema:
            raise QueryError(f"No catalog table named '{table_name}'", f"DESCRIBE {table_name}")
        self.refresh()
        rows = self._connection.execute(f"DESCRIBE {_quote_ident(table_name)}").fetchall()
        return [(str(row[0]), str(row[1])) for row in rows]

    def query(self, athena_sql: str) -> QueryResult:
        """Run one Athena statement on the lake as it is now (or as it was, with time travel)."""
        try:
            self.refresh()
        except LakeCatalogError as exc:
            raise QueryError(str(exc), athena_sql) from exc
        translated = self._translations.get(athena_sql)
        if translated is None:
            tree = parse_statement(athena_sql)
            reads_current_views_only = not any(
                "$" in node.name or node.args.get("version") is not None for node in tree.find_all(exp.Table)
            )
            try:
                self._resolve_metadata_tables(tree, athena_sql)
                self._resolve_time_travel(tree, athena_sql)
            except LakeCatalogError as exc:
                raise QueryError(str(exc), athena_sql) from exc
            translated = translate_tree(tree, self._schema)
            if reads_current_views_only:
                if len(self._translations) >= MAX_CACHED_TRANSLATIONS:  # a long session of ad-hoc SQL
                    self._translations.clear()
                self._translations[athena_sql] = translated
        try:
            cursor = self._connection.execute(translated)
            columns = [d[0] for d in cursor.description or ()]
            rows = [tuple(r) for r in cursor.fetchall()]
        except duckdb.Error as exc:
            raise QueryError(f"DuckDB could not run the query: {exc}", athena_sql, translated) from exc
        return QueryResult(columns=columns, rows=rows, translated_sql=translated)

    # --- metadata tables (Athena's "table$snapshots" and friends) ----------------------------------

    def _resolve_metadata_tables(self, tree: exp.Expr, athena_sql: str) -> None:
        """Point each `"t$snapshots"` (also `$history`, `$files`, `$partitions`, `$manifests`,
        `$refs`) at a view of that Iceberg metadata, read fresh by pyiceberg."""
        for node in list(tree.find_all(exp.Table)):
            if "$" not in node.name:
                continue
            base, _, kind = node.name.partition("$")
            table = self._by_name.get(base)
            if table is None or not table.is_iceberg:
                raise QueryError(f"'{node.name}': metadata tables exist for Iceberg tables only", athena_sql)
            if kind not in METADATA_TABLES:
                known = ", ".join(f"${k}" for k in sorted(METADATA_TABLES))
                raise QueryError(f"'{node.name}': unknown metadata table (known: {known})", athena_sql)
            loaded = self.catalog.load(table)
            if loaded is None:
                raise QueryError(f"Table '{base}' has no snapshots yet", athena_sql)
            view = f"{base}__meta_{kind}"
            arrow = getattr(loaded.inspect, kind)()
            self._connection.register(view, arrow)
            self._schema[view] = {f.name: _metadata_type(str(f.type)) for f in arrow.schema}
            node.set("this", exp.to_identifier(view))

    # --- time travel ------------------------------------------------------------------------------

    def _resolve_time_travel(self, tree: exp.Expr, athena_sql: str) -> None:
        """Point each `t FOR VERSION|TIMESTAMP AS OF x` of `tree` at a view of that snapshot."""
        for node in list(tree.find_all(exp.Table)):
            version = node.args.get("version")
            if version is None:
                continue
            table = self._by_name.get(node.name)
            if table is None or not table.is_iceberg:
                raise QueryError(f"Time travel needs an Iceberg table; '{node.name}' is not one", athena_sql)
            snapshot_id = self._snapshot_for(table, version, athena_sql)
            view = self._snapshot_view(table, snapshot_id)
            node.set("version", None)
            node.set("this", exp.to_identifier(view))

    def _snapshot_for(self, table: LakeTable, version: exp.Version, athena_sql: str) -> int:
        loaded = self.catalog.load(table)
        if loaded is None:
            raise QueryError(f"Table '{table.name}' has no snapshots yet", athena_sql)
        kind = str(version.name).upper()
        value = self._constant(version.expression, athena_sql)
        if kind == "VERSION":
            try:
                snapshot_id = int(value)
            except (TypeError, ValueError):
                raise QueryError(
                    f"FOR VERSION AS OF needs a snapshot id, got {value!r}", athena_sql
                ) from None
            if loaded.snapshot_by_id(snapshot_id) is None:
                raise QueryError(f"Table '{table.name}' has no snapshot {snapshot_id}", athena_sql)
            return snapshot_id
        if kind == "TIMESTAMP":
            if not isinstance(value, datetime):
                raise QueryError(f"FOR TIMESTAMP AS OF needs a timestamp, got {value!r}", athena_sql)
            at = value if value.tzinfo else value.replace(tzinfo=UTC)
            try:
                return self.catalog.snapshot_as_of(loaded, at)
            except LakeCatalogError as exc:
                raise QueryError(f"Table '{table.name}': {exc}", athena_sql) from exc
        raise QueryError(f"Unsupported time travel: FOR {kind} AS OF", athena_sql)

    def _constant(self, expression: exp.Expr, athena_sql: str) -> Any:
        """Evaluate a time-travel operand (a literal or an expression such as now - interval)."""
        try:
            translated = translate(f"SELECT {expression.sql(dialect=ATHENA)}", {})
            row = self._connection.execute(translated).fetchone()
        except (QueryError, duckdb.Error) as exc:
            raise QueryError(f"Could not evaluate the time-travel operand: {exc}", athena_sql) from exc
        return row[0] if row else None

    def _snapshot_view(self, table: LakeTable, snapshot_id: int) -> str:
        """A view of one snapshot (built once: a snapshot never changes), typed like its table."""
        name = f"{table.name}__snapshot_{snapshot_id}"
        if name not in self._snapshot_views:
            body = self._iceberg_view_body(table, self.catalog.pointers().get(table.name), snapshot_id)
            self._connection.execute(f"CREATE OR REPLACE VIEW {_quote_ident(name)} AS {body}")
            self._schema[name] = self._schema[table.name]
            self._snapshot_views.add(name)
        return name

    # --- view bodies ------------------------------------------------------------------------------

    def _projections(self, table: LakeTable, present: set[str]) -> str:
        return ", ".join(
            f"CAST({_quote_ident(c.name) if c.name in present else 'NULL'} AS {duckdb_type(c.type)}) "
            f"AS {_quote_ident(c.name)}"
            for c in table_columns(table)
        )

    def _iceberg_view_body(self, table: LakeTable, pointer: str | None, snapshot_id: int | None) -> str:
        loaded = self.catalog.load(table, pointer) if pointer else None
        files = self.catalog.data_files(loaded, snapshot_id) if loaded is not None else []
        if not files:
            # Not created yet, or no rows in this snapshot: the same columns, no rows.
            return f"SELECT {self._projections(table, set())} WHERE false"
        listed = "[" + ", ".join(_string_literal(f) for f in files) + "]"
        # Partition values are columns of Iceberg's data files: no Hive folders to interpret.
        source = f"read_parquet({listed}, union_by_name = true, hive_partitioning = false)"
        return f"SELECT {self._projections(table, self._source_columns(source))} FROM {source}"  # noqa: S608

    def _view_body(self, table: LakeTable) -> str:
        source = self._json_source(table, self.table_dir(table))
        present = self._source_columns(source) if source else set()
        projections = self._projections(table, present)
        if source is None:
            # A fresh lake: the table exists in the catalog but has no files yet; no rows, same columns.
            return f"SELECT {projections} WHERE false"
        # Built from the catalog's own names (quoted) and lake paths (escaped literals), never user text.
        return f"SELECT {projections} FROM {source}"  # noqa: S608

    @staticmethod
    def _has_json_files(folder: Path) -> bool:
        return any(folder.rglob("*.gz"))

    def _json_source(self, table: LakeTable, folder: Path) -> str | None:
        if not self._has_json_files(folder):
            return None
        pattern = _string_literal(f"{folder}/**/*.gz")
        columns = ", ".join(
            f"{_string_literal(c.name)}: {_string_literal(duckdb_type(c.type))}" for c in table.columns
        )
        # Partition values stay strings ('01', not 1), as the catalog's string partition keys say.
        return (
            f"read_json({pattern}, format = 'newline_delimited', compression = 'gzip', "
            f"columns = {{{columns}}}, hive_partitioning = true, hive_types_autocast = false)"
        )

    def _source_columns(self, source: str) -> set[str]:
        described = self._connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()  # noqa: S608
        return {str(row[0]) for row in described}
