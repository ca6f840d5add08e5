"""Local Spark for runs and tests: local[*], loopback only, UTC, Iceberg runtime, one catalog per lake.

Glue 5.1 brings Iceberg 1.10.0 with `--datalake-formats iceberg`; locally the same runtime jar
(and sqlite-jdbc for the catalog) comes from Maven Central through `make jars`, pinned in
`requirements/jars.txt` and cached in `.jars/`, so no run ever downloads anything.

A local lake's catalog is a SQLite file under the lake folder (Iceberg's JdbcCatalog, ADR 0009).
Catalog settings are per SparkSession, so `lake_session` gives each lake folder its own session
over the one shared SparkContext (one JVM for every lake a test run creates).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from pyspark.sql import SparkSession

from todo_contracts.lake_layout import LOCAL_CATALOG, LOCAL_CATALOG_FILE, LOCAL_DATABASE, Layer
from todo_etl.glue.catalog_settings import ICEBERG_EXTENSIONS, local_catalog_settings
from todo_etl.glue.iceberg_tables import Lake

DEFAULT_SHUFFLE_PARTITIONS = 4
PROJECT_ROOT = Path(__file__).resolve().parents[3]
JARS_MANIFEST = PROJECT_ROOT / "requirements" / "jars.txt"
JARS_DIR_VARIABLE = "TODO_INSIGHTS_JARS_DIR"
# Local mode runs the executors inside the driver JVM, so its heap holds every cached frame: Spark's
# default (1g) runs out on a first build of ~1M events. A cap, not a reservation: the JVM only
# takes what it uses. Override with TODO_INSIGHTS_SPARK_MEMORY (e.g. "8g").
DRIVER_MEMORY_VARIABLE = "TODO_INSIGHTS_SPARK_MEMORY"
DEFAULT_DRIVER_MEMORY = "4g"


class MissingJarsError(RuntimeError):
    """The pinned jars are not in the project cache (run `make jars`)."""


def pinned_jars(manifest: Path = JARS_MANIFEST) -> list[str]:
    """The Maven coordinates `group:artifact:version` the manifest pins."""
    lines = manifest.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def jar_paths(jars_dir: Path | None = None) -> list[Path]:
    """The cached jar files of every pinned artifact, or MissingJarsError naming what is missing."""
    folder = jars_dir or Path(os.environ.get(JARS_DIR_VARIABLE, PROJECT_ROOT / ".jars"))
    paths = []
    for coordinate in pinned_jars():
        _, artifact, version = coordinate.split(":")
        path = folder / f"{artifact}-{version}.jar"
        if not path.is_file():
            raise MissingJarsError(f"{path} is missing: run `make jars` (fetches {coordinate})")
        paths.append(path)
    return paths


def local_spark_session(
    app_name: str = "todo-insights", shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS
) -> SparkSession:
    """The (shared) local SparkSession with Iceberg, configured like the Glue job where it matters."""
    # Bind to loopback: no external interface, no DNS lookup of the host name.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (UDFs) must be this interpreter, which has the project installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    jars = ",".join(str(p) for p in jar_paths())
    spark = (
        SparkSession.builder.master("local[*]")
        .appName(app_name)
        .config("spark.jars", jars)
        .config("spark.driver.memory", os.environ.get(DRIVER_MEMORY_VARIABLE, DEFAULT_DRIVER_MEMORY))
        .config("spark.sql.extensions", ICEBERG_EXTENSIONS)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def local_lake(lake_dir: Path) -> Lake:
    """The Lake of a local lake folder: layers as subfolders, the local catalog and database."""
    root = lake_dir.resolve()
    return Lake(
        bronze_uri=str(root / Layer.BRONZE.value),
        silver_uri=str(root / Layer.SILVER.value),
        gold_uri=str(root / Layer.GOLD.value),
        catalog=LOCAL_CATALOG,
        database=LOCAL_DATABASE,
    )


_sessions: dict[tuple[int, Path, int, int], SparkSession] = {}
_sessions_lock = threading.Lock()


def lake_session(lake_dir: Path, base: SparkSession | None = None) -> tuple[SparkSession, Lake]:
    """A SparkSession whose `lake` catalog is the one of `lake_dir`, and that lake's Lake.

    Sessions are kept per (SparkContext, catalog file): creating one is cheap, but each holds a
    catalog connection. A lake folder that was wiped and refilled (every `local up` starts from an
    empty lake) has a new catalog file, so it gets a new session, never a connection to the old.
    """
    spark = base or local_spark_session()
    root = lake_dir.resolve()
    catalog_file = root / LOCAL_CATALOG_FILE
    catalog_file.parent.mkdir(parents=True, exist_ok=True)
    catalog_file.touch(exist_ok=True)  # an empty file is a new SQLite database
    stat = catalog_file.stat()
    key = (id(spark.sparkContext), root, stat.st_dev, stat.st_ino)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = spark.newSession()
            for name, value in local_catalog_settings(root).items():
                session.conf.set(name, value)
            _sessions[key] = session
    return session, local_lake(root)
