"""Glue Data Catalog database and the bronze tables, read from `todo_contracts.lake_layout`.

Silver and gold are Iceberg tables the Glue jobs create in this database (`CREATE TABLE IF NOT
EXISTS`): an Iceberg table declared here would lose its metadata pointer on the next stack update
(ADR 0009). Bronze stays plain JSON with partition projection.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from todo_contracts.lake_layout import BRONZE_TABLES, HOUR_PARTITIONS, LakeTable, Layer, TableFormat

JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
# Partition projection bounds for the arrival-hour partitions Firehose writes.
_PROJECTION_RANGES = {
    "year": ("2024", "2099", 4),
    "month": ("1", "12", 2),
    "day": ("1", "31", 2),
    "hour": ("0", "23", 2),
}


def table_location(table: LakeTable, buckets: Mapping[Layer, s3.IBucket]) -> str:
    """`s3://<layer bucket>/<folder>/`: on AWS each layer is a bucket, each table a folder in it."""
    return f"s3://{buckets[table.layer].bucket_name}/{table.folder}/"


def _projection_parameters(table: LakeTable, location: str) -> dict[str, str]:
    """Athena partition projection, so new hours are queryable without crawlers or MSCK REPAIR."""
    params = {"projection.enabled": "true"}
    template = location
    for key in HOUR_PARTITIONS:
        low, high, digits = _PROJECTION_RANGES[key]
        params[f"projection.{key}.type"] = "integer"
        params[f"projection.{key}.range"] = f"{low},{high}"
        params[f"projection.{key}.digits"] = str(digits)
        template += f"{key}=${{{key}}}/"
    params["storage.location.template"] = template
    assert [c.name for c in table.partition_keys] == list(HOUR_PARTITIONS), table.name
    return params


class LakeCatalog(Construct):
    """The catalog database and the (JSON) bronze tables."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        database_name: str,
        buckets: Mapping[Layer, s3.IBucket],
        tables: tuple[LakeTable, ...] = BRONZE_TABLES,
    ) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.database_name = database_name
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description="Todo API with Insights lake: bronze, silver and gold tables"
            ),
        )
        self.tables: dict[str, glue.CfnTable] = {}
        for table in tables:
            if table.file_format is not TableFormat.JSON:
                raise ValueError(f"{table.name} is an Iceberg table: the Glue jobs create it, not CDK")
            cfn_table = glue.CfnTable(
                self,
                f"Table-{table.name}",
                catalog_id=account,
                database_name=database_name,
                table_input=self._table_input(table, table_location(table, buckets)),
            )
            cfn_table.add_resource_dependency(self.database)
            self.tables[table.name] = cfn_table

    @staticmethod
    def _table_input(table: LakeTable, location: str) -> glue.CfnTable.TableInputProperty:
        columns = [
            glue.CfnTable.ColumnProperty(name=c.name, type=c.type, comment=c.comment or None)
            for c in table.columns
        ]
        partitions = [glue.CfnTable.ColumnProperty(name=c.name, type=c.type) for c in table.partition_keys]
        serde = glue.CfnTable.SerdeInfoProperty(
            serialization_library=JSON_SERDE,
            # Tolerate a malformed line instead of failing the whole query; silver quarantines it.
            parameters={"ignore.malformed.json": "true", "case.insensitive": "false"},
        )
        parameters = {"classification": "json", "compressionType": "gzip"}
        if table.partition_keys:
            parameters |= _projection_parameters(table, location)
        return glue.CfnTable.TableInputProperty(
            name=table.name,
            description=table.description or None,
            table_type="EXTERNAL_TABLE",
            parameters={"EXTERNAL": "TRUE", **parameters},
            partition_keys=partitions or None,
            storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                columns=columns,
                location=location,
                input_format=TEXT_INPUT,
                output_format=TEXT_OUTPUT,
                serde_info=serde,
                compressed=True,
            ),
        )
