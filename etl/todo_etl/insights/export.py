"""The user-insights export the gold job writes, read and validated before anything is loaded.

After each gold run the job writes gzip JSON Lines part files under
`{gold}/exports/user_insights/run=<run_id>/` (one object per live user; Spark leaves null fields
out) and then, last, the manifest `{gold}/exports/user_insights/latest.json` naming that run. The
loader reads the manifest, then exactly the run's part files, and validates every row, so a bad
or incomplete export is refused as a whole before a single item is written.

`{gold}` is `s3://<gold bucket>` on AWS and the lake's gold folder locally (the same `gold_uri`
the Glue jobs get); `export_source` picks the reader.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from todo_contracts.lake_layout import (
    GOLD_USER_INSIGHTS,
    INSIGHTS_EXPORT_MANIFEST,
    INSIGHTS_RUN_FOLDER_PREFIX,
    InsightsManifest,
)

# The export contract with the gold job (issue 10). Defined here until the gold side (lake_layout)
# names them; both must stay equal to what the job writes.

# "2026-12-03T14:00:00.000Z": fixed width, so equal formats compare lexicographically in time order
# (the loader's conditional writes rely on that).
AS_OF_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
WEEKDAYS = frozenset({"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"})
MAX_TOP_CATEGORIES = 3
COUNT_FIELDS = (
    "total_tasks",
    "open_tasks",
    "completed_tasks",
    "overdue_tasks",
    "completed_last_7_days",
    "completed_last_30_days",
    "current_streak_days",
    "longest_streak_days",
)
# Every field of a row (gold_user_insights' columns); a field outside this set is refused (the
# contract changed under us).
ROW_FIELDS = frozenset(GOLD_USER_INSIGHTS.column_names())
# Guards against an export that would not fit the function's memory: far above any real user count
# per run file, far below what would exhaust a 512 MB function.
MAX_PART_BYTES = 256 * 1024 * 1024


class InsightsExportError(RuntimeError):
    """The export cannot be loaded: no manifest, a malformed one, missing or invalid part files."""


class ExportSource(Protocol):
    """Where the export lives: read one object, list the objects under a prefix."""

    def read(self, key: str) -> bytes: ...

    def list(self, prefix: str) -> list[str]: ...

    def describe(self, key: str) -> str: ...


class S3ExportSource:
    """The gold bucket on AWS (or the emulator behind AWS_ENDPOINT_URL)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def read(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise InsightsExportError(f"{self.describe(key)}: cannot be read ({code or exc})") from exc
        except BotoCoreError as exc:
            raise InsightsExportError(f"{self.describe(key)}: cannot be read ({exc})") from exc
        return body

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                keys.extend(entry["Key"] for entry in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise InsightsExportError(f"{self.describe(prefix)}: cannot be listed ({exc})") from exc
        return sorted(keys)


class LocalExportSource:
    """The lake's gold folder on this machine (the local platform)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self, key: str) -> str:
        return str(self.root / key)

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except OSError as exc:
            raise InsightsExportError(
                f"{self.describe(key)}: cannot be read ({exc.strerror or exc})"
            ) from exc

    def list(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(str(path.relative_to(self.root)) for path in folder.rglob("*") if path.is_file())


def export_source(gold_uri: str, s3_client: Any | None = None) -> ExportSource:
    """The reader for `gold_uri`: `s3://bucket[/]` on AWS, else a local folder path."""
    if gold_uri.startswith("s3://"):
        bucket, _, rest = gold_uri.removeprefix("s3://").partition("/")
        if not bucket or rest.strip("/"):
            raise InsightsExportError(f"GOLD_URI must be s3://<bucket>, got {gold_uri!r}")
        if s3_client is None:
            raise InsightsExportError("an S3 client is needed to read an s3:// export")
        return S3ExportSource(s3_client, bucket)
    return LocalExportSource(Path(gold_uri))


def parse_manifest(raw: bytes, where: str) -> InsightsManifest:
    """The manifest, validated; InsightsExportError naming the problem otherwise."""
    try:
        values = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InsightsExportError(f"{where}: not JSON ({exc})") from None
    if not isinstance(values, dict):
        raise InsightsExportError(f"{where}: must be a JSON object")
    as_of, run_id, prefix, users = (values.get(name) for name in ("as_of", "run_id", "prefix", "users"))
    if not isinstance(as_of, str) or not AS_OF_PATTERN.match(as_of):
        raise InsightsExportError(f"{where}: as_of must look like 2026-12-03T14:00:00.000Z, got {as_of!r}")
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise InsightsExportError(f"{where}: run_id must be 1-128 of [A-Za-z0-9._:-], got {run_id!r}")
    # The prefix must be this run's folder: anything else could point the loader anywhere.
    if prefix != f"{INSIGHTS_RUN_FOLDER_PREFIX}{run_id}/":
        raise InsightsExportError(
            f"{where}: prefix must be {INSIGHTS_RUN_FOLDER_PREFIX}{run_id}/, got {prefix!r}"
        )
    if not isinstance(users, int) or isinstance(users, bool) or users < 0:
        raise InsightsExportError(f"{where}: users must be a non-negative integer, got {users!r}")
    return InsightsManifest(as_of=as_of, run_id=run_id, prefix=prefix, users=users)


def is_part_file(key: str) -> bool:
    """Spark's data files (`part-*.json.gz`); `_SUCCESS`, `.crc` and the like are not data."""
    name = key.rsplit("/", 1)[-1]
    return name.startswith("part-") and name.endswith(".json.gz")


def _count(row: Mapping[str, Any], name: str, where: str) -> int:
    value = row.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InsightsExportError(f"{where}: {name} must be a non-negative integer, got {value!r}")
    return value


def _number(value: Any) -> bool:
    """An exact JSON number: int (not bool) or a finite Decimal (json parses NaN as float: refused)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, Decimal) and value.is_finite())


def validate_row(row: Any, manifest: InsightsManifest, where: str) -> dict[str, Any]:
    """One user's insights, checked field by field; absent nullable fields become None."""
    if not isinstance(row, dict):
        raise InsightsExportError(f"{where}: must be a JSON object")
    unknown = sorted(set(row) - ROW_FIELDS)
    if unknown:
        raise InsightsExportError(f"{where}: unknown fields {unknown}")
    user_id = row.get("user_id")
    if not isinstance(user_id, str) or not user_id or "#" in user_id or len(user_id) > 128:
        raise InsightsExportError(f"{where}: user_id must be a non-empty id without '#', got {user_id!r}")
    where = f"{where} (user {user_id})"
    if row.get("as_of") != manifest.as_of:
        raise InsightsExportError(
            f"{where}: as_of {row.get('as_of')!r} differs from the manifest's {manifest.as_of}"
        )
    values: dict[str, Any] = {"user_id": user_id, "as_of": manifest.as_of}
    for name in COUNT_FIELDS:
        values[name] = _count(row, name, where)
    rate = row.get("completion_rate")
    if rate is None or not _number(rate) or not 0 <= rate <= 100:
        raise InsightsExportError(f"{where}: completion_rate must be a number from 0 to 100, got {rate!r}")
    values["completion_rate"] = rate
    median = row.get("median_hours_to_complete")
    if median is not None and (not _number(median) or median < 0):
        raise InsightsExportError(f"{where}: median_hours_to_complete must be null or >= 0, got {median!r}")
    values["median_hours_to_complete"] = median
    weekday = row.get("busiest_weekday")
    if weekday is not None and weekday not in WEEKDAYS:
        raise InsightsExportError(f"{where}: busiest_weekday must be null or a weekday name, got {weekday!r}")
    values["busiest_weekday"] = weekday
    values["top_categories"] = _top_categories(row.get("top_categories", []), where)
    return values


def _top_categories(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_TOP_CATEGORIES:
        raise InsightsExportError(f"{where}: top_categories must be a list of at most {MAX_TOP_CATEGORIES}")
    categories = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"category", "created", "completed"}:
            raise InsightsExportError(f"{where}: each top category is {{category, created, completed}}")
        if not isinstance(entry["category"], str) or not entry["category"]:
            raise InsightsExportError(f"{where}: a top category's name must be a non-empty string")
        categories.append(
            {
                "category": entry["category"],
                "created": _count(entry, "created", where),
                "completed": _count(entry, "completed", where),
            }
        )
    return categories


def _lines(raw: bytes, where: str) -> Iterator[str]:
    try:
        text = gzip.decompress(raw).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise InsightsExportError(f"{where}: not gzip-compressed UTF-8 JSON Lines ({exc})") from None
    for line in text.splitlines():
        if line.strip():
            yield line


def read_export(source: ExportSource) -> tuple[InsightsManifest, list[dict[str, Any]]]:
    """The latest manifest and every row of its run, validated as a whole.

    Refused (InsightsExportError): no or a malformed manifest, a run folder without part files, a
    malformed row, a user twice, or a row count that differs from the manifest's `users` (a part
    file missing or extra).
    """
    where = source.describe(INSIGHTS_EXPORT_MANIFEST)
    manifest = parse_manifest(source.read(INSIGHTS_EXPORT_MANIFEST), where)
    parts = [key for key in source.list(manifest.prefix) if is_part_file(key)]
    if not parts and manifest.users:
        raise InsightsExportError(
            f"{source.describe(manifest.prefix)}: no part-*.json.gz files for run {manifest.run_id}"
        )
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for key in parts:
        raw = source.read(key)
        if len(raw) > MAX_PART_BYTES:
            raise InsightsExportError(f"{source.describe(key)}: larger than {MAX_PART_BYTES} bytes")
        for number, line in enumerate(_lines(raw, source.describe(key)), start=1):
            at = f"{source.describe(key)} line {number}"
            try:
                # Decimal keeps the numbers exact; DynamoDB takes Decimal, never float.
                parsed = json.loads(line, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                raise InsightsExportError(f"{at}: not JSON ({exc})") from None
            row = validate_row(parsed, manifest, at)
            if row["user_id"] in seen:
                raise InsightsExportError(
                    f"{at}: user {row['user_id']} appears twice in run {manifest.run_id}"
                )
            seen.add(row["user_id"])
            rows.append(row)
    if len(rows) != manifest.users:
        raise InsightsExportError(
            f"run {manifest.run_id}: the manifest says {manifest.users} users, "
            f"the part files hold {len(rows)}"
        )
    return manifest, rows
