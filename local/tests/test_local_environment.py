"""Scoped environment changes: everything put back as found, also after an error."""

from __future__ import annotations

import os

import pytest

from todo_local.environment import EnvironmentOverlay, scoped_environment


def test_a_scope_sets_and_unsets_then_puts_back_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TODO_KEPT", "before")
    monkeypatch.delenv("TODO_ADDED", raising=False)
    with scoped_environment({"TODO_KEPT": None, "TODO_ADDED": "during"}):
        assert "TODO_KEPT" not in os.environ
        assert os.environ["TODO_ADDED"] == "during"
    assert os.environ["TODO_KEPT"] == "before"
    assert "TODO_ADDED" not in os.environ


def test_a_scope_that_raises_still_puts_the_environment_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TODO_KEPT", "before")
    with pytest.raises(RuntimeError), scoped_environment({"TODO_KEPT": "during"}):
        raise RuntimeError("boom")
    assert os.environ["TODO_KEPT"] == "before"


def test_an_overlay_applied_twice_restores_the_first_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TODO_KEPT", "before")
    overlay = EnvironmentOverlay()
    overlay.apply({"TODO_KEPT": "first"})
    overlay.apply({"TODO_KEPT": "second"})
    overlay.restore()
    assert os.environ["TODO_KEPT"] == "before"
    overlay.restore()  # a second restore changes nothing
    assert os.environ["TODO_KEPT"] == "before"
