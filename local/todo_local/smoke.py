"""Post-deploy smoke test: one short, ordered conversation with any stage URL, each step a named check."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_LIST_PAGES = 20  # an existing profile may hold many pending tasks: follow the cursor, but not forever
_BODY_PREVIEW_CHARS = 120


@dataclass(frozen=True)
class CheckResult:
    """One row of the report: what the check expected, what it got, how long its requests took."""

    name: str
    expected: str
    got: str
    passed: bool
    elapsed_ms: float | None = None
    skipped: bool = False  # not run because an earlier check did not produce what it needs


@dataclass
class SmokeReport:
    """Every check's result, in the order run, plus what the run left behind (ideally nothing)."""

    base_url: str
    checks: list[CheckResult] = field(default_factory=list)
    task_id: str | None = None
    profile_created: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.passed]

    def check(self, name: str) -> CheckResult:
        """The result of the check called `name`; KeyError when it was not part of the run."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "ok": self.ok,
            "checks": [
                {
                    "name": c.name,
                    "expected": c.expected,
                    "got": c.got,
                    "passed": c.passed,
                    "skipped": c.skipped,
                    "elapsed_ms": None if c.elapsed_ms is None else round(c.elapsed_ms, 1),
                }
                for c in self.checks
            ],
        }


class _PrerequisiteMissingError(Exception):
    """A check cannot run: something it needs from an earlier check is missing."""


class _DeadlineExceededError(httpx.TimeoutException):
    """The whole request (not just one read) took longer than the per-request timeout."""


class _Session:
    """The HTTP side of one run: absolute URLs under the base, the token, and a total-time deadline."""

    def __init__(self, client: httpx.Client, base_url: str, token: str, timeout: float) -> None:
        self.client = client
        self.base_url = base_url
        self._auth = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        self.elapsed_ms = 0.0  # of the current check; reset by the runner

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        authenticated: bool = True,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        all_headers = {**(self._auth if authenticated else {}), **(headers or {})}
        if json_body is not None:
            content = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            # httpx bounds each connect/read/write by the timeout; a server that trickles its body
            # could still stall a run, so the body is read in chunks against a total deadline.
            with self.client.stream(
                method,
                self.url(path),
                headers=all_headers,
                content=content,
                params=dict(params) if params else None,
                timeout=self._timeout,
            ) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if time.perf_counter() - started > self._timeout:
                        raise _DeadlineExceededError(f"no complete answer within {self._timeout:g}s")
            # The body is decoded already: the rebuilt response must not decode it a second time.
            kept = [
                (k, v)
                for k, v in response.headers.multi_items()
                if k.lower() not in ("content-encoding", "content-length")
            ]
            return httpx.Response(
                response.status_code, headers=kept, content=bytes(body), request=response.request
            )
        finally:
            self.elapsed_ms += (time.perf_counter() - started) * 1000


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _field(value: Any, name: str) -> Any:
    """`value[name]` when `value` is a JSON object, else None (a check reports what it got)."""
    return value.get(name) if isinstance(value, dict) else None


def _preview(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text if len(text) <= _BODY_PREVIEW_CHARS else text[:_BODY_PREVIEW_CHARS] + "…"


def _status_got(response: httpx.Response, *extra: str) -> str:
    """The status code followed by what else the check observed, e.g. `201; ETag "1"`."""
    return "; ".join([str(response.status_code), *extra])


def _error_code(response: httpx.Response) -> str | None:
    body = _json(response)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return code if isinstance(code, str) else None
    return None


def _verdict(passed: bool, got: str, response: httpx.Response) -> tuple[bool, str]:
    # On failure show the body too: it usually says why (an error envelope, a gateway message).
    return passed, got if passed else f"{got}; body: {_preview(response) or '(empty)'}"


CheckOutcome = tuple[bool, str]


class _SmokeRun:
    """The checks, in order, sharing what earlier ones learned (the task, its ETag, the profile)."""

    def __init__(self, session: _Session, *, keep_profile: bool) -> None:
        self.session = session
        self.keep_profile = keep_profile
        self.idempotency_key = f"smoke-{uuid.uuid4().hex}"
        self.task_body = {
            "title": f"smoke test {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
            "description": "created by `todo-insights smoke`; deleted by it too",
            "category": "smoke-test",
            "tags": ["smoke"],
        }
        self.task_id: str | None = None
        self.created: Any = None  # the body of the first create: a replay must return it unchanged
        self.etag: str | None = None
        self.task_deleted = False
        self.profile_created = False

    def plan(self) -> list[tuple[str, str, Callable[[], CheckOutcome]]]:
        return [
            ("health", "200, status ok", self.health),
            ("openapi", "200, JSON with paths", self.openapi),
            ("unauthenticated", "401 without a token", self.unauthenticated),
            ("profile", "201 created or 409 exists", self.profile),
            ("create task", "201 + ETag + Location", self.create_task),
            ("idempotent replay", "201, same body, Idempotent-Replayed: true", self.replay),
            ("get task", "200 + ETag", self.get_task),
            ("list pending", "200, task in status=pending", self.list_pending),
            ("stale If-Match", "412 PRECONDITION_FAILED", self.stale_if_match),
            ("complete task", "200, completed_at set", self.complete),
            ("delete task", "204", self.delete),
            ("get deleted", "404", self.get_deleted),
            ("validation error", "422 VALIDATION_ERROR + request_id", self.validation),
        ]

    def cleanup_plan(self) -> list[tuple[str, str, Callable[[], CheckOutcome]]]:
        steps: list[tuple[str, str, Callable[[], CheckOutcome]]] = []
        if self.task_id is not None and not self.task_deleted:
            steps.append(("cleanup task", "204 or 404", self.cleanup_task))
        if self.profile_created and not self.keep_profile:
            steps.append(("cleanup profile", "204", self.cleanup_profile))
        return steps

    def _need_task(self) -> str:
        if self.task_id is None:
            raise _PrerequisiteMissingError("not run: no task was created")
        return self.task_id

    def _post_task(self) -> httpx.Response:
        """The run's one task creation; sent twice, the second must be a replay of the first."""
        return self.session.request(
            "POST",
            "/api/v1/tasks",
            json_body=self.task_body,
            headers={"Idempotency-Key": self.idempotency_key},
        )

    def _task_path(self) -> str:
        return f"/api/v1/tasks/{self._need_task()}"

    # --- the checks ---------------------------------------------------------------------------

    def health(self) -> CheckOutcome:
        r = self.session.request("GET", "/api/health", authenticated=False)
        body = _json(r)
        status = _field(body, "status")
        return _verdict(r.status_code == 200 and status == "ok", _status_got(r, f"status {status!r}"), r)

    def openapi(self) -> CheckOutcome:
        r = self.session.request("GET", "/api/openapi.json", authenticated=False)
        body = _json(r)
        paths = _field(body, "paths")
        if body is None:
            return _verdict(False, _status_got(r, "not JSON"), r)
        count = len(paths) if isinstance(paths, dict) else 0
        return _verdict(r.status_code == 200 and count > 0, _status_got(r, f"{count} paths"), r)

    def unauthenticated(self) -> CheckOutcome:
        r = self.session.request("GET", "/api/v1/tasks", authenticated=False)
        return _verdict(r.status_code == 401, _status_got(r), r)

    def profile(self) -> CheckOutcome:
        r = self.session.request("POST", "/api/v1/users", json_body={"name": "Smoke Test"})
        if r.status_code == 201:
            self.profile_created = True
            return True, _status_got(r, "created")
        if r.status_code == 409:
            return True, _status_got(r, "exists")
        return _verdict(False, _status_got(r), r)

    def create_task(self) -> CheckOutcome:
        r = self._post_task()
        body = _json(r)
        task_id = _field(body, "task_id")
        if r.status_code == 201 and isinstance(task_id, str) and task_id:
            self.task_id = task_id  # remembered even if a header is missing: cleanup must find it
            self.created = body
        if r.status_code != 201 or self.task_id is None:
            return _verdict(False, _status_got(r, f"task_id {task_id!r}"), r)
        problems: list[str] = []
        etag = r.headers.get("ETag")
        if etag:
            self.etag = etag
        else:
            problems.append("no ETag")
        location = r.headers.get("Location")
        expected_location = self.session.url(f"/api/v1/tasks/{self.task_id}")
        if not location:
            problems.append("no Location")
        elif urljoin(self.session.base_url + "/", location) != expected_location:
            problems.append(f"Location {location} does not resolve to {expected_location}")
        observed = problems or [f"ETag {etag}", f"Location {location}"]
        return _verdict(not problems, _status_got(r, *observed), r)

    def replay(self) -> CheckOutcome:
        task_id = self._need_task()
        r = self._post_task()
        body = _json(r)
        replayed_id = _field(body, "task_id")
        if r.status_code == 201 and isinstance(replayed_id, str) and replayed_id != task_id:
            # A second task was created: delete it now, or it would outlive the run.
            self.session.request("DELETE", f"/api/v1/tasks/{replayed_id}")
        marker = r.headers.get("Idempotent-Replayed")
        if replayed_id != task_id:
            same = f"task_id {replayed_id!r} (not {task_id})"
        else:
            same = "same body" if body == self.created else "same task_id but a different body"
        passed = r.status_code == 201 and body == self.created and marker == "true"
        return _verdict(passed, _status_got(r, same, f"Idempotent-Replayed: {marker}"), r)

    def get_task(self) -> CheckOutcome:
        task_id = self._need_task()
        r = self.session.request("GET", self._task_path())
        body = _json(r)
        got_id = _field(body, "task_id")
        etag = r.headers.get("ETag")
        if etag:
            self.etag = etag
        problems = []
        if got_id != task_id:
            problems.append(f"task_id {got_id!r}")
        if not etag:
            problems.append("no ETag")
        passed = r.status_code == 200 and not problems
        return _verdict(passed, _status_got(r, *(problems or [f"ETag {etag}"])), r)

    def list_pending(self) -> CheckOutcome:
        task_id = self._need_task()
        cursor: str | None = None
        seen = 0
        for page in range(1, MAX_LIST_PAGES + 1):
            params: dict[str, str | int] = {"status": "pending", "limit": 100}
            if cursor:
                params["cursor"] = cursor
            r = self.session.request("GET", "/api/v1/tasks", params=params)
            body = _json(r)
            items = _field(body, "items")
            if r.status_code != 200 or not isinstance(items, list):
                return _verdict(False, _status_got(r, f"page {page} has no items list"), r)
            seen += len(items)
            if any(isinstance(item, dict) and item.get("task_id") == task_id for item in items):
                return True, _status_got(r, f"found on page {page}")
            if any(isinstance(item, dict) and item.get("status") != "pending" for item in items):
                return _verdict(False, _status_got(r, "a listed task is not pending"), r)
            next_cursor = _field(body, "next_cursor")
            if not isinstance(next_cursor, str) or not next_cursor:
                return _verdict(False, _status_got(r, f"not among {seen} pending tasks"), r)
            cursor = next_cursor
        return False, f"not found in the first {MAX_LIST_PAGES} pages ({seen} pending tasks)"

    def stale_if_match(self) -> CheckOutcome:
        # Versions start at 1, so "0" is a version this task has never had: always stale.
        r = self.session.request(
            "PATCH", self._task_path(), json_body={"priority": "high"}, headers={"If-Match": '"0"'}
        )
        code = _error_code(r)
        return _verdict(r.status_code == 412 and code == "PRECONDITION_FAILED", _status_got(r, str(code)), r)

    def complete(self) -> CheckOutcome:
        path = self._task_path()
        if self.etag is None:
            raise _PrerequisiteMissingError("not run: no ETag was returned for the task")
        r = self.session.request(
            "PATCH", path, json_body={"status": "completed"}, headers={"If-Match": self.etag}
        )
        body = _json(r)
        status = _field(body, "status")
        completed_at = _field(body, "completed_at")
        if r.headers.get("ETag"):
            self.etag = r.headers["ETag"]
        passed = r.status_code == 200 and status == "completed" and bool(completed_at)
        return _verdict(passed, _status_got(r, f"status {status!r}", f"completed_at {completed_at!r}"), r)

    def delete(self) -> CheckOutcome:
        r = self.session.request("DELETE", self._task_path())
        if r.status_code == 204:
            self.task_deleted = True
        return _verdict(r.status_code == 204, _status_got(r), r)

    def get_deleted(self) -> CheckOutcome:
        r = self.session.request("GET", self._task_path())
        return _verdict(r.status_code == 404, _status_got(r, str(_error_code(r))), r)

    def validation(self) -> CheckOutcome:
        r = self.session.request("POST", "/api/v1/tasks", json_body={"title": "", "not_a_field": True})
        body = _json(r)
        error = _field(body, "error")
        code = _field(error, "code")
        request_id = _field(error, "request_id")
        created = _field(body, "task_id")
        if r.status_code == 201 and isinstance(created, str):
            self.session.request("DELETE", f"/api/v1/tasks/{created}")  # accepted invalid input: undo it
        passed = r.status_code == 422 and code == "VALIDATION_ERROR" and bool(request_id)
        rid = "request_id present" if request_id else "no request_id"
        return _verdict(passed, _status_got(r, str(code), rid), r)

    def cleanup_task(self) -> CheckOutcome:
        r = self.session.request("DELETE", self._task_path())
        if r.status_code in (204, 404):
            self.task_deleted = True
        return _verdict(r.status_code in (204, 404), _status_got(r), r)

    def cleanup_profile(self) -> CheckOutcome:
        r = self.session.request("DELETE", "/api/v1/users/me")
        return _verdict(r.status_code == 204, _status_got(r), r)


def _run_check(session: _Session, name: str, expected: str, check: Callable[[], CheckOutcome]) -> CheckResult:
    session.elapsed_ms = 0.0
    try:
        passed, got = check()
    except _PrerequisiteMissingError as skip:
        return CheckResult(name, expected, str(skip), passed=False, skipped=True)
    except httpx.TimeoutException as exc:
        got = str(exc) if isinstance(exc, _DeadlineExceededError) else f"no answer within the timeout ({exc})"
        return CheckResult(name, expected, got, passed=False, elapsed_ms=session.elapsed_ms)
    except httpx.HTTPError as exc:
        got = f"request failed: {exc.__class__.__name__}: {exc}"
        return CheckResult(name, expected, got, passed=False, elapsed_ms=session.elapsed_ms)
    return CheckResult(name, expected, got, passed=passed, elapsed_ms=session.elapsed_ms)


@contextmanager
def _client_for(client: httpx.Client | None, timeout: float) -> Iterator[httpx.Client]:
    if client is not None:
        yield client  # the caller's client (e.g. a mock transport): the caller closes it
        return
    with httpx.Client(timeout=timeout, follow_redirects=False) as own:
        yield own


def run_smoke(
    base_url: str,
    token: str,
    *,
    client: httpx.Client | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    keep_profile: bool = False,
) -> SmokeReport:
    """Run every check against `base_url` (paths are `{base_url}/api/...`) as the token's user.

    Never raises for what the server does: each failure is a row of the report. Cleans up the
    task it created, and the profile when this run created it (unless `keep_profile`).
    """
    base = base_url.rstrip("/")
    report = SmokeReport(base_url=base)
    with _client_for(client, timeout) as http:
        session = _Session(http, base, token.removeprefix("Bearer ").strip(), timeout)
        run = _SmokeRun(session, keep_profile=keep_profile)
        try:
            for name, expected, check in run.plan():
                report.checks.append(_run_check(session, name, expected, check))
        finally:
            # Cleanup runs even when a check blew up unexpectedly: a smoke test must not leave data.
            for name, expected, check in run.cleanup_plan():
                report.checks.append(_run_check(session, name, expected, check))
            report.task_id = run.task_id
            report.profile_created = run.profile_created
    return report
