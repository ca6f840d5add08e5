"""Data stack: the synthesized table is exactly the shared definition, with every safety setting."""

from __future__ import annotations

import pytest

from todo_contracts.table import TABLE

pytestmark = pytest.mark.infra


def test_key_schema_and_indexes_equal_the_shared_definition(each_stage):
    table = each_stage.one("Data", "AWS::DynamoDB::Table")["Properties"]
    expected = TABLE.create_table_kwargs("unused")

    assert table["KeySchema"] == expected["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        expected["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    synthesized = {
        gsi["IndexName"]: (gsi["KeySchema"], gsi["Projection"]) for gsi in table["GlobalSecondaryIndexes"]
    }
    assert synthesized == {
        gsi["IndexName"]: (gsi["KeySchema"], gsi["Projection"]) for gsi in expected["GlobalSecondaryIndexes"]
    }


def test_table_is_on_demand_streamed_recoverable_encrypted_and_expiring(each_stage):
    table = each_stage.one("Data", "AWS::DynamoDB::Table")["Properties"]

    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["SSESpecification"]["SSEType"] == "KMS"
    key_id = table["SSESpecification"]["KMSMasterKeyId"]["Fn::GetAtt"][0]
    key = each_stage.template("Data")["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": TABLE.ttl_attribute, "Enabled": True}


def test_prod_table_is_protected_and_retained(prod):
    table = prod.one("Data", "AWS::DynamoDB::Table")
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    # Fixed table name: kept on delete and replacement, removed if its first create rolls back, so
    # a failed first deploy can be retried instead of failing with "already exists".
    assert table["DeletionPolicy"] == "RetainExceptOnCreate"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert prod.one("Data", "AWS::KMS::Key")["DeletionPolicy"] == "Retain"


def test_dev_table_is_disposable(dev):
    table = dev.one("Data", "AWS::DynamoDB::Table")
    assert table["Properties"].get("DeletionProtectionEnabled", False) is False
    assert table["DeletionPolicy"] == "Delete"


def test_staging_can_be_destroyed(staging):
    # Deletion protection with DESTROY would make `cdk destroy` fail on the table halfway through.
    table = staging.one("Data", "AWS::DynamoDB::Table")
    assert table["Properties"].get("DeletionProtectionEnabled", False) is False
    assert table["DeletionPolicy"] == "Delete"
    pool = staging.one("Api", "AWS::Cognito::UserPool")
    assert pool["Properties"].get("DeletionProtection", "INACTIVE") == "INACTIVE"
