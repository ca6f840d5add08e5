"""Docker-free packaging: platform pip flags, boto stripped, hash-stamped rebuilds, minimal code assets."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from todo_infra import packaging
from todo_infra.packaging import (
    API_BUNDLE,
    CDC_BUNDLE,
    INSIGHTS_BUNDLE,
    METRICS_BUNDLE,
    CodeSource,
    FunctionBundle,
    PackagingError,
    build_layer,
    pip_install_command,
    stage_code,
)


class RecordingPip:
    """Stands in for pip in unit tests: records each command and 'installs' a package plus boto3."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command):
        self.commands.append(list(command))
        target = Path(command[command.index("--target") + 1])
        for package in ("pydantic_core", "boto3", "botocore", "s3transfer"):
            (target / package).mkdir(parents=True)
            (target / package / "__init__.py").write_text("")
        (target / "pydantic_core" / "tests").mkdir()
        (target / "pydantic_core" / "__pycache__").mkdir()
        (target / "pydantic_core" / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"")
        (target / "boto3-1.0.dist-info").mkdir()
        (target / "pydantic_core-2.0.dist-info").mkdir()
        (target / "bin").mkdir()


def _bundle(tmp_path: Path, requirements: str | None = "pydantic==2.12.0\n") -> FunctionBundle:
    source = tmp_path / "src" / "demo_pkg"
    (source / "tests").mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "handler.py").write_text("def handler(event, context):\n    return event\n")
    (source / "tests" / "test_x.py").write_text("")
    req = tmp_path / "requirements.txt"
    if requirements is not None:
        req.write_text(requirements)
    return FunctionBundle("demo", req, (CodeSource(source, "demo_pkg"),), "demo_pkg.handler.handler")


def test_pip_installs_binary_wheels_for_lambda_arm64_python_3_12(tmp_path):
    command = pip_install_command(tmp_path / "r.txt", tmp_path / "out")
    joined = " ".join(command)
    assert "--platform manylinux2014_aarch64" in joined
    assert "--implementation cp" in joined
    assert "--python-version 3.12" in joined
    assert "--only-binary=:all:" in command
    assert command[command.index("--target") + 1] == str(tmp_path / "out")


def test_layer_is_stripped_of_the_runtime_sdk_tests_and_caches(tmp_path):
    pip = RecordingPip()
    layer_dir, rebuilt = build_layer(_bundle(tmp_path), tmp_path / "build", pip=pip)
    site = layer_dir / "python"
    assert rebuilt
    assert sorted(p.name for p in site.iterdir()) == ["pydantic_core", "pydantic_core-2.0.dist-info"]
    assert not (site / "pydantic_core" / "tests").exists()
    assert not list(site.rglob("*.pyc"))


def test_layer_is_rebuilt_only_when_the_requirements_change(tmp_path):
    pip = RecordingPip()
    bundle = _bundle(tmp_path)
    build = tmp_path / "build"

    assert build_layer(bundle, build, pip=pip)[1] is True
    assert build_layer(bundle, build, pip=pip)[1] is False
    assert len(pip.commands) == 1
    bundle.requirements.write_text("pydantic==2.12.1\n")
    assert build_layer(bundle, build, pip=pip)[1] is True
    assert len(pip.commands) == 2
    assert (build / "layers" / "demo" / "stamp.json").is_file()


def test_a_failed_install_leaves_the_previous_layer_and_stamp_alone(tmp_path):
    bundle = _bundle(tmp_path)
    build = tmp_path / "build"
    layer_dir, _ = build_layer(bundle, build, pip=RecordingPip())
    stamp = (build / "layers" / "demo" / "stamp.json").read_text()

    def failing(command):
        raise PackagingError("pip failed (1): no matching distribution")

    bundle.requirements.write_text("nonexistent-package==0\n")
    with pytest.raises(PackagingError, match="no matching distribution"):
        build_layer(bundle, build, pip=failing)
    assert (layer_dir / "python" / "pydantic_core").is_dir()
    assert (build / "layers" / "demo" / "stamp.json").read_text() == stamp
    assert not list((build / "layers" / "demo").glob("layer.tmp-*"))


def test_missing_requirements_file_is_a_clear_error(tmp_path):
    bundle = _bundle(tmp_path, requirements=None)
    with pytest.raises(PackagingError, match=r"requirements file of the demo function .* does not exist"):
        build_layer(bundle, tmp_path / "build", pip=RecordingPip())


def test_run_pip_reports_pips_own_error():
    with pytest.raises(PackagingError, match="pip failed"):
        packaging.run_pip([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"])


def test_code_asset_holds_only_the_listed_packages_without_tests(tmp_path):
    code = stage_code(_bundle(tmp_path), tmp_path / "build")
    files = sorted(p.relative_to(code).as_posix() for p in code.rglob("*") if p.is_file())
    assert files == ["demo_pkg/__init__.py", "demo_pkg/handler.py"]


def test_missing_handler_module_is_a_clear_error(tmp_path):
    bundle = _bundle(tmp_path)
    (bundle.sources[0].source / "handler.py").unlink()
    with pytest.raises(PackagingError, match=r"handler module demo_pkg\.handler of the demo function"):
        stage_code(bundle, tmp_path / "build")


def test_glue_library_zip_is_byte_for_byte_reproducible(tmp_path):
    sources = (CodeSource(_bundle(tmp_path).sources[0].source, "demo_pkg"),)
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    packaging._deterministic_zip(sources, first)
    packaging._deterministic_zip(sources, second)
    assert first.read_bytes() == second.read_bytes()
    assert zipfile.ZipFile(first).namelist() == ["demo_pkg/__init__.py", "demo_pkg/handler.py"]


def _project_imports(source: bytes) -> set[str]:
    """The `todo_*` modules a source file imports."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("todo_"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("todo_")}
    return found


def test_every_project_module_the_glue_library_imports_is_in_it(tmp_path):
    """The Glue jobs run from the library zip alone: a `todo_*` import outside it fails on Glue only."""
    library = tmp_path / "glue.zip"
    packaging._deterministic_zip(packaging.GLUE_LIBRARY_SOURCES, library)
    names = set(zipfile.ZipFile(library).namelist())
    modules = {
        n[: -len(".py")].replace("/", ".").removesuffix(".__init__") for n in names if n.endswith(".py")
    }
    missing = set()
    with zipfile.ZipFile(library) as archive:
        for name in sorted(n for n in names if n.endswith(".py")):
            missing |= {f"{name}: {m}" for m in _project_imports(archive.read(name)) if m not in modules}
    assert not missing
    for script in packaging.GLUE_SCRIPTS:
        assert _project_imports(script.read_bytes()) <= modules, script.name


@pytest.mark.parametrize("bundle", packaging.BUNDLES, ids=lambda b: b.family)
def test_every_project_module_a_function_imports_is_in_its_bundle(bundle):
    """A function runs from its code asset alone: a `todo_*` import outside it fails on Lambda only."""

    files: dict[str, Path] = {}
    for source in bundle.sources:
        if source.source.is_dir():
            for path in source.source.rglob("*.py"):
                if "tests" not in path.relative_to(source.source).parts:
                    files[f"{source.target}/{path.relative_to(source.source).as_posix()}"] = path
        else:
            files[source.target] = source.source
    modules = {name[: -len(".py")].replace("/", ".").removesuffix(".__init__") for name in files}
    missing = set()
    for name, path in sorted(files.items()):
        missing |= {f"{name}: {m}" for m in _project_imports(path.read_bytes()) if m not in modules}
    assert not missing


def test_bundles_point_at_the_documented_handlers():
    assert API_BUNDLE.handler == "todo_api.handler.handler"
    assert CDC_BUNDLE.handler == "todo_etl.cdc.handler.handler"
    assert METRICS_BUNDLE.handler == "todo_etl.metrics.handler.handler"
    assert INSIGHTS_BUNDLE.handler == "todo_etl.insights.handler.handler"


@pytest.mark.infra
def test_real_pip_installs_a_wheel_for_the_lambda_platform(tmp_path):
    """Against the registry: a pure wheel resolves for manylinux2014_aarch64 / cp312 and is stamped."""
    bundle = _bundle(tmp_path, requirements="six==1.16.0\n")
    layer_dir, rebuilt = build_layer(bundle, tmp_path / "build")
    assert rebuilt
    assert (layer_dir / "python" / "six.py").is_file()
    assert build_layer(bundle, tmp_path / "build")[1] is False


# --- several builders at once (pytest-xdist workers, `cdk synth` beside a test run) -------------

_CONCURRENT_BUILD = """
import os, sys, time
from pathlib import Path
from todo_infra.packaging import CodeSource, FunctionBundle, build_all

root, build, log = (Path(a) for a in sys.argv[1:4])

def pip(command):
    with log.open("a") as handle:
        handle.write(f"{os.getpid()}\\n")
    time.sleep(1.0)  # hold the build open long enough for the other process to arrive
    target = Path(command[command.index("--target") + 1])
    (target / "six.py").write_text("")

bundle = FunctionBundle(
    "demo", root / "requirements.txt", (CodeSource(root / "src" / "demo_pkg", "demo_pkg"),),
    "demo_pkg.handler.handler",
)
output = build_all(build, (bundle,), pip=pip)
print(sorted(p.name for p in (output.function("demo").layer_dir / "python").iterdir()))
"""


def _leftovers(build: Path) -> list[str]:
    return [p.name for p in build.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]


def test_two_processes_building_at_once_take_turns_and_install_once(tmp_path):
    _bundle(tmp_path)
    build, log = tmp_path / "build", tmp_path / "pip.log"
    command = [sys.executable, "-c", _CONCURRENT_BUILD, str(tmp_path), str(build), str(log)]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(run.wait(timeout=120), *run.communicate()) for run in runs]

    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert [out.strip() for _, out, _ in results] == ["['six.py']", "['six.py']"]
    assert len(log.read_text().splitlines()) == 1, "the second builder must find the layer up to date"
    assert _leftovers(build) == []
    assert (build / ".lock").is_file()


def test_unchanged_code_is_left_in_place_and_anything_foreign_forces_a_restage(tmp_path):
    bundle = _bundle(tmp_path)
    build = tmp_path / "build"
    code = stage_code(bundle, build)
    handler = code / "demo_pkg" / "handler.py"
    first_inode = handler.stat().st_ino

    assert packaging.code_is_current(bundle, code)
    assert stage_code(bundle, build) == code
    assert handler.stat().st_ino == first_inode, "an up-to-date folder must not be rewritten"

    (code / "demo_pkg" / "__pycache__").mkdir()
    (code / "demo_pkg" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"")
    assert not packaging.code_is_current(bundle, code)
    stage_code(bundle, build)
    assert not (code / "demo_pkg" / "__pycache__").exists()

    (bundle.sources[0].source / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    assert not packaging.code_is_current(bundle, code)
    assert "return 1" in stage_code(bundle, build).joinpath("demo_pkg", "handler.py").read_text()
    assert _leftovers(build) == []


def test_leftovers_of_a_killed_build_are_swept_before_the_next_build(tmp_path):
    build = tmp_path / "build"
    (build / "code" / "api.tmp-4242" / "todo_api").mkdir(parents=True)
    (build / "layers" / "api" / "layer.old-4242" / "python").mkdir(parents=True)
    (build / "glue").mkdir()
    (build / "glue" / "todo_etl_glue.zip.tmp-4242").write_bytes(b"partial")
    keep = build / "code" / "api"
    keep.mkdir()

    removed = packaging.remove_leftovers(build)

    assert sorted(p.name for p in removed) == ["api.tmp-4242", "layer.old-4242", "todo_etl_glue.zip.tmp-4242"]
    assert _leftovers(build) == []
    assert keep.is_dir()


def test_an_unchanged_glue_library_keeps_its_file(tmp_path):
    sources = (CodeSource(_bundle(tmp_path).sources[0].source, "demo_pkg"),)
    target = tmp_path / "glue" / "lib.zip"
    packaging._deterministic_zip(sources, target)
    inode = target.stat().st_ino
    packaging._deterministic_zip(sources, target)
    assert target.stat().st_ino == inode
    assert _leftovers(tmp_path / "glue") == []


# --- the real build the stacks use (session fixture) ---------------------------------------------


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.infra
def test_each_asset_carries_its_own_package_and_the_contracts_only(build_output):
    cdc = _files(build_output.function("cdc").code_dir)
    assert {"todo_contracts/table.py", "todo_contracts/lake_layout.py"} <= cdc
    assert {f.split("/")[0] for f in cdc} == {"todo_contracts", "todo_etl"}
    assert {f.split("/")[1] for f in cdc if f.startswith("todo_etl/") and f.count("/") > 1} == {"cdc"}
    assert "todo_etl/cdc/handler.py" in cdc
    metrics = _files(build_output.function("metrics").code_dir)
    assert {f.split("/")[0] for f in metrics} == {"todo_contracts", "todo_etl"}
    assert {f.split("/")[1] for f in metrics if f.startswith("todo_etl/") and f.count("/") > 1} == {"metrics"}


def _stdlib_only_output(code: Path, statement: str) -> str:
    """What `statement` prints in an interpreter that has the asset's code and no site-packages."""
    script = f"import sys; sys.path.insert(0, {str(code)!r}); {statement}"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.infra
def test_insights_asset_carries_its_package_and_the_contracts_only(build_output):
    code = build_output.function("insights").code_dir
    files = _files(code)
    assert {f.split("/")[0] for f in files} == {"todo_contracts", "todo_etl"}
    assert {f.split("/")[1] for f in files if f.startswith("todo_etl/") and f.count("/") > 1} == {"insights"}
    # The key builders import with the standard library alone (no boto3, no pydantic).
    statement = "from todo_contracts.keys import insights_key; print(insights_key('u1')['SK'])"
    assert _stdlib_only_output(code, statement) == "INSIGHTS"


@pytest.mark.infra
def test_api_asset_is_the_api_package_and_the_contracts(build_output):
    api = _files(build_output.function("api").code_dir)
    assert {f.split("/")[0] for f in api} == {"todo_contracts", "todo_api"}
    assert "todo_api/handler.py" in api
    assert not [f for f in api if "/tests/" in f or f.endswith(".pyc")]


@pytest.mark.infra
def test_shared_definitions_import_from_the_cdc_asset_with_the_stdlib_alone(build_output):
    code = build_output.function("cdc").code_dir
    statement = (
        "import todo_contracts.table as t, todo_contracts.lake_layout as l; print(t.TABLE.partition_key.name)"
    )
    assert _stdlib_only_output(code, statement) == "PK"


@pytest.mark.infra
def test_layers_hold_linux_arm64_wheels_and_no_aws_sdk(build_output):
    for family, built in build_output.functions.items():
        site = built.layer_dir / "python"
        names = {p.name.lower() for p in site.iterdir()}
        assert not names & {"boto3", "botocore", "s3transfer"}, family
        assert not list(site.rglob("__pycache__")), family
        native = list(site.rglob("*.so"))
        assert all("x86_64" not in p.name for p in native), family
    api_site = build_output.function("api").layer_dir / "python"
    assert list(api_site.glob("pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so"))
