"""Property: no client input reaches a 500, and every refusal is the error envelope and changes nothing.

Arbitrary JSON bodies (any shape, any types, near-valid task and profile bodies with one field
wrong) and arbitrary header values go through the local gateway to the real handler, against
every writing endpoint. Whatever the API answers, it answers below 500, and a 4xx never changes
the caller's data.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
TASK_FIELDS = ("title", "description", "status", "priority", "category", "due_date", "tags")
PROFILE_FIELDS = ("name", "timezone")


def near_valid(valid: dict[str, Any], fields: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid body with one known or unknown field set to any JSON value."""
    return st.tuples(st.sampled_from(fields) | st.text(max_size=10), JSON).map(
        lambda change: {**valid, change[0]: change[1]}
    )


TASK_BODIES = JSON | near_valid({"title": "ok"}, TASK_FIELDS)
PROFILE_BODIES = JSON | near_valid({"name": "Ada"}, PROFILE_FIELDS)
# Printable ASCII without surrounding blanks: what HTTP lets a client send in a header at all.
HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(
    str.strip
)

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check(api: Any, response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and response.status_code != 401:
        api.error_code(response)  # the envelope, with the request id


def snapshot(client: Any) -> tuple[Any, Any]:
    return client.get("/api/v1/users/me").json(), client.get("/api/v1/tasks", params={"limit": 100}).json()


@FUZZ
@given(body=TASK_BODIES, if_match=HEADER_VALUES, key=HEADER_VALUES)
def test_task_writes_never_500_and_refusals_change_nothing(
    member: Any, api: Any, body: Any, if_match: str, key: str
) -> None:
    client = member.client
    task = client.get("/api/v1/tasks", params={"limit": 1}).json()["items"]
    if not task:
        task = [api.create_task(client, title="target")]
    path = f"/api/v1/tasks/{task[0]['task_id']}"
    for method, url, headers in (
        ("POST", "/api/v1/tasks", {"Idempotency-Key": key}),
        ("PUT", path, {"If-Match": if_match}),
        ("PATCH", path, {"If-Match": if_match}),
        ("PATCH", path, {}),
    ):
        before = snapshot(client)
        response = client.request(method, url, json=body, headers=headers)
        check(api, response)
        if response.status_code >= 400:
            assert snapshot(client) == before, (
                f"{method} {url} answered {response.status_code} but changed data"
            )


@FUZZ
@given(body=PROFILE_BODIES, if_match=HEADER_VALUES)
def test_profile_writes_never_500_and_refusals_change_nothing(
    member: Any, api: Any, body: Any, if_match: str
) -> None:
    client = member.client
    for method, headers in (("PATCH", {"If-Match": if_match}), ("PATCH", {}), ("POST", {})):
        before = snapshot(client)
        response = client.request(
            method, "/api/v1/users" + ("/me" if method == "PATCH" else ""), json=body, headers=headers
        )
        check(api, response)
        if response.status_code >= 400:
            assert snapshot(client) == before, f"{method} answered {response.status_code} but changed data"


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["status", "priority", "category", "due_before", "due_after", "limit", "cursor", "q"]
        ),
        HEADER_VALUES,
        max_size=4,
    )
)
def test_any_list_query_is_answered_below_500(member: Any, api: Any, params: dict[str, str]) -> None:
    check(api, member.client.get("/api/v1/tasks", params=params))
