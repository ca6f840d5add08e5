"""The local gateway's rate limits and 429 body are the dev stage's (SPEC §4: the local gateway
applies the same limit)."""

from __future__ import annotations

import json
from typing import Any

from todo_contracts import routes
from todo_contracts.errors import RATE_LIMITED_CODE, RATE_LIMITED_MESSAGE
from todo_contracts.identity import PASSWORD_POLICY
from todo_contracts.limits import (
    DEV_RATE_LIMITS,
    STREAM_BATCH_SIZE,
    STREAM_RETRY_ATTEMPTS,
    WAF_WINDOW_SECONDS,
)
from todo_infra.constructs.rate_limited_web_acl import RATE_LIMITED_BODY
from todo_infra.stage_config import stage_config
from todo_local.rate_limit import DEV_LIMITS


def test_local_limits_equal_the_dev_stage_config() -> None:
    dev = stage_config("dev")
    assert DEV_LIMITS.per_caller == dev.waf_rate_limit == DEV_RATE_LIMITS.waf_per_window
    assert DEV_LIMITS.window_seconds == WAF_WINDOW_SECONDS
    assert DEV_LIMITS.stage_rate == dev.api_throttle_rate == DEV_RATE_LIMITS.throttle_rate
    assert DEV_LIMITS.stage_burst == dev.api_throttle_burst == DEV_RATE_LIMITS.throttle_burst


def test_the_dev_api_stack_enforces_the_shared_rate_limits(dev) -> None:
    """What the template says, not only the config: the stage throttle and both WAF rules."""
    (stage,) = dev.resources("Api", "AWS::ApiGateway::Stage").values()
    (settings,) = stage["Properties"]["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == DEV_LIMITS.stage_rate
    assert settings["ThrottlingBurstLimit"] == DEV_LIMITS.stage_burst
    (acl,) = dev.resources("Api", "AWS::WAFv2::WebACL").values()
    rate_rules = [r for r in acl["Properties"]["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert len(rate_rules) == 2
    for rule in rate_rules:
        statement = rule["Statement"]["RateBasedStatement"]
        assert statement["Limit"] == DEV_LIMITS.per_caller, rule["Name"]
        assert statement["EvaluationWindowSec"] == DEV_LIMITS.window_seconds, rule["Name"]


def test_the_local_stream_ingestion_batches_and_retries_as_the_stream_mapping(each_stage) -> None:
    from todo_local.ingestion import STREAM_BATCH_SIZE as LOCAL_BATCH_SIZE
    from todo_local.ingestion import STREAM_RETRY_ATTEMPTS as LOCAL_RETRIES

    (mapping,) = each_stage.resources("Etl", "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["BatchSize"] == STREAM_BATCH_SIZE == LOCAL_BATCH_SIZE
    assert props["MaximumRetryAttempts"] == STREAM_RETRY_ATTEMPTS == LOCAL_RETRIES


def test_local_429_body_is_the_waf_custom_response() -> None:
    assert json.loads(RATE_LIMITED_BODY) == {
        "error": {"code": RATE_LIMITED_CODE, "message": RATE_LIMITED_MESSAGE}
    }


def test_local_gateway_answers_what_the_gateway_responses_render(dev) -> None:
    """Each gateway response of the Api stack, rendered, is what the local gateway answers."""
    from todo_local.gateway import ANSWERS, DEV_CORS_ORIGINS, gateway_cors_headers, gateway_error

    origin = DEV_CORS_ORIGINS[-1]
    rendered_types = set()
    for resource in dev.resources("Api", "AWS::ApiGateway::GatewayResponse").values():
        props = resource["Properties"]
        answer = ANSWERS[props["ResponseType"]]
        local = gateway_error(answer, "req-1")
        local.headers += gateway_cors_headers(DEV_CORS_ORIGINS, origin)
        template = props["ResponseTemplates"]["application/json"]
        aws_body = template.replace("$context.requestId", "req-1").replace(
            "$context.error.messageString", json.dumps(answer.message)
        )
        assert json.loads(aws_body) == json.loads(local.body), props["ResponseType"]
        if "StatusCode" in props:
            assert int(props["StatusCode"]) == local.status, props["ResponseType"]
        for name, value in props.get("ResponseParameters", {}).items():
            header = name.removeprefix("gatewayresponse.header.")
            expected = origin if value == "method.request.header.Origin" else value.strip("'")
            if header != "Retry-After":  # the local limiter computes the actual wait
                assert local.header(header) == expected, (props["ResponseType"], header)
        rendered_types.add(props["ResponseType"])
    assert rendered_types == set(ANSWERS)


def test_local_cors_origins_are_the_dev_stage_origins() -> None:
    from todo_local.gateway import DEV_CORS_ORIGINS

    assert stage_config("dev").cors_allowed_origins == DEV_CORS_ORIGINS


def test_local_preflight_answers_what_the_api_stacks_mock_answers(dev) -> None:
    """The OPTIONS mock of the Api stack and the local gateway's preflight give the same headers."""
    from todo_local.gateway import DEV_CORS_ORIGINS, preflight

    preflights = [
        m["Properties"]
        for m in dev.resources("Api", "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "OPTIONS"
    ]
    assert preflights
    for props in preflights:
        answer = props["Integration"]["IntegrationResponses"][0]
        template = answer["ResponseTemplates"]["application/json"]
        for origin in (*DEV_CORS_ORIGINS, "https://evil.example"):
            local = preflight(DEV_CORS_ORIGINS, origin, "req-1")
            assert int(answer["StatusCode"]) == local.status
            for name, value in answer["ResponseParameters"].items():
                header = name.removeprefix("method.response.header.")
                expected = value.strip("'")
                if header == "Access-Control-Allow-Origin" and f'"{origin}"' in template:
                    expected = origin  # the template's override for the other allowed origins
                assert local.header(header) == expected, (origin, header)


def test_reconcile_stage_reads_the_resources_the_stacks_create(each_stage):
    """`todo-insights reconcile --stage` finds the table, workgroup and database by name."""
    from todo_local.stage_reconcile import StageResources

    resources = StageResources(each_stage.todo.config.name)
    table = each_stage.one("Data", "AWS::DynamoDB::Table")["Properties"]
    assert table["TableName"] == resources.table_name
    workgroup = each_stage.one("Etl", "AWS::Athena::WorkGroup")["Properties"]
    assert workgroup["Name"] == resources.workgroup
    database = each_stage.one("Etl", "AWS::Glue::Database")["Properties"]
    assert database["DatabaseInput"]["Name"] == resources.database


def test_local_lake_maintenance_keeps_what_the_dev_stage_keeps() -> None:
    """`todo-insights pipeline maintain` defaults to dev's retention (the Glue job's arguments)."""
    from todo_etl.glue.maintenance_policy import DEFAULT_POLICY

    assert stage_config("dev").lake_maintenance == DEFAULT_POLICY


def test_local_and_glue_catalogs_behave_alike(tmp_path) -> None:
    """The settings that decide how a job sees its tables are the same in both catalogs."""
    from todo_contracts.lake_layout import LOCAL_CATALOG
    from todo_etl.glue.catalog_settings import (
        GLUE_CATALOG,
        SHARED_CATALOG_PROPERTIES,
        SPARK_CATALOG,
        glue_catalog_settings,
        local_catalog_settings,
    )

    glue = glue_catalog_settings("s3://silver/")
    local = local_catalog_settings(tmp_path)
    for settings, name in ((glue, GLUE_CATALOG), (local, LOCAL_CATALOG)):
        assert settings[f"spark.sql.catalog.{name}"] == SPARK_CATALOG
        for key, value in SHARED_CATALOG_PROPERTIES.items():
            assert settings[f"spark.sql.catalog.{name}.{key}"] == value


def _resource_paths(template_resources: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Logical id of each API Gateway resource -> its full path, from the parent chain."""
    paths: dict[str, str] = {}

    def path_of(logical_id: str) -> str:
        if logical_id not in paths:
            props = template_resources[logical_id]["Properties"]
            parent = props["ParentId"]
            prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
            paths[logical_id] = f"{prefix}/{props['PathPart']}"
        return paths[logical_id]

    for logical_id in template_resources:
        path_of(logical_id)
    return paths


def test_public_routes_are_one_list_for_the_api_stack_the_local_gateway_and_the_app(dev) -> None:
    """The unauthenticated methods the Api stack creates are exactly the contract's public routes,
    the ones the local gateway lets through without a token and the app serves its docs at."""
    from todo_api.app import create_app
    from todo_local.gateway import PUBLIC_METHODS, PUBLIC_ROUTES

    paths = _resource_paths(dev.resources("Api", "AWS::ApiGateway::Resource"))
    public: set[tuple[str, str]] = set()
    for method in dev.resources("Api", "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        if props["HttpMethod"] != "OPTIONS" and props.get("AuthorizationType") == "NONE":
            public.add((paths[props["ResourceId"]["Ref"]], props["HttpMethod"]))
    assert public == {(r, m) for r in routes.PUBLIC_ROUTES for m in routes.PUBLIC_METHODS}
    assert (set(routes.PUBLIC_ROUTES), set(routes.PUBLIC_METHODS)) == (PUBLIC_ROUTES, PUBLIC_METHODS)
    app = create_app()
    assert {app.openapi_url, app.docs_url, routes.HEALTH} == set(routes.PUBLIC_ROUTES)
    assert app.swagger_ui_oauth2_redirect_url is None
    assert routes.HEALTH in app.openapi()["paths"]


def test_the_user_pool_password_policy_is_the_contracts_policy(dev) -> None:
    """CDK renders the contract's policy; the local pool is created with it too (pinned in
    local/tests/test_local_platform.py against a running pool)."""
    (pool,) = dev.resources("Api", "AWS::Cognito::UserPool").values()
    assert pool["Properties"]["Policies"]["PasswordPolicy"] == PASSWORD_POLICY.as_cognito_api()
