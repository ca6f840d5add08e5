"""Docker-free Lambda packaging: platform wheels into layers, staged code folders, the Glue library zip.

Dependencies are installed with pip's `--platform/--only-binary/--target` for the Lambda runtime
(arm64, CPython 3.12) and rebuilt only when a requirements file changes (a hash stamp beside each
layer). Code assets are folders holding only the packages a function imports, so a change to the
API never redeploys the CDC function. Run `python -m todo_infra.packaging` to build everything.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BUILD_DIR = REPO_ROOT / "infra" / "build"

LAMBDA_PLATFORM = "manylinux2014_aarch64"
LAMBDA_PYTHON_VERSION = "3.12"
# The Lambda Python runtime already ships these; bundling them only adds megabytes and skew.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
_JUNK_DIRS = frozenset({"__pycache__", "tests", "test"})
_JUNK_SUFFIXES = (".pyc", ".pyo")
# Bump when the layer recipe itself changes, so old stamps stop matching.
_RECIPE_VERSION = "1"
_LOCK_NAME = ".lock"
# Leftovers of a build that was killed half-way (`api.tmp-1234`, `layer.old-1234`, `x.zip.tmp-1`).
_LEFTOVER_MARKERS = (".tmp-", ".old-")

PipRunner = Callable[[Sequence[str]], None]


class PackagingError(RuntimeError):
    """A build step cannot run: a missing requirements file, handler or script, or a pip failure."""


@dataclass(frozen=True)
class CodeSource:
    """A file or folder of the repository and where it goes inside the code asset."""

    source: Path
    target: str


@dataclass(frozen=True)
class FunctionBundle:
    """One function family: its runtime requirements, its code and its handler entry point."""

    family: str
    requirements: Path
    sources: tuple[CodeSource, ...]
    handler: str  # dotted path `package.module.attribute`, as Lambda's `Handler` expects

    @property
    def handler_module(self) -> str:
        return self.handler.rsplit(".", 1)[0]


@dataclass(frozen=True)
class BuiltBundle:
    """Where a bundle's code and layer assets were written."""

    bundle: FunctionBundle
    code_dir: Path
    layer_dir: Path  # holds `python/`, the layout Lambda layers need
    layer_rebuilt: bool


@dataclass(frozen=True)
class GlueArtifacts:
    """The Glue job scripts and the zip of shared modules passed as `--extra-py-files`."""

    silver_script: Path
    gold_script: Path
    maintenance_script: Path
    library_zip: Path

    def script(self, job: str) -> Path:
        return {
            "silver": self.silver_script,
            "gold": self.gold_script,
            "maintenance": self.maintenance_script,
        }[job]


def _api(*parts: str) -> Path:
    return REPO_ROOT.joinpath("api", *parts)


def _etl(*parts: str) -> Path:
    return REPO_ROOT.joinpath("etl", *parts)


# Every bundle carries the shared contracts (standard library only) next to its own package.
_CONTRACTS = (CodeSource(REPO_ROOT / "contracts" / "todo_contracts", "todo_contracts"),)
_ETL_PACKAGE = CodeSource(_etl("todo_etl", "__init__.py"), "todo_etl/__init__.py")
# How the cdc and insights functions build their boto3 clients (ADR 0017).
_ETL_CLIENTS = CodeSource(_etl("todo_etl", "aws_clients.py"), "todo_etl/aws_clients.py")

API_BUNDLE = FunctionBundle(
    family="api",
    requirements=_api("requirements.txt"),
    sources=(*_CONTRACTS, CodeSource(_api("todo_api"), "todo_api")),
    handler="todo_api.handler.handler",
)
CDC_BUNDLE = FunctionBundle(
    family="cdc",
    requirements=_etl("requirements-cdc.txt"),
    sources=(*_CONTRACTS, _ETL_PACKAGE, _ETL_CLIENTS, CodeSource(_etl("todo_etl", "cdc"), "todo_etl/cdc")),
    handler="todo_etl.cdc.handler.handler",
)
METRICS_BUNDLE = FunctionBundle(
    family="metrics",
    requirements=_etl("requirements-metrics.txt"),
    sources=(*_CONTRACTS, _ETL_PACKAGE, CodeSource(_etl("todo_etl", "metrics"), "todo_etl/metrics")),
    handler="todo_etl.metrics.handler.handler",
)
# The insights loader (ADR 0014) builds its item keys with the contracts' key module, as the api does.
INSIGHTS_BUNDLE = FunctionBundle(
    family="insights",
    requirements=_etl("requirements-insights.txt"),
    sources=(
        *_CONTRACTS,
        _ETL_PACKAGE,
        _ETL_CLIENTS,
        CodeSource(_etl("todo_etl", "insights"), "todo_etl/insights"),
    ),
    handler="todo_etl.insights.handler.handler",
)
BUNDLES: tuple[FunctionBundle, ...] = (API_BUNDLE, CDC_BUNDLE, METRICS_BUNDLE, INSIGHTS_BUNDLE)

GLUE_SCRIPTS = (
    _etl("glue_jobs", "silver_job.py"),
    _etl("glue_jobs", "gold_job.py"),
    _etl("glue_jobs", "maintenance_job.py"),
)
GLUE_LIBRARY_SOURCES = (
    *_CONTRACTS,
    _ETL_PACKAGE,
    CodeSource(_etl("todo_etl", "glue"), "todo_etl/glue"),
    # The erase step's record redaction (ADR 0013) and the exact JSON it writes bronze with.
    CodeSource(_etl("todo_etl", "erasure_records.py"), "todo_etl/erasure_records.py"),
    CodeSource(_etl("todo_etl", "cdc", "__init__.py"), "todo_etl/cdc/__init__.py"),
    CodeSource(_etl("todo_etl", "cdc", "dynamodb_json.py"), "todo_etl/cdc/dynamodb_json.py"),
)


def pip_install_command(requirements: Path, target: Path) -> list[str]:
    """The pip command that installs `requirements` for the Lambda platform into `target`."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "-r",
        str(requirements),
        "--target",
        str(target),
        "--platform",
        LAMBDA_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--only-binary=:all:",
    ]


def run_pip(command: Sequence[str]) -> None:
    """Run pip; a failure becomes a PackagingError carrying pip's own message."""
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise PackagingError(f"pip failed ({done.returncode}):\n{done.stderr.strip() or done.stdout.strip()}")


def requirements_fingerprint(requirements: Path) -> str:
    """Hash of the requirements text and of everything else that shapes the installed layer."""
    digest = hashlib.sha256()
    for part in (_RECIPE_VERSION, LAMBDA_PLATFORM, LAMBDA_PYTHON_VERSION, ",".join(RUNTIME_PROVIDED)):
        digest.update(part.encode() + b"\0")
    digest.update(requirements.read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def build_lock(build_dir: Path) -> Iterator[None]:
    """Hold the build folder's exclusive lock: one builder at a time across processes.

    `flock` is released by the kernel when the holder dies, so a killed build never wedges the next.
    """
    build_dir.mkdir(parents=True, exist_ok=True)
    with (build_dir / _LOCK_NAME).open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a sibling temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    staging.write_bytes(data)
    staging.replace(path)


def remove_leftovers(build_dir: Path) -> list[Path]:
    """Delete staging folders and files of builds that died half-way; call only under the lock."""
    removed: list[Path] = []
    for parent in (build_dir / "code", build_dir / "glue", *build_dir.glob("layers/*")):
        if not parent.is_dir():
            continue
        for entry in parent.iterdir():
            if any(marker in entry.name for marker in _LEFTOVER_MARKERS):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                removed.append(entry)
    return removed


def _require(path: Path, what: str) -> None:
    if not path.exists():
        rel = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
        raise PackagingError(f"{what} {rel} does not exist; it must be written before packaging")


def strip_layer(site: Path) -> None:
    """Remove what the Lambda runtime provides and what never runs: boto, caches, tests."""
    for entry in list(site.iterdir()):
        name = entry.name.lower()
        top = name.split("-", 1)[0].replace("_", "-") if name.endswith(".dist-info") else name
        if top in RUNTIME_PROVIDED or name in RUNTIME_PROVIDED:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for path in sorted(site.rglob("*"), reverse=True):
        if path.is_dir() and path.name in _JUNK_DIRS and not path.parent.name.endswith(".dist-info"):
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in _JUNK_SUFFIXES:
            path.unlink(missing_ok=True)
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts are useless in a layer


def _swap_in(staging: Path, final: Path) -> None:
    """Replace `final` with `staging` (built beside it), so a half-built folder is never used."""
    if final.exists():
        old = final.with_name(f"{final.name}.old-{os.getpid()}")
        final.rename(old)
        shutil.rmtree(old, ignore_errors=True)
    staging.rename(final)


def build_layer(bundle: FunctionBundle, build_dir: Path, *, pip: PipRunner = run_pip) -> tuple[Path, bool]:
    """Install the bundle's requirements as a layer folder; skipped when the stamp still matches."""
    _require(bundle.requirements, f"requirements file of the {bundle.family} function")
    family_dir = build_dir / "layers" / bundle.family
    layer_dir = family_dir / "layer"
    stamp = family_dir / "stamp.json"
    fingerprint = requirements_fingerprint(bundle.requirements)
    if layer_dir.joinpath("python").is_dir() and stamp.is_file():
        recorded = json.loads(stamp.read_text())
        if recorded.get("fingerprint") == fingerprint:
            return layer_dir, False
    family_dir.mkdir(parents=True, exist_ok=True)
    staging = family_dir / f"layer.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    site = staging / "python"
    site.mkdir(parents=True)
    try:
        pip(pip_install_command(bundle.requirements, site))
        strip_layer(site)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap_in(staging, layer_dir)
    record = {"fingerprint": fingerprint, "requirements": str(bundle.requirements)}
    _write_atomically(stamp, (json.dumps(record, indent=2) + "\n").encode())
    return layer_dir, True


def _copy_source(source: CodeSource, destination_root: Path) -> None:
    target = destination_root / source.target
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.source.is_dir():
        shutil.copytree(
            source.source,
            target,
            ignore=shutil.ignore_patterns("__pycache__", "tests", "*.pyc", "py.typed"),
            dirs_exist_ok=True,
        )
    else:
        shutil.copy2(source.source, target)


def _source_files(source: CodeSource) -> list[tuple[str, Path]]:
    """(path inside the asset, file on disk) for every file `_copy_source` copies from `source`."""
    if not source.source.is_dir():
        return [(source.target, source.source)]
    files: list[tuple[str, Path]] = []
    for path in sorted(source.source.rglob("*")):
        relative = path.relative_to(source.source)
        if not path.is_file() or path.suffix == ".pyc" or path.name == "py.typed":
            continue
        if {"__pycache__", "tests"} & set(relative.parts):
            continue
        files.append((f"{source.target}/{relative.as_posix()}", path))
    return files


def _expected_code(bundle: FunctionBundle) -> dict[str, Path]:
    """Every file of the bundle's code folder, keyed by its path inside the folder."""
    return {arcname: path for source in bundle.sources for arcname, path in _source_files(source)}


def code_is_current(bundle: FunctionBundle, code_dir: Path) -> bool:
    """True when `code_dir` holds exactly the bundle's files, byte for byte, and nothing else.

    Comparing the folder itself (not a stamp) also catches anything written into it later, such
    as a `__pycache__` left by importing from it.
    """
    if not code_dir.is_dir():
        return False
    expected = _expected_code(bundle)
    present = {p.relative_to(code_dir).as_posix() for p in code_dir.rglob("*") if not p.is_dir()}
    if present != set(expected):
        return False
    return all((code_dir / arcname).read_bytes() == path.read_bytes() for arcname, path in expected.items())


def stage_code(bundle: FunctionBundle, build_dir: Path) -> Path:
    """Copy exactly the packages the function needs into its own code folder.

    The folder is left alone when it already holds exactly those files, so another process that
    is hashing it for an asset never sees it replaced.
    """
    for source in bundle.sources:
        _require(source.source, f"source of the {bundle.family} function:")
    module_file = Path(*bundle.handler_module.split("."))
    candidates = (module_file.with_suffix(".py"), module_file / "__init__.py")
    if not any(_maps_to(source, c) for source in bundle.sources for c in candidates):
        raise PackagingError(
            f"handler module {bundle.handler_module} of the {bundle.family} function does not exist"
        )
    code_dir = build_dir / "code" / bundle.family
    if code_is_current(bundle, code_dir):
        return code_dir
    staging = code_dir.with_name(f"{bundle.family}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for source in bundle.sources:
            _copy_source(source, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap_in(staging, code_dir)
    return code_dir


def _maps_to(source: CodeSource, relative: Path) -> bool:
    """True when `relative` (a path inside the asset) is provided by `source` and exists."""
    target = Path(source.target)
    if source.source.is_dir():
        return relative.is_relative_to(target) and (source.source / relative.relative_to(target)).is_file()
    return relative == target and source.source.is_file()


def _deterministic_zip(sources: Sequence[CodeSource], zip_path: Path) -> None:
    """Zip with fixed timestamps and order, so an unchanged library keeps its asset hash."""
    files: list[tuple[str, Path]] = []
    for source in sources:
        if source.source.is_dir():
            for path in sorted(source.source.rglob("*.py")):
                if "__pycache__" in path.parts or "tests" in path.relative_to(source.source).parts:
                    continue
                files.append((f"{source.target}/{path.relative_to(source.source).as_posix()}", path))
        else:
            files.append((source.target, source.source))
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    staging = zip_path.with_name(f"{zip_path.name}.tmp-{os.getpid()}")
    with zipfile.ZipFile(staging, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, path in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    if zip_path.is_file() and zip_path.read_bytes() == staging.read_bytes():
        staging.unlink()  # unchanged: keep the file (and its mtime) a reader may be hashing
        return
    staging.replace(zip_path)


def build_glue_artifacts(build_dir: Path) -> GlueArtifacts:
    """Check the job scripts exist and zip the shared modules the jobs import."""
    for script in GLUE_SCRIPTS:
        _require(script, "Glue job script")
    for source in GLUE_LIBRARY_SOURCES:
        _require(source.source, "Glue shared module")
    library = build_dir / "glue" / "todo_etl_glue.zip"
    _deterministic_zip(GLUE_LIBRARY_SOURCES, library)
    silver, gold, maintenance = GLUE_SCRIPTS
    return GlueArtifacts(
        silver_script=silver, gold_script=gold, maintenance_script=maintenance, library_zip=library
    )


@dataclass(frozen=True)
class BuildOutput:
    """Everything the stacks load with `Code.from_asset` / `Asset`."""

    functions: dict[str, BuiltBundle]
    glue: GlueArtifacts

    def function(self, family: str) -> BuiltBundle:
        return self.functions[family]


def build_all(
    build_dir: Path = DEFAULT_BUILD_DIR,
    bundles: Sequence[FunctionBundle] = BUNDLES,
    *,
    pip: PipRunner = run_pip,
) -> BuildOutput:
    """Build every layer (cached by requirements hash), stage every code folder, zip the Glue library.

    Safe to call from several processes at once: they take turns on the build folder's lock, and
    the later ones find everything up to date.
    """
    with build_lock(build_dir):
        remove_leftovers(build_dir)
        functions: dict[str, BuiltBundle] = {}
        for bundle in bundles:
            code_dir = stage_code(bundle, build_dir)
            layer_dir, rebuilt = build_layer(bundle, build_dir, pip=pip)
            functions[bundle.family] = BuiltBundle(bundle, code_dir, layer_dir, rebuilt)
        return BuildOutput(functions=functions, glue=build_glue_artifacts(build_dir))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: build every asset; exit 1 with the reason when something is missing."""
    parser = argparse.ArgumentParser(prog="python -m todo_infra.packaging", description=__doc__)
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR)
    args = parser.parse_args(argv)
    try:
        output = build_all(args.build_dir)
    except PackagingError as error:
        print(f"packaging failed: {error}", file=sys.stderr)  # noqa: T201
        return 1
    for family, built in output.functions.items():
        state = "rebuilt" if built.layer_rebuilt else "cached"
        print(f"{family}: code {built.code_dir}, layer {built.layer_dir} ({state})")  # noqa: T201
    print(f"glue: {output.glue.library_zip}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
