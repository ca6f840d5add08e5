"""`todo-insights local up` and `local user` as a developer runs them: real processes, real signals."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import httpx
import jwt
import pytest

pytestmark = pytest.mark.slow

START_TIMEOUT = 120  # generous: a loaded CI box; nothing here measures speed

FAKE_HANDLER = textwrap.dedent(
    """
    import json, os

    def handler(event, context):
        with open(os.environ["FAKE_EVENTS_FILE"], "a") as out:
            out.write(json.dumps(event) + "\\n")
        claims = (event["requestContext"].get("authorizer") or {}).get("claims")
        status = 201 if event["httpMethod"] == "POST" else 200
        return {"statusCode": status, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"claims": claims})}
    """
)


def _cli(*args):
    return [sys.executable, "-m", "todo_local.cli", *args]


def _env(tmp_path):
    (tmp_path / "fake_cli_handler.py").write_text(FAKE_HANDLER)
    python_path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    # a developer's plain shell: none of the AWS settings a platform in this test process may have set
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "TABLE_NAME"))}
    return {**shell, "PYTHONPATH": python_path, "FAKE_EVENTS_FILE": str(tmp_path / "events.jsonl")}


def _run(tmp_path, *args, timeout=START_TIMEOUT):
    """`todo-insights <args>` in a developer's plain shell, to completion; its result."""
    return subprocess.run(
        _cli(*args), env=_env(tmp_path), capture_output=True, text=True, timeout=timeout, check=False
    )


def _start_up(tmp_path, *extra):
    directory = tmp_path / "state"
    stderr = (tmp_path / "up.stderr").open("w")
    process = subprocess.Popen(
        _cli("local", "up", "--dir", str(directory), "--api-port", "0", "--aws-port", "0", *extra),
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    return process, directory


def _wait_ready(process, directory, tmp_path):
    deadline = time.monotonic() + START_TIMEOUT
    endpoints_file = directory / "endpoints.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"local up exited {process.returncode}: {(tmp_path / 'up.stderr').read_text()}")
        if endpoints_file.exists():
            return json.loads(endpoints_file.read_text())
        time.sleep(0.1)
    process.kill()
    pytest.fail("local up did not become ready")


def _events(tmp_path):
    path = tmp_path / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def running_up(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("local-up")
    process, directory = _start_up(tmp_path, "--handler", "fake_cli_handler:handler")
    endpoints = _wait_ready(process, directory, tmp_path)
    yield process, directory, endpoints, tmp_path
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


def _user(running_up, *args):
    _, directory, _, tmp_path = running_up
    return _run(tmp_path, "local", "user", "--dir", str(directory), *args)


def test_local_up_writes_endpoints_and_serves_the_api(running_up):
    process, directory, endpoints, _ = running_up
    assert process.poll() is None
    assert endpoints["lake_dir"] == str((directory / "lake").resolve())
    assert httpx.get(endpoints["api_url"] + "/api/health", timeout=30).status_code == 200
    assert httpx.get(endpoints["api_url"] + "/api/v1/users/me", timeout=30).status_code == 401


def test_local_user_quiet_prints_only_a_working_id_token(running_up):
    _, _, endpoints, _ = running_up
    result = _user(running_up, "--email", "quiet@example.com", "--quiet")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert result.stderr == ""
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["email"], claims["token_use"]) == ("quiet@example.com", "id")
    # the token is accepted by the gateway and the handler sees the user
    response = httpx.get(
        endpoints["api_url"] + "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200
    assert response.json()["claims"]["email"] == "quiet@example.com"


def test_local_user_shows_details_on_stderr_and_the_token_on_stdout(running_up):
    result = _user(running_up, "--email", "loud@example.com")
    assert result.returncode == 0, result.stderr
    assert "loud@example.com" in result.stderr
    assert "Password" in result.stderr  # a generated one must be shown, or it is lost
    assert (
        jwt.decode(result.stdout.strip(), options={"verify_signature": False})["email"] == "loud@example.com"
    )


def test_an_existing_user_signs_in_with_its_password_and_not_without(running_up):
    password = "Existing-Passw0rd!"
    assert _user(running_up, "--email", "again@example.com", "--password", password).returncode == 0
    again = _user(running_up, "--email", "again@example.com", "--password", password, "--quiet")
    assert again.returncode == 0, again.stderr
    wrong = _user(running_up, "--email", "again@example.com", "--password", "Wrong-Passw0rd!!")
    assert wrong.returncode == 1
    assert "refused" in wrong.stderr
    no_password = _user(running_up, "--email", "again@example.com")
    assert no_password.returncode == 1
    assert "already exists" in no_password.stderr


def test_a_password_against_the_policy_is_refused_clearly(running_up):
    result = _user(running_up, "--email", "weak@example.com", "--password", "short")
    assert result.returncode == 1
    assert "weak@example.com" in result.stderr


def test_local_user_create_profile_posts_the_profile_as_the_user(running_up):
    _, _, _, tmp_path = running_up
    result = _user(
        running_up, "--email", "profile@example.com", "--name", "Pat", "--create-profile", "--quiet"
    )
    assert result.returncode == 0, result.stderr
    posts = [e for e in _events(tmp_path) if e["httpMethod"] == "POST" and e["path"] == "/api/v1/users"]
    assert len(posts) == 1
    assert json.loads(posts[0]["body"]) == {"name": "Pat"}
    assert posts[0]["requestContext"]["authorizer"]["claims"]["email"] == "profile@example.com"


def test_sigterm_stops_local_up_cleanly(running_up):
    # runs last in this module: it ends the shared process
    process, _directory, endpoints, tmp_path = running_up
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=START_TIMEOUT) == 0
    assert "stopped" in (tmp_path / "up.stderr").read_text()
    api_port = int(endpoints["api_url"].rsplit(":", 1)[1])
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", api_port))
    # and the endpoints file left behind no longer passes for a running platform
    stale = _user(running_up, "--email", "late@example.com")
    assert stale.returncode == 2
    assert "not running" in stale.stderr


def test_sigint_stops_local_up_cleanly(tmp_path):
    process, directory = _start_up(tmp_path, "--handler", "fake_cli_handler:handler")
    _wait_ready(process, directory, tmp_path)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=START_TIMEOUT) == 0


def test_local_user_without_a_platform_says_how_to_start_one(tmp_path):
    result = _run(tmp_path, "local", "user", "--dir", str(tmp_path / "nothing"), "--email", "a@example.com")
    assert result.returncode == 2
    assert "local up" in result.stderr
    assert result.stdout == ""


def test_local_up_on_a_busy_port_exits_non_zero_with_a_message(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = str(holder.getsockname()[1])
        result = _run(
            tmp_path, "local", "up", "--dir", str(tmp_path / "s"), "--api-port", busy, "--aws-port", "0"
        )
    assert result.returncode == 1
    assert f"port {busy}" in result.stderr
    assert "already in use" in result.stderr


def test_local_up_with_a_handler_that_cannot_load_exits_non_zero(tmp_path):
    result = _run(
        tmp_path,
        "local",
        "up",
        "--dir",
        str(tmp_path / "s"),
        "--api-port",
        "0",
        "--aws-port",
        "0",
        "--handler",
        "no_such_module_anywhere:handler",
    )
    assert result.returncode == 1
    assert "cannot load the Lambda handler" in result.stderr


@pytest.mark.spark
def test_local_up_feeds_the_lake_that_pipeline_run_and_sql_read(tmp_path):
    """The README's path: `local up` with the real API, a task created with curl-like calls, then
    `pipeline run` and `sql` from another shell see that task in silver."""
    process, directory = _start_up(tmp_path)
    try:
        endpoints = _wait_ready(process, directory, tmp_path)
        result = _run(
            tmp_path, "local", "user", "--dir", str(directory), "--email", "lake@example.com", "--quiet"
        )
        assert result.returncode == 0, result.stderr
        headers = {"Authorization": f"Bearer {result.stdout.strip()}"}
        api = endpoints["api_url"] + "/api/v1"
        assert (
            httpx.post(f"{api}/users", json={"name": "Lake"}, headers=headers, timeout=30).status_code == 201
        )
        created = httpx.post(f"{api}/tasks", json={"title": "into the lake"}, headers=headers, timeout=30)
        assert created.status_code == 201, created.text

        run = _run(tmp_path, "pipeline", "run", "--dir", str(directory), "--json", timeout=600)
        assert run.returncode == 0, run.stderr
        query = _run(
            tmp_path,
            "sql",
            "--dir",
            str(directory),
            "--format",
            "json",
            "SELECT task_id, title FROM silver_tasks",
            timeout=300,
        )
        assert query.returncode == 0, query.stderr
        rows = json.loads(query.stdout)
        assert [(row["task_id"], row["title"]) for row in rows] == [
            (created.json()["task_id"], "into the lake")
        ]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0
