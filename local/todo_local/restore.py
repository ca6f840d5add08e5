"""Rebuild the table from bronze alone: the last event of every item, its DynamoDB-typed new image.

Per item the events are ordered by (created_at of the incarnation, item_version, sequence number):
a profile re-created after account deletion starts again at version 1, but with a later
created_at, so it sorts after the removed incarnation. An item whose last event is a REMOVE is not
restored. Idempotency records never reach bronze, so the rebuilt table holds the domain items only.

Records too large for Firehose never reach bronze: the CDC function keeps them whole on its
dead-letter path. Restore takes them in as well (`dead_letter_events`, read from the dead-letter
bucket by `dead_letter_events_from_s3`), because leaving them out would quietly restore an older
version of the item they changed.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from todo_contracts.lake_layout import BRONZE_CDC
from todo_contracts.table import ENTITY_TYPE_ATTRIBUTE, LAKE_ENTITY_TYPES, TABLE
from todo_etl.cdc.dead_letter import DEAD_LETTER_PREFIX
from todo_etl.cdc.dynamodb_json import image_to_client, image_to_plain, loads

ProgressListener = Callable[[str, int, int], None]  # (phase, done, total)
BATCH_WRITE_ITEMS = 25
MAX_UNPROCESSED_ATTEMPTS = 8


class RestoreError(RuntimeError):
    """The restore cannot go on (the target table exists, a write keeps failing, ...)."""


@dataclass
class RestoreSummary:
    table_name: str
    objects_read: int = 0
    events_read: int = 0
    dead_letters_read: int = 0
    unreadable_lines: int = 0
    items_seen: int = 0
    items_deleted: int = 0
    items_restored: int = 0


@dataclass
class TableComparison:
    """Domain items (USER, TASK) of two tables, compared attribute for attribute."""

    source_items: int = 0
    target_items: int = 0
    only_in_source: list[tuple[str, str]] = field(default_factory=list)
    only_in_target: list[tuple[str, str]] = field(default_factory=list)
    different: list[tuple[str, str]] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.only_in_source or self.only_in_target or self.different)


def bronze_objects(lake_dir: Path) -> list[Path]:
    """Every delivered bronze cdc object (hidden in-flight files excluded), in key order."""
    root = Path(lake_dir) / BRONZE_CDC.relative_path
    return sorted(p for p in root.rglob("*.gz") if not p.name.startswith("."))


def _parse(line: bytes) -> dict[str, Any] | None:
    """One bronze line as an event, or None when it is not one (counted by the caller)."""
    try:
        event = loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("pk"), str) else None


def read_events(objects: list[Path], summary: RestoreSummary) -> Iterator[dict[str, Any]]:
    for path in objects:
        summary.objects_read += 1
        with gzip.open(path, "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                event = _parse(line)
                if event is None:
                    summary.unreadable_lines += 1
                    continue
                summary.events_read += 1
                yield event


def dead_letter_events_from_s3(
    bucket: str, *, prefix: str = DEAD_LETTER_PREFIX, client: Any = None
) -> list[dict[str, Any]]:
    """Every record the CDC function dead-lettered to `bucket` (each object is one bronze line).

    A missing bucket means nothing was ever dead-lettered; an object that is not a bronze line is
    an error, because skipping it could restore an item at an older version.
    """
    import boto3

    s3 = client or boto3.client("s3")
    events: list[dict[str, Any]] = []
    try:
        try:
            pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix))
        except s3.exceptions.NoSuchBucket:
            return []
        for page in pages:
            for entry in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                event = _parse(body)
                if event is None:
                    raise RestoreError(f"dead letter s3://{bucket}/{entry['Key']} is not a bronze record")
                events.append(event)
    finally:
        if client is None:
            s3.close()
    return events


def _incarnation_created_at(event: Mapping[str, Any]) -> str:
    image = event.get("new_image") or event.get("old_image") or {}
    created = image.get("created_at") if isinstance(image, Mapping) else None
    return created if isinstance(created, str) else ""


def event_order(event: Mapping[str, Any]) -> tuple[str, int, int]:
    """Later incarnation first, then higher version, then later in the stream."""
    version = event.get("item_version")
    sequence = str(event.get("sequence_number") or "0")
    return (
        _incarnation_created_at(event),
        version if isinstance(version, int) else -1,
        int(sequence) if sequence.isdigit() else -1,
    )


def latest_events(events: Iterator[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """The last event of every item key."""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for event in events:
        key = (str(event["pk"]), str(event.get("sk")))
        current = latest.get(key)
        if current is None or event_order(event) > event_order(current):
            latest[key] = event
    return latest


def _create_table(client: Any, table_name: str) -> None:
    try:
        client.create_table(**TABLE.create_table_kwargs(table_name))
    except client.exceptions.ResourceInUseException as exc:
        raise RestoreError(f"table {table_name} already exists: restore only fills a fresh table") from exc
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE.ttl_attribute}
    )


def _write(client: Any, table_name: str, items: list[dict[str, Any]]) -> None:
    requests: list[dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in items]
    for attempt in range(MAX_UNPROCESSED_ATTEMPTS):
        response = client.batch_write_item(RequestItems={table_name: requests})
        requests = response.get("UnprocessedItems", {}).get(table_name, [])
        if not requests:
            return
        time.sleep(min(2.0, 0.05 * 2**attempt))
    raise RestoreError(f"{len(requests)} items stayed unprocessed after {MAX_UNPROCESSED_ATTEMPTS} attempts")


def restore_table(
    lake_dir: Path,
    table_name: str,
    *,
    dead_letter_events: Iterable[Mapping[str, Any]] = (),
    on_progress: ProgressListener | None = None,
    client: Any = None,
) -> RestoreSummary:
    """Create `table_name` and fill it from the bronze cdc objects under `lake_dir` (plus the
    records that were dead-lettered on their way there)."""
    import boto3

    notify = on_progress or (lambda _phase, _done, _total: None)
    dynamodb = client or boto3.client("dynamodb")
    summary = RestoreSummary(table_name)
    objects = bronze_objects(lake_dir)

    def counted() -> Iterator[Mapping[str, Any]]:
        for event in read_events(objects, summary):
            yield event
            notify("read", summary.objects_read, len(objects))
        for dead_letter in dead_letter_events:
            summary.dead_letters_read += 1
            yield dead_letter

    latest = latest_events(counted())
    notify("read", summary.objects_read, len(objects))
    summary.items_seen = len(latest)
    live = [e for e in latest.values() if e.get("event_name") != "REMOVE"]
    summary.items_deleted = summary.items_seen - len(live)
    missing = [e for e in live if not isinstance(e.get("new_image_ddb"), Mapping)]
    if missing:
        raise RestoreError(
            f"{len(missing)} live items have no new_image_ddb in bronze (first: {missing[0]['event_id']})"
        )
    _create_table(dynamodb, table_name)
    try:
        for start in range(0, len(live), BATCH_WRITE_ITEMS):
            chunk = live[start : start + BATCH_WRITE_ITEMS]
            _write(dynamodb, table_name, [image_to_client(e["new_image_ddb"]) for e in chunk])
            summary.items_restored += len(chunk)
            notify("write", summary.items_restored, len(live))
    finally:
        if client is None:
            dynamodb.close()
    notify("write", summary.items_restored, len(live))
    return summary


def _domain_items(client: Any, table_name: str) -> dict[tuple[str, str], dict[str, Any]]:
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for page in client.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        for item in page.get("Items", []):
            entity_type = item.get(ENTITY_TYPE_ATTRIBUTE, {}).get("S")
            if entity_type in LAKE_ENTITY_TYPES:
                plain = image_to_plain(item)  # sets sorted, binary as base64: order-free comparison
                items[(plain[TABLE.partition_key.name], plain[TABLE.sort_key.name])] = plain
    return items


def compare_tables(source: str, target: str, *, client: Any = None) -> TableComparison:
    """Every USER and TASK item of `source` equal to the one in `target` (an operator check; scans)."""
    import boto3

    dynamodb = client or boto3.client("dynamodb")
    try:
        left, right = _domain_items(dynamodb, source), _domain_items(dynamodb, target)
    finally:
        if client is None:
            dynamodb.close()
    return TableComparison(
        source_items=len(left),
        target_items=len(right),
        only_in_source=sorted(left.keys() - right.keys()),
        only_in_target=sorted(right.keys() - left.keys()),
        different=sorted(k for k in left.keys() & right.keys() if left[k] != right[k]),
    )
