"""The insights export: gold_user_insights as files the loader Lambda reads, and their upkeep.

The contract with the loader (it puts one item per user into the API's table):

- after the table's commit, the gold job writes that snapshot's rows as gzip JSON Lines under
  `{gold_uri}/exports/user_insights/run=<run_id>/` (files `part-*.json.gz`, one JSON object per
  user, field names = the column names, every field present (null included), `as_of` as RFC 3339
  UTC with milliseconds and `Z`, `top_categories` an array of
  `{"category", "created", "completed"}` objects);
- then, last, the manifest `{gold_uri}/exports/user_insights/latest.json`:
  `{"as_of": "<same format>", "run_id": "<run id>", "prefix": "exports/user_insights/run=<run id>/",
  "users": <rows>}`. A reader that starts from the manifest never sees a half-written export.

Old export folders are pruned here, by the gold job, not by an S3 lifecycle rule: the job knows
which folder the manifest names (a lifecycle rule ages objects by date and could expire the folder
of a quiet week's only run), and the local lake has no lifecycle rules. The newest
`INSIGHTS_EXPORTS_KEPT` folders stay, so a loader still reading the previous manifest's folder
finds it whole.

The erase step (ADR 0013) rewrites these files without an erased user's lines
(`erase_users`), as it deletes their gold_user_insights row.
"""

from __future__ import annotations

import gzip
import json
import math

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)

from todo_contracts.lake_layout import (
    GOLD_USER_INSIGHTS,
    INSIGHTS_EXPORT_MANIFEST,
    INSIGHTS_EXPORT_PREFIX,
    INSIGHTS_EXPORTS_KEPT,
    InsightsManifest,
    insights_export_prefix,
)
from todo_etl.glue.lake_fs import Entry, LakeFs, join

# The session time zone is UTC in every run (jobs.prepare_session), so this renders UTC.
RFC3339_MILLIS = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
DATA_SUFFIX = ".json.gz"
# Rows per export file: the loader reads a file at a time; a few MB of gzip JSON each.
ROWS_PER_FILE = 100_000


def export_frame(rows: DataFrame) -> DataFrame:
    """The table's rows as the loader reads them: `as_of` as text, every other column as it is."""
    columns = [
        F.date_format("as_of", RFC3339_MILLIS).alias("as_of") if name == "as_of" else F.col(name)
        for name in GOLD_USER_INSIGHTS.column_names()
    ]
    return rows.select(*columns)


def read_manifest(spark: SparkSession, gold_uri: str) -> InsightsManifest | None:
    text = LakeFs(spark).read_text(join(gold_uri, INSIGHTS_EXPORT_MANIFEST))
    return None if text is None else InsightsManifest.from_json(text)


def write_export(
    spark: SparkSession, gold_uri: str, rows: DataFrame, users: int, as_of: str, run_id: str
) -> InsightsManifest:
    """Write one run's export (`rows`: the committed snapshot of gold_user_insights, `users` of
    them), then the manifest naming it, then prune older folders; returns the manifest."""
    prefix = insights_export_prefix(run_id)
    files = max(1, math.ceil(users / ROWS_PER_FILE))
    (
        export_frame(rows)
        .coalesce(files)
        .write.mode("overwrite")  # a rerun under the same run id replaces its own folder
        .option("compression", "gzip")
        .option("ignoreNullFields", "false")  # null figures stay in the object, as the API returns them
        # The manifest says when an export is complete; a _SUCCESS object would be one more
        # non-data file for the loader to skip.
        .option("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .json(join(gold_uri, prefix))
    )
    manifest = InsightsManifest(as_of=as_of, run_id=run_id, prefix=prefix, users=users)
    LakeFs(spark).write_text(join(gold_uri, INSIGHTS_EXPORT_MANIFEST), manifest.to_json())
    prune(spark, gold_uri, keep=INSIGHTS_EXPORTS_KEPT)
    return manifest


def _run_folders(fs: LakeFs, gold_uri: str) -> list[tuple[Entry, int]]:
    """(folder, newest modification of a file in it) per `run=` folder, newest first."""
    found = []
    for entry in fs.list_dir(join(gold_uri, INSIGHTS_EXPORT_PREFIX)):
        if entry.is_dir and entry.name.startswith("run="):
            # Folder times are not kept on S3 (there are no folders): the files' times are.
            newest = max((f.modified_ms for f in fs.list_dir(entry.uri)), default=entry.modified_ms)
            found.append((entry, newest))
    return sorted(found, key=lambda pair: (pair[1], pair[0].name), reverse=True)


def prune(spark: SparkSession, gold_uri: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` export folders (never the manifest's); names deleted."""
    fs = LakeFs(spark)
    manifest = read_manifest(spark, gold_uri)
    named = f"run={manifest.run_id}" if manifest else None
    folders = _run_folders(fs, gold_uri)
    kept = {entry.name for entry, _ in folders[:keep]} | ({named} if named else set())
    deleted = []
    for entry, _ in folders:
        if entry.name not in kept:
            fs.delete(entry.uri)
            deleted.append(entry.name)
    return deleted


def erase_users(spark: SparkSession, gold_uri: str, users: set[str]) -> dict[str, int]:
    """Rewrite every export file holding a line of `users` without those lines (each file one
    atomic replacement, other lines byte-identical); the manifest's count follows. Lines removed
    per user (users without any omitted)."""
    removed: dict[str, int] = {}
    if not users:
        return removed
    fs = LakeFs(spark)
    manifest = read_manifest(spark, gold_uri)
    removed_from_latest = 0
    for folder, _ in _run_folders(fs, gold_uri):
        for entry in fs.list_dir(folder.uri):
            if entry.is_dir or not entry.name.endswith(DATA_SUFFIX):
                continue
            data = fs.read_bytes(entry.uri)
            if data is None:
                continue
            lines = gzip.decompress(data).decode("utf-8").splitlines()
            owners = [json.loads(line).get("user_id") if line.strip() else None for line in lines]
            kept = [line for line, owner in zip(lines, owners, strict=True) if owner not in users]
            if len(kept) == len(lines):
                continue
            fs.write_bytes(entry.uri, gzip.compress("".join(f"{line}\n" for line in kept).encode("utf-8")))
            for owner in owners:
                if owner in users:
                    removed[owner] = removed.get(owner, 0) + 1
            if manifest and folder.name == f"run={manifest.run_id}":
                removed_from_latest += len(lines) - len(kept)
    if manifest and removed_from_latest:
        updated = InsightsManifest(
            manifest.as_of, manifest.run_id, manifest.prefix, manifest.users - removed_from_latest
        )
        fs.write_text(join(gold_uri, INSIGHTS_EXPORT_MANIFEST), updated.to_json())
    return removed
