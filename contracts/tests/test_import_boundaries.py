"""What each folder may import (docs/architecture.md): the layers a newcomer can rely on.

Each deployable part imports its own package and the contracts; only the CDK app (which packages
and configures the others) and the local platform (which runs them all) reach further.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("todo_contracts", "todo_api", "todo_etl", "todo_infra", "todo_local")
ALLOWED = {
    "contracts/todo_contracts": {"todo_contracts"},
    "api/todo_api": {"todo_contracts", "todo_api"},
    "etl/todo_etl": {"todo_contracts", "todo_etl"},
    "etl/glue_jobs": {"todo_contracts", "todo_etl"},
    # The Api stack applies the API's own CORS policy per stage.
    "infra/todo_infra": {"todo_contracts", "todo_etl", "todo_infra", "todo_api"},
    "local/todo_local": set(PACKAGES) - {"todo_infra"},
}


def _project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
    return found & set(PACKAGES)


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_folder_imports_only_what_it_may(folder: str) -> None:
    crossing = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "tests" not in path.relative_to(ROOT / folder).parts
        for name in _project_imports(path) - ALLOWED[folder]
    }
    assert not crossing


def test_the_infra_app_imports_the_api_for_its_cors_policy_only() -> None:
    """The CDK app must not pull the API's runtime (FastAPI, boto3 clients) into synth."""
    users = set()
    for path in sorted((ROOT / "infra" / "todo_infra").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("todo_api"):
                users.add((node.module, tuple(a.name for a in node.names)))
    assert users <= {("todo_api", ("cors",))}
