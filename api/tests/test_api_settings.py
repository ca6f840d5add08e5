"""Unit tests of settings and If-Match parsing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from todo_api.error_handlers import DOMAIN_ANSWERS
from todo_api.services.failures import PreconditionFailedError
from todo_api.services.preconditions import check_version, etag, parse_if_match
from todo_api.settings import DEV_CURSOR_SECRET, Settings


def test_dev_secret_is_fine_on_dev_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CURSOR_SECRET", raising=False)
    monkeypatch.delenv("CURSOR_SECRET_ID", raising=False)
    for stage in ("local", "test"):
        monkeypatch.setenv("STAGE", stage)
        assert Settings(table_name="todo").cursor_secret.get_secret_value() == DEV_CURSOR_SECRET


@pytest.mark.parametrize("secret", [None, "short", DEV_CURSOR_SECRET, "s" * 64])
def test_deployed_stages_refuse_a_key_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    # A key in the environment is readable by anyone who may read the function's configuration.
    monkeypatch.setenv("STAGE", "prod")
    monkeypatch.delenv("CURSOR_SECRET_ID", raising=False)
    if secret is None:
        monkeypatch.delenv("CURSOR_SECRET", raising=False)
    else:
        monkeypatch.setenv("CURSOR_SECRET", secret)
    with pytest.raises(ValidationError, match="CURSOR_SECRET_ID"):
        Settings(table_name="todo")


def test_deployed_stages_name_the_secret_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGE", "prod")
    monkeypatch.delenv("CURSOR_SECRET", raising=False)
    monkeypatch.setenv("CURSOR_SECRET_ID", "arn:aws:secretsmanager:eu-west-1:1:secret:todo-AbCdEf")
    assert (
        Settings(table_name="todo").cursor_secret_id
        == "arn:aws:secretsmanager:eu-west-1:1:secret:todo-AbCdEf"
    )


def test_missing_table_name_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE_NAME", raising=False)
    with pytest.raises(ValidationError):
        Settings()  # type: ignore[call-arg]


def test_etag_and_if_match() -> None:
    assert etag(3) == '"3"'
    assert parse_if_match(None) is None
    assert parse_if_match("*") is None
    assert parse_if_match('"3"') == frozenset({3})
    assert parse_if_match(' "3" , "5"') == frozenset({3, 5})
    assert parse_if_match('"3", W/"4"') == frozenset({3})


@pytest.mark.parametrize("header", ["3", 'W/"3"', '"abc"', '""', '"' + "9" * 5000 + '"', "", ",", '"-1"'])
def test_if_match_that_can_never_match_fails_the_precondition(header: str) -> None:
    # parsed to "no version": the 412 comes when it is checked, after the body is validated
    accepted = parse_if_match(header)
    assert accepted == frozenset()
    with pytest.raises(PreconditionFailedError):
        check_version(accepted, 1)
    assert DOMAIN_ANSWERS[PreconditionFailedError] == (412, "PRECONDITION_FAILED")


def test_check_version() -> None:
    check_version(None, 7)
    check_version(frozenset({7}), 7)
    with pytest.raises(PreconditionFailedError):
        check_version(frozenset({6}), 7)
