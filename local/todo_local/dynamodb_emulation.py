"""DynamoDB's guarantees on top of moto: a thin, documented layer installed in the moto server process.

moto 5.2.5 (pinned in requirements/dev.txt) breaks three things DynamoDB promises; see ADR 0010:

1. **Isolation.** moto serves requests on many threads and its backends take no lock, so a request
   can see another's half-applied transaction, and iterating a table while another thread inserts
   into it fails with "dictionary changed size during iteration". Here one re-entrant lock
   serializes every DynamoDB and DynamoDB Streams request (`call_action` of both response classes):
   a request sees the state before or after any other request, never in between.
2. **Atomic transactions at a cost proportional to the items touched.** moto's
   `transact_write_items` deep-copies every table it touches (items, indexes and the stream) on
   every call, applies the actions one by one, and on any failed condition puts the whole copy
   back, erasing writes other requests made meanwhile. Here it checks every condition first
   (`TransactionCanceledException` with one cancellation reason per action, as DynamoDB answers),
   then applies the actions with moto's own item code, keeping an undo log of the touched items
   only (their pre-images) and of the stream length; if an action fails, exactly those items are
   put back and the stream records the transaction appended are removed.
3. **Bounded stream memory.** moto keeps every stream record for the life of the process and every
   shard iterator forever. Here records are kept for 24 hours (DynamoDB's retention), or until
   every registered local consumer (the local stream poller) has checkpointed past them
   (`StreamConsumer`, called after a batch is durably handled); shard iterators expire after
   15 minutes, as on AWS (`ExpiredIteratorException`).

`StreamShard.add` (replaced for 3.) also stamps each record's `ApproximateCreationDateTime` from
`settings.record_time`, the wall clock (moto's `utcnow()` by another name) unless the demo's
history replay swaps it with `record_times` while it replays past activity.

Nothing in api/ or etl/ knows about this module: they reach the emulator over HTTP as they reach
AWS. `install()` is idempotent and process-wide (moto's backends are process-global).

The moto code replaced or relied on is guarded: `GUARDED_SOURCES` holds the sha256 of each such
function's source in moto 5.2.5, and `guard_mismatches()` (run by the tests) names any that changed.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import moto
from moto.core.exceptions import JsonRESTError
from moto.core.responses import BaseResponse
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

LOG = logging.getLogger("todo_local.dynamodb_emulation")

MOTO_VERSION = "5.2.5"
STREAM_RETENTION_SECONDS = 24 * 3600.0  # DynamoDB Streams keep records for 24 hours
SHARD_ITERATOR_TTL_SECONDS = 15 * 60.0  # a shard iterator expires 15 minutes after it is returned

# Every DynamoDB and DynamoDB Streams request of the process runs under this lock.
LOCK = threading.RLock()

# Attributes this layer adds to moto's objects.
_TRIMMED = "_todo_emulation_trimmed"  # StreamShard: records released from the front so far
_CREATED = "_todo_emulation_created"  # StreamRecord / ShardIterator: `settings.clock()` at creation


@dataclass
class EmulationSettings:
    """Retention limits and the clock they are measured on (tests shorten or replace them)."""

    stream_retention_seconds: float = STREAM_RETENTION_SECONDS
    iterator_ttl_seconds: float = SHARD_ITERATOR_TTL_SECONDS
    clock: Callable[[], float] = field(default=time.monotonic)
    # The wall clock a stream record's ApproximateCreationDateTime is stamped from (DynamoDB's own
    # clock on AWS). Only the demo's history replay swaps it (`record_times`), alongside the API's
    # time source, so replayed changes reach the lake dated when they were simulated to happen.
    # Retention above stays on `clock`: memory is released on real time, whatever the records say.
    record_time: Callable[[], float] = field(default=time.time)


settings = EmulationSettings()

# -- the guard: moto code this layer replaces or relies on -------------------------------------------

_GUARDED: dict[str, Callable[..., Any]] = {
    # replaced
    "DynamoDBBackend.transact_write_items": DynamoDBBackend.transact_write_items,
    "StreamShard.add": StreamShard.add,
    "StreamShard.get": StreamShard.get,
    "DynamoDBStreamsBackend.get_records": DynamoDBStreamsBackend.get_records,
    # wrapped
    "DynamoHandler.call_action": DynamoHandler.call_action,
    "BaseResponse.call_action": BaseResponse.call_action,
    "ShardIterator.__init__": ShardIterator.__init__,
    "DynamoDBStreamsHandler": DynamoDBStreamsHandler,  # inherits BaseResponse.call_action
    # relied on (their behaviour is what the undo log and the stream trimming assume)
    "DynamoDBBackend.put_item": DynamoDBBackend.put_item,
    "DynamoDBBackend.update_item": DynamoDBBackend.update_item,
    "DynamoDBBackend.delete_item": DynamoDBBackend.delete_item,
    "DynamoDBBackend.get_keys_value": DynamoDBBackend.get_keys_value,
    "DynamoDBBackend.get_table": DynamoDBBackend.get_table,
    "Table.put_item": Table.put_item,
    "Table.get_item": Table.get_item,
    "Table.delete_item": Table.delete_item,
    "StreamShard.__init__": StreamShard.__init__,
    "StreamRecord.__init__": StreamRecord.__init__,
    "ShardIterator.get": ShardIterator.get,
    "DynamoDBStreamsBackend.get_shard_iterator": DynamoDBStreamsBackend.get_shard_iterator,
    "DynamoDBStreamsBackend._get_table_from_arn": DynamoDBStreamsBackend._get_table_from_arn,
    "TransactionCanceledException.__init__": TransactionCanceledException.__init__,
}

# sha256 of `inspect.getsource` of each guarded function in moto 5.2.5. When a test reports a
# mismatch, moto changed: re-read that function against this module (and ADR 0010) before
# updating the hash — the undo log assumes moto replaces items on put and mutates them on update,
# and the stream code assumes sequence numbers are `starting_sequence_number + position`.
GUARDED_SOURCES: dict[str, str] = {
    "DynamoDBBackend.transact_write_items": "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4",  # noqa: E501
    "StreamShard.add": "357dc6da267e5dd7d46e18ee25d14b232a98679677906a2f02e4d454d1f11e03",
    "StreamShard.get": "fa7e9a0d7b438c2fbd4bcc8a04fecc79f70862760d1f176d3bc86775967e2d7e",
    "DynamoDBStreamsBackend.get_records": "db8c6cb04430c08f76be9e6b3cc9317387643b4fee26f43071c5ac22e25d2b64",
    "DynamoHandler.call_action": "ce5f57cf83cde3400fa73a201929d18af92aaba2bb301d4d74609a1467b8daaf",
    "BaseResponse.call_action": "26076963fd17fd1a40be642032b5a8d90f159c19d01b80a5f0b0c839770ee0d6",
    "ShardIterator.__init__": "5842e50a95242ef84673613918b71c4a2a9c149d4baa10904b0c84034c4c793e",
    "DynamoDBStreamsHandler": "99954259da2c81c402933750c4911c6c4df86ca81caa9b4da50135eef65e20eb",
    "DynamoDBBackend.put_item": "f5d9a5042c77b89e5f4c88b5884f7966b9dccd95b8b04090ee9e07afc5eea675",
    "DynamoDBBackend.update_item": "218984588dd689a5de81678ce11e6a40d05c91e7b6c21b44c4ed4122fe74aa9f",
    "DynamoDBBackend.delete_item": "083a4bb1af18f6fd2feef40195a4c9c803da66cb2cacd14f87916c6e76930ea5",
    "DynamoDBBackend.get_keys_value": "1f948797496ddc2cd4e4752e29e470d19ce757ca3406e07fed6bd90b331c1caa",
    "DynamoDBBackend.get_table": "a738146035fc206b81e0659a004dcc62ae70eb356ef7c5ab771ba68bdd2d7ab0",
    "Table.put_item": "de23933013ef842639046c19bcf7e418bce0474d810f6719368be4cedce11d47",
    "Table.get_item": "b08e98fe37b7e5836afe03b010d637ef50df5dea6cbecd9cf8816eef326a21cd",
    "Table.delete_item": "1594f7b07616c8cb8cdf0fbf58d6f54eeac83f25d7ac7b14e832a08e10efd8f9",
    "StreamShard.__init__": "5b521e4bd51c467eac3a15e4448e221f7221d55ca9f8dd2ae5f7ecf6641e75ed",
    "StreamRecord.__init__": "511904c6352cfd9a0dc7eb26ebbff6ad007d734698d7097b194f7f56a85482be",
    "ShardIterator.get": "8932c0f7250e89963eef1e848bdd205a05c0f6ed94f526ed36ca9b7339442ace",
    "DynamoDBStreamsBackend.get_shard_iterator": "a0be676df0bfc9ef0fdb546a45df0f1510de564d215dcafffbd144a8f04219ef",  # noqa: E501
    "DynamoDBStreamsBackend._get_table_from_arn": "f0fd7496973bebb2d29ca528de61a42d1858f2f1b409b9f1194f7bb3b8b960c7",  # noqa: E501
    "TransactionCanceledException.__init__": "abb344ea2430c8a24df0050fd911297858bfd3a0a7da6c5612d3043f3a4bca13",  # noqa: E501
}


def source_hash(fn: Callable[..., Any]) -> str:
    """sha256 of a function's source text."""
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()


def guard_mismatches() -> list[str]:
    """Names of guarded moto functions whose source is not the one this layer was written against."""
    problems = []
    if moto.__version__ != MOTO_VERSION:
        problems.append(f"moto {moto.__version__} is installed; this layer was written for {MOTO_VERSION}")
    for name, fn in _GUARDED.items():
        if source_hash(fn) != GUARDED_SOURCES.get(name):
            problems.append(f"{name} changed in moto {moto.__version__}")
    return problems


# -- 1. one lock around every request -----------------------------------------------------------------


def _serialized(method: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(method)
    def call_action(self: Any) -> Any:
        with LOCK:
            return method(self)

    return call_action


# -- 2. transactions with an undo log of the touched items ----------------------------------------


@dataclass
class _Action:
    op_type: str
    op: dict[str, Any]
    table: Table
    key: dict[str, Any]
    hash_key: DynamoType
    range_key: DynamoType | None


@dataclass
class _UndoLog:
    """Pre-images of the touched items, and where each touched table's stream ended."""

    items: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = field(default_factory=list)
    streams: dict[int, tuple[StreamShard, int]] = field(default_factory=dict)

    def remember(self, action: _Action) -> None:
        table = action.table
        current = table.get_item(action.hash_key, action.range_key)
        # One item's copy: moto's update_item mutates the stored Item in place.
        self.items.append((table, action.hash_key, action.range_key, copy.deepcopy(current)))
        shard = table.stream_shard
        if shard is not None and id(shard) not in self.streams:
            # An absolute position: records may be released from the front while the actions apply.
            self.streams[id(shard)] = (shard, _trimmed(shard) + len(shard.items))

    def roll_back(self) -> None:
        for table, hash_key, range_key, before in reversed(self.items):
            if table.range_key_attr is not None:
                bucket = table.items[hash_key]
                if before is None:
                    bucket.pop(range_key, None)
                    if not bucket:
                        table.items.pop(hash_key, None)
                else:
                    bucket[range_key] = before
            elif before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before  # type: ignore[assignment]  # no range key: hash → item
        for shard, end in self.streams.values():
            del shard.items[max(0, end - _trimmed(shard)) :]


def _parse_action(backend: DynamoDBBackend, entry: dict[str, Any]) -> _Action:
    if len(entry) > 1:
        raise TransactWriteSingleOpException()
    op_type, op = next(iter(entry.items()))
    if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
        raise MockValidationException(f"Unsupported transaction operation: {op_type}")
    table = backend.get_table(op["TableName"])
    if op_type == "Put":
        attrs = op["Item"]
        if table.hash_key_attr not in attrs or (
            table.range_key_attr is not None and table.range_key_attr not in attrs
        ):
            raise MockValidationException(
                "One or more parameter values were invalid: Missing the key in the item"
            )
        key = {name: attrs[name] for name in table.table_key_attrs}
    else:
        key = op["Key"]
    hash_key, range_key = backend.get_keys_value(table, key)
    return _Action(op_type, op, table, key, hash_key, range_key)


def _condition_failure(action: _Action) -> tuple[str, str, dict[str, Any] | None] | None:
    """The cancellation reason of an action whose condition fails now, else None."""
    condition = action.op.get("ConditionExpression")
    if condition is None:
        return None
    current = action.table.get_item(action.hash_key, action.range_key)
    condition_op = get_filter_expression(
        condition, action.op.get("ExpressionAttributeNames"), action.op.get("ExpressionAttributeValues")
    )
    if condition_op.expr(current):
        return None
    item = None
    if action.op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
        item = current.to_json()["Attributes"]
    return ("ConditionalCheckFailed", ConditionalCheckFailed().message, item)


def _apply(backend: DynamoDBBackend, action: _Action) -> None:
    op = action.op
    names = op.get("ExpressionAttributeNames")
    values = op.get("ExpressionAttributeValues")
    name = action.table.name
    if action.op_type == "Put":
        backend.put_item(
            name, op["Item"], expression_attribute_names=names, expression_attribute_values=values
        )
    elif action.op_type == "Delete":
        backend.delete_item(
            name, action.key, expression_attribute_names=names, expression_attribute_values=values
        )
    elif action.op_type == "Update":
        backend.update_item(
            name,
            action.key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=names,  # type: ignore[arg-type]  # None as moto's own caller passes
            expression_attribute_values=values,  # type: ignore[arg-type]
        )


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """All or nothing, isolated, at a cost proportional to the items touched (replaces moto's)."""
    with LOCK:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        actions = [_parse_action(self, entry) for entry in transact_items]
        seen: set[tuple[str, DynamoType, DynamoType | None]] = set()
        for action in actions:
            target = (action.table.name, action.hash_key, action.range_key)
            if target in seen:
                raise MultipleTransactionsException()
            seen.add(target)

        # Every condition against the state before the transaction (no action touches another's item).
        reasons = [_condition_failure(action) for action in actions]
        if any(reason is not None for reason in reasons):
            raise TransactionCanceledException([r if r is not None else (None, None, None) for r in reasons])

        undo = _UndoLog()
        for index, action in enumerate(actions):
            if action.op_type == "ConditionCheck":
                continue
            undo.remember(action)
            try:
                _apply(self, action)
            except MockValidationException:
                undo.roll_back()
                raise
            except Exception as exc:  # e.g. an update expression moto cannot apply to this item
                undo.roll_back()
                errors: list[Any] = [(None, None, None)] * len(actions)
                errors[index] = (type(exc).__name__, str(getattr(exc, "message", exc)), None)
                raise TransactionCanceledException(errors) from exc


# -- 3. bounded stream memory ---------------------------------------------------------------------------


def _trimmed(shard: StreamShard) -> int:
    return int(getattr(shard, _TRIMMED, 0))


def _release_front(shard: StreamShard, count: int) -> None:
    if count > 0:
        del shard.items[:count]
        setattr(shard, _TRIMMED, _trimmed(shard) + count)


def _trim_expired(shard: StreamShard) -> None:
    oldest_kept = settings.clock() - settings.stream_retention_seconds
    count = 0
    for record in shard.items:
        if getattr(record, _CREATED, oldest_kept) >= oldest_kept:
            break
        count += 1
    _release_front(shard, count)


def _shard_add(self: StreamShard, old: Item | None, new: Item | None) -> None:
    """moto's `StreamShard.add` with sequence numbers that survive trimming (no Lambda mappings:
    moto cannot run Lambda functions here anyway)."""
    view_type = self.table.stream_specification["StreamViewType"]  # type: ignore[index]
    event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    sequence = self.starting_sequence_number + _trimmed(self) + len(self.items)
    record = StreamRecord(self.table, view_type, event_name, old, new, sequence)
    # moto stamps utcnow(); the same naive-UTC datetime, from the settable wall clock instead.
    stamped = datetime.fromtimestamp(settings.record_time(), UTC).replace(tzinfo=None)
    record.record["dynamodb"]["ApproximateCreationDateTime"] = stamped
    setattr(record, _CREATED, settings.clock())
    self.items.append(record)
    _trim_expired(self)


@contextmanager
def record_times(source: Callable[[], float]) -> Iterator[None]:
    """Stamp new stream records' ApproximateCreationDateTime from `source` (POSIX seconds) for the
    duration of the block, then restore the previous clock (the history replay's seam)."""
    previous = settings.record_time
    settings.record_time = source
    try:
        yield
    finally:
        settings.record_time = previous


def _shard_get(self: StreamShard, start: int, quantity: int) -> list[dict[str, Any]]:
    """Records from sequence number `start`; a position already trimmed reads from the oldest kept."""
    _trim_expired(self)
    index = max(0, start - self.starting_sequence_number - _trimmed(self))
    return [record.to_json() for record in self.items[index : index + quantity]]


_original_iterator_init = ShardIterator.__init__


def _iterator_init(
    self: ShardIterator,
    streams_backend: DynamoDBStreamsBackend,
    stream_shard: StreamShard,
    shard_iterator_type: str,
    sequence_number: int | None = None,
) -> None:
    _original_iterator_init(self, streams_backend, stream_shard, shard_iterator_type, sequence_number)
    first_kept = stream_shard.starting_sequence_number + _trimmed(stream_shard)
    if shard_iterator_type == "TRIM_HORIZON":
        self.sequence_number = first_kept
    elif shard_iterator_type == "LATEST":
        self.sequence_number = first_kept + len(stream_shard.items)
    setattr(self, _CREATED, settings.clock())


class ExpiredIteratorError(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "ExpiredIteratorException", "Iterator expired. The iterator was created more than 15 minutes ago."
        )


def _expire_iterators(backend: DynamoDBStreamsBackend) -> None:
    oldest_valid = settings.clock() - settings.iterator_ttl_seconds
    expired = list(
        itertools.takewhile(
            lambda arn: getattr(backend.shard_iterators[arn], _CREATED, oldest_valid) < oldest_valid,
            backend.shard_iterators,
        )
    )
    for arn in expired:  # insertion order is creation order
        del backend.shard_iterators[arn]


def _get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
    with LOCK:
        _expire_iterators(self)
        iterator = self.shard_iterators.get(iterator_arn)
        if iterator is None:
            raise ExpiredIteratorError()
        return iterator.get(limit)


def _shard_of(stream_arn: str) -> StreamShard | None:
    """The shard of a stream ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL)."""
    parts = stream_arn.split(":", 5)
    region, account, resource = parts[3], parts[4], parts[5]
    table = dynamodb_backends[account][region].tables.get(resource.split("/")[1])
    return None if table is None else table.stream_shard


class StreamConsumer:
    """A local reader of the emulated stream (the stream poller). Records every registered consumer
    has checkpointed past are released; `close()` unregisters (its position then holds nothing)."""

    _positions: dict[tuple[str, str], dict[int, int]] = {}  # (stream ARN, shard id) → consumer → seq
    _ids = itertools.count(1)

    def __init__(self) -> None:
        self.id = next(StreamConsumer._ids)
        self._keys: set[tuple[str, str]] = set()

    def __call__(self, stream_arn: str, shard_id: str, sequence_number: str) -> None:
        """Everything up to and including `sequence_number` is durably handled by this consumer."""
        with LOCK:
            key = (stream_arn, shard_id)
            positions = StreamConsumer._positions.setdefault(key, {})
            positions[self.id] = max(int(sequence_number), positions.get(self.id, 0))
            self._keys.add(key)
            shard = _shard_of(stream_arn)
            if shard is None or shard.id != shard_id:
                return
            handled_up_to = min(positions.values())
            first_kept = shard.starting_sequence_number + _trimmed(shard)
            _release_front(shard, min(len(shard.items), handled_up_to - first_kept + 1))

    def close(self) -> None:
        with LOCK:
            for key in self._keys:
                positions = StreamConsumer._positions.get(key, {})
                positions.pop(self.id, None)
                if not positions:
                    StreamConsumer._positions.pop(key, None)
            self._keys.clear()


def stream_records_kept() -> int:
    """How many stream records the emulator holds now, over every table of every backend."""
    with LOCK:
        total = 0
        for account in list(dynamodb_backends):
            for region in list(dynamodb_backends[account]):
                for table in dynamodb_backends[account][region].tables.values():
                    if table.stream_shard is not None:
                        total += len(table.stream_shard.items)
        return total


# -- install ----------------------------------------------------------------------------------------

_state = {"installed": False}


def installed() -> bool:
    return _state["installed"]


def install() -> None:
    """Correct moto in this process (idempotent). Warns when moto is not the version it was written for."""
    with LOCK:
        if _state["installed"]:
            return
        for problem in guard_mismatches():
            LOG.warning("dynamodb emulation: %s (re-check todo_local.dynamodb_emulation)", problem)
        DynamoHandler.call_action = _serialized(DynamoHandler.call_action)  # type: ignore[method-assign]
        DynamoDBStreamsHandler.call_action = _serialized(BaseResponse.call_action)  # type: ignore[method-assign,assignment]
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        StreamShard.add = _shard_add  # type: ignore[method-assign]
        StreamShard.get = _shard_get  # type: ignore[method-assign]
        ShardIterator.__init__ = _iterator_init  # type: ignore[method-assign]
        DynamoDBStreamsBackend.get_records = _get_records  # type: ignore[method-assign]
        _state["installed"] = True
