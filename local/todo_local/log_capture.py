"""Routes what in-process Lambda handlers print: EMF blobs and JSON logs to files, the rest to stderr.

On AWS a function's stdout is its CloudWatch log stream, and CloudWatch lifts EMF blobs (JSON with
an `_aws` key) out of it as metrics. Locally the handlers run in this process, so stdout must be
split the same way: `DIR/logs/metrics.jsonl` for EMF, `DIR/logs/<function>.jsonl` for JSON log
lines, and anything else to the terminal (stderr).

Why a process-wide router installed as `sys.stdout`, selected by a context variable:
- Powertools Logger binds the stream object that `sys.stdout` is when the Logger is built (at
  import), while Powertools Metrics `print()`s to whatever `sys.stdout` is at flush time. One
  router object that stays `sys.stdout` (re-installed on each invocation if something, such as
  pytest's capture, displaced it) serves both.
- A context variable, not a thread-local, marks "this code runs inside an invocation of function
  X": asyncio tasks and anyio's worker threads (FastAPI's sync routes) copy the context, so lines
  logged there are routed too, while other threads' output passes through untouched.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

METRICS_FILE = "metrics.jsonl"

RecordListener = Callable[[str, dict[str, Any]], None]  # (function name, JSON log record)


def _terminal_write(text: str) -> None:
    sys.stderr.write(text + "\n")


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class LogSink:
    """One platform's log folder: `metrics.jsonl` for EMF blobs, `<function>.jsonl` for JSON lines."""

    def __init__(self, logs_dir: Path, on_record: RecordListener | None = None) -> None:
        self.logs_dir = logs_dir
        self._on_record = on_record
        self._files: dict[str, TextIO] = {}
        self._lock = threading.Lock()
        self._closed = False

    @property
    def metrics_path(self) -> Path:
        return self.logs_dir / METRICS_FILE

    def log_path(self, function: str) -> Path:
        return self.logs_dir / f"{function}.jsonl"

    def route(self, function: str, line: str) -> None:
        """Send one output line of `function` where CloudWatch would have put it."""
        text = line.strip()
        if not text:
            return
        record = _json_object(text)
        if record is None:
            _terminal_write(line.rstrip("\n"))
            return
        is_metric = "_aws" in record
        self._append(METRICS_FILE if is_metric else f"{function}.jsonl", text)
        if self._on_record is not None and not is_metric:
            self._on_record(function, record)

    def _append(self, name: str, text: str) -> None:
        with self._lock:
            if self._closed:  # a straggler after stop: never lose it silently
                _terminal_write(text)
                return
            handle = self._files.get(name)
            if handle is None:
                self.logs_dir.mkdir(parents=True, exist_ok=True)
                handle = self._files[name] = (self.logs_dir / name).open("a", encoding="utf-8")
            handle.write(text + "\n")
            handle.flush()  # readers (tests, the logs delivery stream) see each line at once

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for handle in self._files.values():
                handle.close()
            self._files.clear()


@dataclass(frozen=True)
class _Scope:
    sink: LogSink
    function: str


_scope: ContextVar[_Scope | None] = ContextVar("todo_local_log_scope", default=None)


class StdoutRouter(io.TextIOBase):
    """A `sys.stdout` that routes lines written inside a capture scope and passes the rest through."""

    def __init__(self) -> None:
        super().__init__()
        self._fallback: TextIO | None = None
        self._pending = threading.local()  # partial lines: print() writes text and "\n" separately
        self._lock = threading.Lock()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # a read-only property on TextIOBase too
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def _passthrough_target(self) -> TextIO:
        current = sys.stdout
        if current is not self:
            return current
        return self._fallback or sys.__stdout__ or sys.stderr

    def write(self, s: str) -> int:
        scope = _scope.get()
        if scope is None:
            return self._passthrough_target().write(s)
        pending: str = getattr(self._pending, "text", "") + s
        *lines, rest = pending.split("\n")
        self._pending.text = rest
        for line in lines:
            scope.sink.route(scope.function, line)
        return len(s)

    def flush(self) -> None:
        if _scope.get() is None:
            self._passthrough_target().flush()

    def _flush_pending(self, scope: _Scope) -> None:
        rest: str = getattr(self._pending, "text", "")
        self._pending.text = ""
        if rest:
            scope.sink.route(scope.function, rest)

    def install(self) -> None:
        """Make this router `sys.stdout` (again, if something displaced it), remembering what it displaced."""
        with self._lock:
            if sys.stdout is not self:
                self._fallback = sys.stdout
                sys.stdout = self

    def uninstall(self) -> None:
        """Give `sys.stdout` back to what this router displaced, if it is still installed."""
        with self._lock:
            if sys.stdout is self:
                sys.stdout = self._fallback or sys.__stdout__
            self._fallback = None

    @contextmanager
    def capture(self, sink: LogSink, function: str) -> Iterator[None]:
        """Within this block (and tasks/threads that copy its context) stdout lines belong to `function`."""
        self.install()
        scope = _Scope(sink, function)
        token = _scope.set(scope)
        try:
            yield
        finally:
            self._flush_pending(scope)
            _scope.reset(token)


# One per process: a Powertools Logger holds on to one stream object for the life of the process.
STDOUT_ROUTER = StdoutRouter()


def adopt_powertools_handlers(router: StdoutRouter = STDOUT_ROUTER) -> int:
    """Point Powertools log handlers that write to stdout at the router; returns how many moved.

    A handler module imported before the router was installed (say, by a unit test earlier in the
    same pytest session) built its Logger on the old `sys.stdout`; without this its lines would
    never reach `api.jsonl`. Handlers on stderr or on a test's own buffer (StringIO) are left alone.
    """
    from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter

    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    moved = 0
    for logger in loggers:
        for handler in logger.handlers:
            if (
                type(handler) is logging.StreamHandler
                and isinstance(handler.formatter, BasePowertoolsFormatter)
                and handler.stream is not router
                and handler.stream not in (sys.stderr, sys.__stderr__)
                and not isinstance(handler.stream, io.StringIO)
            ):
                if getattr(handler.stream, "closed", False):
                    # setStream flushes the old stream first, which raises on a closed one (a
                    # pytest capture buffer that outlived its test).
                    handler.stream = router
                else:
                    handler.setStream(router)
                moved += 1
    return moved
