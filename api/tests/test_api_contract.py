"""Contract testing: schemathesis against the OpenAPI document the API serves, through the local
gateway, signed in with a real Cognito ID token of the emulated pool (ADR 0012).

Bounded and derandomized for `make test`: `--generation-deterministic` (the same cases on every
run), at most MAX_EXAMPLES cases per operation in the examples and fuzzing phases, and the
coverage phase (boundary values, every enum value, missing and undeclared parameters, undeclared
methods). The two profile writes take ~600 coverage cases each (one per IANA time zone of the
`timezone` enum), so they get the examples and fuzzing phases here and everything in `make fuzz`.
Every check runs; what the document cannot express is allowed in schemathesis.toml, and
contract_hooks.py keeps Idempotency-Keys tied to their body. The test fails on any failure, and
prints each run's summary line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 5
PROFILE_WRITES = ("POST /api/v1/users", "PATCH /api/v1/users/me")
# Not a timing assertion: a run that hangs fails instead of blocking `make test`.
HANG_GUARD_SECONDS = 600
SUMMARY = re.compile(r"^=+ (.* in [0-9.]+s) =+$", re.MULTILINE)
GENERATED = re.compile(r"^\s*(\d+ generated, .*)$", re.MULTILINE)
TESTED = re.compile(r"^\s*Tested: (\d+)$", re.MULTILINE)


def run_schemathesis(api_url: str, token: str, *args: str, deterministic: bool = True) -> tuple[int, str]:
    """`st run` against the served document; (exit code, output). Later options win."""
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(REPO / "schemathesis.toml"),
        "run",
        f"{api_url}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        *(["--generation-deterministic"] if deterministic else []),
        "--workers",
        "1",
        "--no-color",
        "--request-timeout",
        "60",
        *args,
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parent),
        "SCHEMATHESIS_HOOKS": "contract_hooks",
    }
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=HANG_GUARD_SECONDS, check=False
    )
    return done.returncode, done.stdout + done.stderr


def test_the_api_keeps_its_openapi_contract(member: Any, local_platform: Any) -> None:
    # given a signed-in user with a profile (so the task operations reach real data)
    api_url = local_platform.endpoints["api_url"]
    token = member.id_token
    exclude = [arg for name in PROFILE_WRITES for arg in ("--exclude-name", name)]
    include = [arg for name in PROFILE_WRITES for arg in ("--include-name", name)]

    # when schemathesis runs every check on every operation
    runs = [
        run_schemathesis(api_url, token, "--phases", "examples,coverage,fuzzing", *exclude),
        run_schemathesis(api_url, token, "--phases", "examples,fuzzing", *include),
    ]

    # then nothing fails
    for code, output in runs:
        summary, counts, tested = SUMMARY.findall(output), GENERATED.findall(output), TESTED.findall(output)
        print(f"schemathesis: {tested[-1] if tested else '?'} operations; {counts[-1] if counts else '?'}; "
              f"{summary[-1] if summary else '?'}")  # fmt: skip
        assert code == 0, output[-20000:]
        assert counts, output[-5000:]
        assert "failure" not in counts[-1], output[-20000:]


FUZZ_VARIABLE = "CONTRACT_FUZZ_EXAMPLES"


@pytest.mark.skipif(not os.environ.get(FUZZ_VARIABLE), reason=f"`make fuzz` sets {FUZZ_VARIABLE}")
def test_fuzz_the_contract(member: Any, local_platform: Any) -> None:
    """`make fuzz`: random (seed printed), many examples, every phase (stateful included), every
    operation with the coverage phase. For developers; not part of `make test`."""
    examples = os.environ[FUZZ_VARIABLE]
    code, output = run_schemathesis(
        local_platform.endpoints["api_url"],
        member.id_token,
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        examples,
        deterministic=False,
    )
    print(output)
    assert code == 0
