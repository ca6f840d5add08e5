"""Smoke test verdicts: a faithful fake API passes; each way of answering wrongly fails its own check."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from todo_local.cli import main
from todo_local.smoke import SmokeReport, run_smoke

TOKEN = "test-id-token"
BASE_URL = "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
STAGE_PREFIX = "/prod"

ALL_CHECKS = [
    "health",
    "openapi",
    "unauthenticated",
    "profile",
    "create task",
    "idempotent replay",
    "get task",
    "list pending",
    "stale If-Match",
    "complete task",
    "delete task",
    "get deleted",
    "validation error",
]


class FakeTodoApi:
    """Enough of the Todo API (SPEC §4) to answer the smoke test, in memory, with injectable faults.

    Paths arrive with the stage prefix, as they do on an execute-api URL.
    """

    def __init__(self, *faults: str, profile_exists: bool = False) -> None:
        self.faults = set(faults)
        self.profile: dict[str, Any] | None = {"name": "Someone"} if profile_exists else None
        self.tasks: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []

    # -- helpers -------------------------------------------------------------------------------
    def _error(self, status: int, code: str, **extra: Any) -> httpx.Response:
        error = {"code": code, "message": code.lower(), "request_id": "req-1", **extra}
        if "validation_no_request_id" in self.faults:
            error.pop("request_id")
        return httpx.Response(status, json={"error": error})

    def _task_response(self, status: int, task: dict[str, Any], **headers: str) -> httpx.Response:
        all_headers = {} if "no_etag" in self.faults else {"ETag": f'"{task["version"]}"'}
        return httpx.Response(status, json=task, headers={**all_headers, **headers})

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        task_id = uuid.uuid4().hex
        task = {
            "task_id": task_id,
            "user_id": "sub-1",
            "title": body["title"],
            "status": "pending",
            "version": 1,
            "completed_at": None,
        }
        self.tasks[task_id] = task
        return task

    # -- the API -------------------------------------------------------------------------------
    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append((request.method, path))
        assert path.startswith(STAGE_PREFIX + "/api/"), path
        path = path.removeprefix(STAGE_PREFIX)
        if path == "/api/health":
            return httpx.Response(500 if "health_500" in self.faults else 200, json={"status": "ok"})
        if path == "/api/openapi.json":
            if "openapi_html" in self.faults:
                return httpx.Response(200, text="<html>Swagger</html>")
            return httpx.Response(200, json={"openapi": "3.1.0", "paths": {"/api/health": {}}})
        if (
            request.headers.get("Authorization") != f"Bearer {TOKEN}"
            and "no_auth_required" not in self.faults
        ):
            return httpx.Response(401, json={"message": "Unauthorized"})
        body = json.loads(request.content) if request.content else None
        if path == "/api/v1/users" and request.method == "POST":
            if "profile_500" in self.faults:
                return httpx.Response(500, json={"message": "Internal server error"})
            if self.profile is not None:
                return self._error(409, "USER_EXISTS")
            self.profile = body
            return httpx.Response(201, json=body)
        if path == "/api/v1/users/me" and request.method == "DELETE":
            self.profile = None
            self.tasks.clear()
            return httpx.Response(204)
        if path == "/api/v1/tasks":
            return self._tasks(request, body)
        return self._task(request, path.removeprefix("/api/v1/tasks/"), body)

    def _tasks(self, request: httpx.Request, body: Any) -> httpx.Response:
        if request.method == "GET":
            status = request.url.params.get("status")
            items = [t for t in self.tasks.values() if status is None or t["status"] == status]
            if "list_misses" in self.faults:
                items = []
            return httpx.Response(200, json={"items": items, "next_cursor": None})
        if not isinstance(body, dict) or set(body) - {"title", "description", "category", "tags"}:
            if "validation_no_envelope" in self.faults:
                return httpx.Response(422, json={"detail": [{"loc": ["body", "title"]}]})
            return self._error(422, "VALIDATION_ERROR", details=[{"field": "not_a_field"}])
        if self.profile is None:
            return self._error(404, "USER_NOT_FOUND")
        key = request.headers.get("Idempotency-Key")
        if key and key in self.idempotency and "replay_creates_new" not in self.faults:
            task = self.tasks[self.idempotency[key]]
            if "replay_other_body" in self.faults:
                task = {**task, "title": "something else"}
            replay = {} if "no_replay_header" in self.faults else {"Idempotent-Replayed": "true"}
            return self._task_response(201, task, **replay)
        task = self._create(body)
        if key:
            self.idempotency[key] = task["task_id"]
        location = f"/api/v1/tasks/{task['task_id']}"
        if "bad_location" not in self.faults:
            location = STAGE_PREFIX + location
        return self._task_response(201, task, Location=location)

    def _task(self, request: httpx.Request, task_id: str, body: Any) -> httpx.Response:
        task = self.tasks.get(task_id)
        if request.method == "DELETE" and "delete_500" in self.faults:
            return httpx.Response(500, json={"message": "Internal server error"})
        if task is None:
            return self._error(404, "TASK_NOT_FOUND")
        if request.method == "GET":
            return self._task_response(200, task)
        if request.method == "DELETE":
            del self.tasks[task_id]
            return httpx.Response(204)
        if_match = request.headers.get("If-Match")
        if if_match not in (None, f'"{task["version"]}"') and "ignore_if_match" not in self.faults:
            return self._error(412, "PRECONDITION_FAILED")
        task.update(body)
        task["version"] += 1
        if task["status"] == "completed" and "no_completed_at" not in self.faults:
            task["completed_at"] = "2026-11-23T12:00:00.123Z"
        return self._task_response(200, task)


def smoke(fake: FakeTodoApi, **kwargs: Any) -> SmokeReport:
    with httpx.Client(transport=httpx.MockTransport(fake)) as client:
        return run_smoke(BASE_URL, TOKEN, client=client, **kwargs)


def failed(report: SmokeReport) -> set[str]:
    return {check.name for check in report.failures}


# --- verdicts ---------------------------------------------------------------------------------


def test_a_correct_api_passes_every_check_in_order_and_is_left_clean() -> None:
    fake = FakeTodoApi()

    report = smoke(fake)

    assert report.ok, report.failures
    assert [c.name for c in report.checks] == [*ALL_CHECKS, "cleanup profile"]
    assert all(c.elapsed_ms is not None for c in report.checks)
    assert report.profile_created
    assert fake.profile is None  # created by the run, so removed by it
    assert fake.tasks == {}


@pytest.mark.parametrize(
    ("fault", "expected_failures"),
    [
        ("health_500", {"health"}),
        ("openapi_html", {"openapi"}),
        ("no_auth_required", {"unauthenticated"}),
        ("bad_location", {"create task"}),
        ("no_replay_header", {"idempotent replay"}),
        ("replay_creates_new", {"idempotent replay"}),
        ("replay_other_body", {"idempotent replay"}),
        ("list_misses", {"list pending"}),
        ("ignore_if_match", {"stale If-Match"}),
        ("no_completed_at", {"complete task"}),
        ("validation_no_envelope", {"validation error"}),
        ("validation_no_request_id", {"validation error"}),
        # Without an ETag anywhere the completion cannot send If-Match: it is reported as not run.
        ("no_etag", {"create task", "get task", "complete task"}),
        # A delete that fails leaves the task: the 404 check fails and cleanup tries (and fails) again.
        ("delete_500", {"delete task", "get deleted", "cleanup task"}),
    ],
)
def test_each_wrong_answer_fails_the_check_that_names_it(fault: str, expected_failures: set[str]) -> None:
    report = smoke(FakeTodoApi(fault))

    assert not report.ok
    assert failed(report) == expected_failures
    for check in report.failures:
        assert check.got  # every failure says what came back


def test_failure_rows_show_status_and_body() -> None:
    report = smoke(FakeTodoApi("health_500"))

    health = report.check("health")
    assert not health.passed
    assert health.got.startswith("500")
    assert '"status":"ok"' in health.got.replace(" ", "")


def test_a_replay_that_creates_a_second_task_leaves_no_task_behind() -> None:
    fake = FakeTodoApi("replay_creates_new", profile_exists=True)

    smoke(fake)

    assert fake.tasks == {}


def test_without_a_profile_nothing_task_related_runs_and_each_row_says_why() -> None:
    fake = FakeTodoApi("profile_500")

    report = smoke(fake)

    assert report.check("profile").got.startswith("500")
    assert report.check("create task").got.startswith("404")  # USER_NOT_FOUND
    dependent = ALL_CHECKS[5:12]
    for name in dependent:
        check = report.check(name)
        assert check.skipped
        assert not check.passed
        assert "no task was created" in check.got
    assert report.check("validation error").passed  # independent of the task
    assert not any(method == "DELETE" for method, _ in fake.requests)  # nothing to clean up


# --- cleanup of the profile -------------------------------------------------------------------


def test_an_existing_profile_is_never_deleted() -> None:
    fake = FakeTodoApi(profile_exists=True)

    report = smoke(fake)

    assert report.ok, report.failures
    assert report.check("profile").got.startswith("409")
    assert not report.profile_created
    assert "cleanup profile" not in [c.name for c in report.checks]
    assert fake.profile == {"name": "Someone"}
    assert fake.tasks == {}


def test_keep_profile_keeps_a_profile_the_run_created() -> None:
    fake = FakeTodoApi()

    report = smoke(fake, keep_profile=True)

    assert report.ok, report.failures
    assert report.profile_created
    assert fake.profile is not None
    assert ("DELETE", f"{STAGE_PREFIX}/api/v1/users/me") not in fake.requests


def test_a_bearer_prefix_on_the_token_is_tolerated_and_a_trailing_slash_on_the_url() -> None:
    fake = FakeTodoApi()
    with httpx.Client(transport=httpx.MockTransport(fake)) as client:
        report = run_smoke(BASE_URL + "/", f"Bearer {TOKEN}", client=client)

    assert report.ok, report.failures


def test_a_compressed_answer_is_read_like_any_other() -> None:
    fake = FakeTodoApi()

    def gzipping(request: httpx.Request) -> httpx.Response:
        plain = fake(request)
        if request.url.path.endswith("/api/health"):
            return httpx.Response(
                plain.status_code, headers={"Content-Encoding": "gzip"}, content=gzip.compress(plain.content)
            )
        return plain

    with httpx.Client(transport=httpx.MockTransport(gzipping)) as client:
        report = run_smoke(BASE_URL, TOKEN, client=client)

    assert report.check("health").passed, report.check("health")


def test_a_wrong_token_fails_from_the_profile_on() -> None:
    fake = FakeTodoApi()
    with httpx.Client(transport=httpx.MockTransport(fake)) as client:
        report = run_smoke(BASE_URL, "not-the-token", client=client)

    assert report.check("unauthenticated").passed
    assert report.check("profile").got.startswith("401")
    assert not report.ok


# --- network trouble: never hangs, never raises ------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/prod"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """Answers 200 at once, then sends its body one byte at a time, forever."""

    class Trickle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            try:
                while not stopping.is_set():
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.02)
            except OSError:
                pass  # the client gave up: that is the point

        do_POST = do_GET  # noqa: N815 (the name http.server dispatches to)

        def log_message(self, *args: Any) -> None:
            pass

    stopping = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/prod"
    stopping.set()
    server.shutdown()
    server.server_close()


def test_a_server_that_never_answers_fails_each_check_by_timeout(silent_server: str) -> None:
    report = run_smoke(silent_server, TOKEN, timeout=0.2)

    assert not report.ok
    assert "no answer within the timeout" in report.check("health").got
    assert report.check("get task").skipped


def test_a_server_that_trickles_its_body_is_cut_off_by_the_deadline(trickling_server: str) -> None:
    report = run_smoke(trickling_server, TOKEN, timeout=0.3)

    assert "no complete answer within 0.3s" in report.check("health").got
    assert not report.ok


def test_a_closed_port_is_a_failed_check_not_a_crash() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there

    report = run_smoke(f"http://127.0.0.1:{port}", TOKEN, timeout=2)

    assert report.check("health").got.startswith("request failed: ConnectError")
    assert not report.ok


# --- the command: exit codes and output --------------------------------------------------------


@pytest.fixture
def serve_fake() -> Iterator[Any]:
    """Serves a FakeTodoApi on a real loopback port (the command builds its own client)."""
    servers: list[ThreadingHTTPServer] = []

    def start(fake: FakeTodoApi) -> str:
        class Bridge(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = httpx.Request(
                    self.command,
                    f"http://{self.headers['Host']}{self.path}",
                    headers=dict(self.headers.items()),
                    content=self.rfile.read(length),
                )
                response = fake(request)
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle  # noqa: N815 (http.server's names)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Bridge)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}{STAGE_PREFIX}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_command_exits_0_when_every_check_passes(serve_fake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = serve_fake(FakeTodoApi())

    code = main(["smoke", "--url", url, "--token", TOKEN])

    out = capsys.readouterr().out
    assert code == 0
    assert "PASS: 14/14 checks" in out
    assert "✗" not in out
    assert TOKEN not in out


def test_command_exits_1_and_names_the_failed_check(
    serve_fake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = serve_fake(FakeTodoApi("health_500"))

    code = main(["smoke", "--url", url, "--token", TOKEN])

    out = capsys.readouterr().out
    assert code == 1
    assert "✗" in out
    assert "failed: health" in out


def test_command_json_output_lists_every_check(
    serve_fake: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = serve_fake(FakeTodoApi("no_completed_at"))
    monkeypatch.setenv("SMOKE_ID_TOKEN", TOKEN)  # the token may come from the environment

    code = main(["smoke", "--url", url, "--format", "json"])

    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert document["ok"] is False
    assert [c["name"] for c in document["checks"] if not c["passed"]] == ["complete task"]
    assert [c["name"] for c in document["checks"]][: len(ALL_CHECKS)] == ALL_CHECKS


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["smoke", "--url", BASE_URL], "no token"),
        (["smoke", "--url", "ftp://example.com/prod", "--token", TOKEN], "--url must be an http(s) base URL"),
        (["smoke", "--url", "prod", "--token", TOKEN], "--url must be an http(s) base URL"),
        (["smoke", "--url", BASE_URL, "--token", TOKEN, "--timeout", "0"], "--timeout must be a positive"),
        (["smoke", "--dir", ".", "--token", TOKEN], "--token goes with --url"),
        (["smoke", "--url", BASE_URL, "--token", "   "], "no token"),
    ],
)
def test_command_usage_errors_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMOKE_ID_TOKEN", raising=False)

    code = main(argv)

    assert code == 2
    assert message in capsys.readouterr().err.replace("\n", " ")


def test_command_dir_without_a_platform_exits_2(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["smoke", "--dir", str(tmp_path)])

    assert code == 2
    assert "No local platform found" in capsys.readouterr().err.replace("\n", " ")


@pytest.mark.parametrize(
    "argv",
    [
        ["smoke"],  # neither --url nor --dir
        ["smoke", "--url", BASE_URL, "--dir", "."],  # both
        ["smoke", "--url", BASE_URL, "--timeout", "soon"],
    ],
)
def test_command_argument_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    assert exit_info.value.code == 2
