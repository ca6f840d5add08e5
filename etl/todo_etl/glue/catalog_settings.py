"""The Spark settings of the lake's Iceberg catalog, on Glue and locally (standard library only).

On Glue 5.x they are static: the job gets them as `--conf` arguments (CDK writes those from
`glue_catalog_settings`). Locally each lake folder's session sets `local_catalog_settings`. The
parts that decide behaviour (extensions, no table cache) are one constant, so both agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from todo_contracts.lake_layout import LOCAL_CATALOG, LOCAL_CATALOG_FILE

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
SPARK_CATALOG = "org.apache.iceberg.spark.SparkCatalog"
GLUE_CATALOG = "glue_catalog"  # the catalog name AWS's Glue-with-Iceberg documentation uses
# Every statement loads the table's current pointer: another run (or the maintenance job) may have
# committed since, and a cached table would plan and validate against the past.
SHARED_CATALOG_PROPERTIES = {"cache-enabled": "false"}
# A busy local catalog waits rather than fails: two local runs may commit at the same moment.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _catalog(name: str, properties: Mapping[str, str]) -> dict[str, str]:
    prefix = f"spark.sql.catalog.{name}"
    settings = {prefix: SPARK_CATALOG}
    settings |= {
        f"{prefix}.{key}": value for key, value in {**properties, **SHARED_CATALOG_PROPERTIES}.items()
    }
    return settings


def glue_catalog_settings(warehouse_uri: str, catalog: str = GLUE_CATALOG) -> dict[str, str]:
    """The Glue Data Catalog through Iceberg's GlueCatalog and S3FileIO (Glue 5.1 ships both)."""
    return {
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
        **_catalog(
            catalog,
            {
                "catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
                "io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
                "warehouse": warehouse_uri,
            },
        ),
    }


def local_catalog_settings(lake_dir: Path) -> dict[str, str]:
    """Iceberg's JdbcCatalog on the lake folder's SQLite file (ADR 0009); the extensions are set
    once on the shared local SparkSession (they are static there too)."""
    root = lake_dir.resolve()
    return _catalog(
        LOCAL_CATALOG,
        {
            "catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
            "uri": f"jdbc:sqlite:{root / LOCAL_CATALOG_FILE}",
            # V1 is the schema pyiceberg's SqlCatalog reads too.
            "jdbc.schema-version": "V1",
            "jdbc.busy_timeout": str(SQLITE_BUSY_TIMEOUT_MS),
            # Readers (the local Athena engine) never wait for a committing writer, nor block one.
            "jdbc.journal_mode": "WAL",
            "warehouse": str(root),
        },
    )


def glue_conf_argument(settings: Mapping[str, str]) -> str:
    """Settings as the one `--conf` job argument Glue takes (`k=v --conf k2=v2 ...`)."""
    return " --conf ".join(f"{key}={value}" for key, value in settings.items())
