"""Stdout routing: EMF blobs and JSON log lines of an invocation to files, the rest to the terminal."""

import asyncio
import io
import json
import sys
import threading
import uuid

import pytest
from aws_lambda_powertools import Logger

from todo_local.log_capture import LogSink, StdoutRouter, adopt_powertools_handlers


@pytest.fixture
def router():
    router = StdoutRouter()
    yield router
    router.uninstall()


@pytest.fixture
def sink(tmp_path):
    records = []
    sink = LogSink(tmp_path / "logs", on_record=lambda function, record: records.append((function, record)))
    sink.records = records
    yield sink
    sink.close()


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_lines_are_routed_by_kind(router, sink, capsys):
    with router.capture(sink, "api"):
        print(json.dumps({"level": "INFO", "message": "hello"}))
        print(json.dumps({"_aws": {"CloudWatchMetrics": []}, "Requests": 1}))
        print("Traceback: not JSON")
        print("[1, 2]")  # JSON, but not a log record
    assert _lines(sink.log_path("api")) == [{"level": "INFO", "message": "hello"}]
    assert _lines(sink.metrics_path) == [{"_aws": {"CloudWatchMetrics": []}, "Requests": 1}]
    err = capsys.readouterr().err
    assert "Traceback: not JSON" in err
    assert "[1, 2]" in err


def test_each_function_has_its_own_log_file(router, sink):
    with router.capture(sink, "cdc"):
        print(json.dumps({"message": "from cdc"}))
    assert _lines(sink.log_path("cdc")) == [{"message": "from cdc"}]
    assert not sink.log_path("api").exists()


def test_partial_writes_make_one_line_and_a_trailing_fragment_is_kept(router, sink):
    with router.capture(sink, "api"):
        sys.stdout.write('{"message": ')
        sys.stdout.write('"joined"}\n{"message": "no newline"}')
    assert _lines(sink.log_path("api")) == [{"message": "joined"}, {"message": "no newline"}]


def test_output_outside_an_invocation_passes_through(router, sink, capsys):
    with router.capture(sink, "api"):
        pass
    print(json.dumps({"message": "test output"}))  # router still installed, no invocation running
    assert "test output" in capsys.readouterr().out
    assert not sink.log_path("api").exists()


def test_tasks_and_worker_threads_that_copy_the_context_are_captured(router, sink):
    async def in_a_worker_thread():
        await asyncio.to_thread(print, json.dumps({"message": "worker"}))

    with router.capture(sink, "api"):
        asyncio.run(in_a_worker_thread())
    assert _lines(sink.log_path("api")) == [{"message": "worker"}]


def test_unrelated_threads_are_not_captured(router, sink, capsys):
    with router.capture(sink, "api"):
        thread = threading.Thread(target=print, args=(json.dumps({"message": "elsewhere"}),))
        thread.start()
        thread.join()
    assert not sink.log_path("api").exists()
    assert "elsewhere" in capsys.readouterr().out


def test_the_listener_sees_log_records_but_not_metrics(router, sink):
    with router.capture(sink, "api"):
        print(json.dumps({"message": "a"}))
        print(json.dumps({"_aws": {}}))
    assert sink.records == [("api", {"message": "a"})]


def test_a_displaced_router_is_reinstalled_by_the_next_invocation(router, sink):
    original = sys.stdout
    with router.capture(sink, "api"):
        pass
    sys.stdout = io.StringIO()  # e.g. pytest swapping in its capture between tests
    try:
        with router.capture(sink, "api"):
            assert sys.stdout is router
            print(json.dumps({"message": "still captured"}))
    finally:
        router.uninstall()
        sys.stdout = original
    assert _lines(sink.log_path("api")) == [{"message": "still captured"}]


def test_lines_after_the_sink_closed_go_to_the_terminal(router, sink, capsys):
    sink.close()
    with router.capture(sink, "api"):
        print(json.dumps({"message": "late"}))
    assert "late" in capsys.readouterr().err


def test_a_powertools_logger_built_before_the_router_is_adopted(router, sink):
    # given a Logger that bound sys.stdout at import, before any platform existed
    bound_early = Logger(service=f"early-{uuid.uuid4().hex[:8]}")
    own_buffer = io.StringIO()
    private = Logger(service=f"private-{uuid.uuid4().hex[:8]}", stream=own_buffer)

    # when the platform adopts Powertools handlers
    moved = adopt_powertools_handlers(router)

    # then the stdout-bound one is routed, the one writing to its own buffer is left alone
    assert moved >= 1
    assert bound_early.registered_handler.stream is router
    assert private.registered_handler.stream is own_buffer
    with router.capture(sink, "api"):
        bound_early.info("adopted", extra={"log_type": "access"})
    (line,) = _lines(sink.log_path("api"))
    assert line["message"] == "adopted"
    assert line["log_type"] == "access"
