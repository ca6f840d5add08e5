"""HTTP/1.1 plumbing of the local endpoints: the request/response values, a threaded server that
stops cleanly, and a quiet keep-alive handler that reads bodies with strict framing.

The gateway, the Firehose endpoint and the platform's control endpoint all serve through it; what
each answers lives in its own module. The standard library's `http.server` underneath keeps the
platform free of a web server dependency (ADR 0004): these are the parts it lacks — joining every
connection on stop, refusing ambiguous framing (RFC 9112 §6) and no Nagle delay on loopback.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOG = logging.getLogger("todo_local.http_server")

# How often a server thread checks for shutdown: stop() waits up to this long per server.
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as the gateway received it (headers in arrival order, names as sent)."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        """The last value of a header, matched case-insensitively."""
        wanted = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found


@dataclass
class HttpResponse:
    """What goes back on the wire."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    note: str = ""  # why the gateway answered by itself, for the terminal (never sent)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


class TrackingHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that can close its keep-alive connections and join every thread on stop."""

    daemon_threads = False  # joined at server_close: no request thread outlives stop()
    block_on_close = True
    request_queue_size = 128  # listen backlog: 50 simultaneous connects were reset with the default 5

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def stop(self) -> None:
        """Stop accepting, wake idle keep-alive connections, close the socket, join the threads."""
        self.shutdown()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()


class ServingThread:
    """A `TrackingHTTPServer` bound at construction (`OSError` if the port is taken) and answering on
    a daemon thread until `stop()`; the gateway, the Firehose endpoint and the control endpoint use it."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        name: str,
        poll_seconds: float = 0.5,
    ) -> None:
        self.server = TrackingHTTPServer(address, handler)
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(poll_seconds,), name=name, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.stop()
        self._thread.join()


_DECIMAL = re.compile(r"^[0-9]+$")
_HEX = re.compile(rb"^[0-9A-Fa-f]{1,16}$")
_MAX_LINE = 65536


class MalformedFramingError(ValueError):
    """The request's body framing is not valid HTTP/1.1: the connection cannot be trusted further."""


class QuietRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that logs through `logging` instead of writing to stderr."""

    protocol_version = "HTTP/1.1"
    server_version = "todo-local"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is dropped after this many seconds
    # Headers and body go out as two writes: with Nagle on, the body waits for the client's delayed
    # ACK of the headers (~40 ms a response on Linux loopback), which dwarfs what is being served.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug(format, *args)

    def read_body(self, limit: int) -> bytes | None:
        """The request body, or None when it exceeds `limit` (the rest is left unread).

        `MalformedFramingError` when the framing is not one HTTP/1.1 allows (RFC 9112 §6): both
        Transfer-Encoding and Content-Length, a coding other than chunked, conflicting or
        non-numeric (negative) lengths, a bad chunk, or a body shorter than announced.
        """
        codings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if codings and lengths:
            raise MalformedFramingError("both Transfer-Encoding and Content-Length")
        if codings:
            if [c.strip().lower() for c in ",".join(codings).split(",")] != ["chunked"]:
                raise MalformedFramingError("Transfer-Encoding other than chunked")
            return self._read_chunked(limit)
        if not lengths:
            return b""
        values = {value.strip() for value in ",".join(lengths).split(",")}
        if len(values) != 1:
            raise MalformedFramingError("conflicting Content-Length values")
        value = values.pop()
        if not _DECIMAL.match(value):
            raise MalformedFramingError("Content-Length is not a non-negative integer")
        length = int(value)
        if length > limit:
            return None
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:
            raise MalformedFramingError("body shorter than Content-Length")
        return body

    def _read_chunked(self, limit: int) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            size_text = line.split(b";")[0].strip()
            if len(line) > _MAX_LINE or not _HEX.match(size_text):
                raise MalformedFramingError("malformed chunk size")
            chunk_size = int(size_text, 16)
            if chunk_size == 0:
                while True:  # trailers, up to the blank line
                    trailer = self.rfile.readline(_MAX_LINE + 1)
                    if trailer in (b"\r\n", b"\n", b""):
                        return b"".join(chunks)
                    if len(trailer) > _MAX_LINE:
                        raise MalformedFramingError("trailer line too long")
            size += chunk_size
            if size > limit:
                return None
            chunk = self.rfile.read(chunk_size)
            if len(chunk) < chunk_size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise MalformedFramingError("chunk shorter than its size")
            chunks.append(chunk)

    def send(self, response: HttpResponse, *, close: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
