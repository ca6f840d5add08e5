"""Tracing costs nothing at import where it is off, and stays on where Powertools turns it on (Lambda).

Each case runs in a fresh interpreter: what a module import pulls in is only visible there."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
import todo_api.handler
from aws_lambda_powertools import Tracer
from todo_api.observability import tracer
print(json.dumps({
    "xray_imported": any(name.split(".")[0] == "aws_xray_sdk" for name in sys.modules),
    "powertools_tracer": isinstance(tracer, Tracer),
    "disabled": bool(tracer.disabled),
}))
"""

_LAMBDA_MARKERS = ("LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE", "POWERTOOLS_TRACE_DISABLED")


def _probe(**settings: str) -> dict[str, bool]:
    env = {k: v for k, v in os.environ.items() if k not in _LAMBDA_MARKERS}
    env.update({"TABLE_NAME": "probe", "AWS_DEFAULT_REGION": "us-east-1", **settings})
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    result: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_handler_imports_no_xray_sdk_when_tracing_is_disabled() -> None:
    result = _probe(STAGE="prod", POWERTOOLS_TRACE_DISABLED="true", LAMBDA_TASK_ROOT="/var/task")
    assert result == {"xray_imported": False, "powertools_tracer": False, "disabled": True}


def test_nor_on_developer_stages_or_outside_lambda() -> None:
    assert _probe(STAGE="local", LAMBDA_TASK_ROOT="/var/task")["xray_imported"] is False
    assert _probe(STAGE="prod")["xray_imported"] is False  # no LAMBDA_TASK_ROOT: not on Lambda
    assert _probe(STAGE="prod", LAMBDA_TASK_ROOT="/var/task", AWS_SAM_LOCAL="true")["xray_imported"] is False


def test_on_lambda_the_handler_is_traced_by_powertools() -> None:
    result = _probe(STAGE="prod", LAMBDA_TASK_ROOT="/var/task")
    assert result == {"xray_imported": True, "powertools_tracer": True, "disabled": False}


def test_the_disabled_tracer_leaves_the_handler_as_it_is() -> None:
    from todo_api.observability import DisabledTracer

    def handler(event: object, context: object) -> str:
        return "called"

    tracer = DisabledTracer()
    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
