"""Api stack: Cognito, REST API routes and auth, throttling, logs, tracing, WAF, function, canary."""

from __future__ import annotations

import json

import pytest

from todo_infra.stage_config import stage_config

pytestmark = pytest.mark.infra


def _paths(synth):
    """Map each API Gateway resource logical id to its full path, e.g. `/api/v1/{proxy+}`."""
    resources = synth.resources("Api", "AWS::ApiGateway::Resource")
    rest_api_id = next(iter(synth.resources("Api", "AWS::ApiGateway::RestApi")))

    def path(logical_id):
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = (
            "" if "Fn::GetAtt" in parent and parent["Fn::GetAtt"][0] == rest_api_id else path(parent["Ref"])
        )
        return f"{prefix}/{props['PathPart']}"

    return {logical_id: path(logical_id) for logical_id in resources}, rest_api_id


def _methods(synth):
    paths, _ = _paths(synth)
    methods = {}
    for method in synth.resources("Api", "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        resource = props["ResourceId"]
        path = paths[resource["Ref"]] if "Ref" in resource else "/"
        methods[(props["HttpMethod"], path)] = props
    return methods


def test_user_pool_signs_in_by_email_with_a_strong_password_policy(each_stage):
    pool = each_stage.one("Api", "AWS::Cognito::UserPool")["Properties"]
    assert pool["UsernameAttributes"] == ["email"]
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(
        policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols")
    )
    assert pool["MfaConfiguration"] == "OPTIONAL"


def test_threat_protection_is_enforced_in_prod_only(dev, prod):
    assert prod.one("Api", "AWS::Cognito::UserPool")["Properties"]["UserPoolAddOns"] == {
        "AdvancedSecurityMode": "ENFORCED"
    }
    assert "UserPoolAddOns" not in dev.one("Api", "AWS::Cognito::UserPool")["Properties"]


def test_app_client_allows_the_password_flows_the_platform_uses(each_stage):
    client = each_stage.one("Api", "AWS::Cognito::UserPoolClient")["Properties"]
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert client["GenerateSecret"] is False


def test_only_health_and_docs_are_public_and_everything_else_needs_a_cognito_token(each_stage):
    # CORS preflights (OPTIONS, a mock integration) are public by nature: see the CORS tests
    methods = {key: props for key, props in _methods(each_stage).items() if key[0] != "OPTIONS"}
    public = {key for key, props in methods.items() if props["AuthorizationType"] == "NONE"}

    assert public == {
        (method, path)
        for method in ("GET", "HEAD")
        for path in ("/api/health", "/api/docs", "/api/openapi.json")
    }
    protected = {key: props for key, props in methods.items() if key not in public}
    assert ("ANY", "/api/v1/{proxy+}") in protected
    assert all(
        p["AuthorizationType"] == "COGNITO_USER_POOLS" and "AuthorizerId" in p for p in protected.values()
    )
    assert not [key for key in methods if key[1] == "/"], "no method may sit on the root resource"


def test_protected_routes_validate_the_authorization_header(each_stage):
    proxy = _methods(each_stage)[("ANY", "/api/v1/{proxy+}")]
    assert proxy["RequestParameters"] == {"method.request.header.Authorization": True}
    assert "RequestValidatorId" in proxy


def test_every_route_invokes_the_live_alias(each_stage):
    alias_id = next(iter(each_stage.resources("Api", "AWS::Lambda::Alias")))
    for (http_method, _), props in _methods(each_stage).items():
        if http_method == "OPTIONS":
            continue  # CORS preflight, answered by API Gateway itself
        uri = json.dumps(props["Integration"]["Uri"])
        assert alias_id in uri
        assert props["Integration"]["Type"] == "AWS_PROXY"


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_stage_throttling_logging_and_tracing_follow_the_config(stage_name, request):
    synth = request.getfixturevalue(stage_name)
    config = stage_config(stage_name)
    stage = synth.one("Api", "AWS::ApiGateway::Stage")["Properties"]

    assert stage["StageName"] == stage_name
    assert stage["TracingEnabled"] is True
    settings = stage["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] == config.api_throttle_rate
    assert settings["ThrottlingBurstLimit"] == config.api_throttle_burst
    assert settings["DataTraceEnabled"] is False
    access_log = stage["AccessLogSetting"]
    assert json.loads(access_log["Format"])["requestId"] == "$context.requestId"
    log_group_id = access_log["DestinationArn"]["Fn::GetAtt"][0]
    log_group = synth.template("Api")["Resources"][log_group_id]["Properties"]
    assert log_group["RetentionInDays"] == config.log_retention_days


def _gateway_responses(synth):
    return {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("Api", "AWS::ApiGateway::GatewayResponse").values()
    }


def test_throttled_callers_get_429_with_retry_after(each_stage):
    response = _gateway_responses(each_stage)["THROTTLED"]
    assert response["StatusCode"] == "429"
    assert response["ResponseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


def test_every_answer_of_api_gateway_itself_is_the_error_envelope(each_stage):
    responses = _gateway_responses(each_stage)
    assert set(responses) == {
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "MISSING_AUTHENTICATION_TOKEN",
        "THROTTLED",
        "REQUEST_TOO_LARGE",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
    }
    for response_type, props in responses.items():
        template = props["ResponseTemplates"]["application/json"]
        # the template is JSON once API Gateway has substituted its variables
        rendered = json.loads(
            template.replace("$context.requestId", "rid").replace("$context.error.messageString", '"m"')
        )
        assert set(rendered) == {"error"}, response_type
        assert set(rendered["error"]) == {"code", "message", "request_id"}, response_type
        assert rendered["error"]["request_id"] == "rid"
        assert rendered["error"]["code"].isupper()
        assert props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
    # unknown paths and methods are 404, not API Gateway's 403 "Missing Authentication Token"
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    # the catch-alls keep the status of the case they answer
    assert "StatusCode" not in responses["DEFAULT_4XX"]
    assert "StatusCode" not in responses["DEFAULT_5XX"]


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_waf_limits_each_caller_by_token_then_ip_and_runs_managed_rules(stage_name, request):
    synth = request.getfixturevalue(stage_name)
    acl = synth.one("Api", "AWS::WAFv2::WebACL")["Properties"]
    rules = {rule["Name"]: rule for rule in acl["Rules"]}

    per_caller = rules["rate-per-caller"]["Statement"]["RateBasedStatement"]
    assert per_caller["AggregateKeyType"] == "CUSTOM_KEYS"
    assert per_caller["CustomKeys"][0]["Header"]["Name"] == "authorization"
    assert per_caller["Limit"] == stage_config(stage_name).waf_rate_limit
    anonymous = rules["rate-per-ip-anonymous"]["Statement"]["RateBasedStatement"]
    assert anonymous["AggregateKeyType"] == "IP"
    assert "NotStatement" in anonymous["ScopeDownStatement"]
    assert rules["rate-per-caller"]["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in acl["Rules"]
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}


def test_web_acl_is_associated_with_the_api_stage(each_stage):
    association = each_stage.one("Api", "AWS::WAFv2::WebACLAssociation")["Properties"]
    stage_id = next(iter(each_stage.resources("Api", "AWS::ApiGateway::Stage")))
    assert stage_id in json.dumps(association["ResourceArn"])


def test_api_function_runs_arm64_python_with_its_settings_from_the_environment(each_stage):
    functions = each_stage.resources("Api", "AWS::Lambda::Function")
    api = next(
        f["Properties"]
        for f in functions.values()
        if f["Properties"].get("Handler") == "todo_api.handler.handler"
    )
    assert api["Architectures"] == ["arm64"]
    assert api["Runtime"] in {"python3.12", "python3.13"}
    assert api["TracingConfig"] == {"Mode": "Active"}
    assert len(api["Layers"]) == 1
    env = api["Environment"]["Variables"]
    assert env["STAGE"] == each_stage.todo.config.name
    assert "Fn::ImportValue" in env["TABLE_NAME"]
    # The secret's ARN, never its value (no dynamic reference copying it into the configuration).
    assert "CURSOR_SECRET" not in env
    secret_id = each_stage.logical_id("Api", each_stage.todo.api.cursor_secret)
    assert env["CURSOR_SECRET_ID"] == {"Ref": secret_id}
    assert "resolve:secretsmanager" not in json.dumps(each_stage.template("Api"))
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= env.keys()


def test_api_function_gets_table_data_access_and_nothing_wider(each_stage):
    actions = set()
    for policy in each_stage.resources("Api", "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            found = statement["Action"]
            actions.update([found] if isinstance(found, str) else found)
    assert {"dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= actions
    assert not [a for a in actions if a == "*" or a.endswith(":*")]


@pytest.mark.parametrize(
    ("stage_name", "config_name"),
    [
        ("dev", "CodeDeployDefault.LambdaAllAtOnce"),
        ("prod", "CodeDeployDefault.LambdaCanary10Percent5Minutes"),
    ],
)
def test_live_alias_deploys_by_canary_in_prod_and_all_at_once_in_dev(stage_name, config_name, request):
    synth = request.getfixturevalue(stage_name)
    group = synth.one("Api", "AWS::CodeDeploy::DeploymentGroup")["Properties"]
    assert group["DeploymentConfigName"] == config_name
    assert group["AlarmConfiguration"]["Enabled"] is True
    rollback_alarms = {synth.logical_id("Api", a) for a in synth.todo.api.rollback_alarms}
    assert {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]} == rollback_alarms
    assert set(group["AutoRollbackConfiguration"]["Events"]) >= {
        "DEPLOYMENT_FAILURE",
        "DEPLOYMENT_STOP_ON_ALARM",
    }
    alias = synth.one("Api", "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]


def test_cursor_key_rotates_on_a_schedule_through_its_own_function(each_stage):
    api = each_stage.todo.api
    schedule = each_stage.one("Api", "AWS::SecretsManager::RotationSchedule")["Properties"]
    assert schedule["SecretId"] == {"Ref": each_stage.logical_id("Api", api.cursor_secret)}
    rotation_id = each_stage.logical_id("Api", api.rotation_function)
    assert schedule["RotationLambdaARN"] == {"Fn::GetAtt": [rotation_id, "Arn"]}
    assert schedule["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    rotation = each_stage.template("Api")["Resources"][rotation_id]["Properties"]
    assert rotation["Handler"] == "todo_api.cursor_key_rotation.handler"
    # No AwsSolutions-SMG4 acknowledgement is needed any more: the secret rotates.
    from aws_cdk import Validations

    acknowledged = {
        rule
        for entry in api.cursor_secret.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule in dict(entry.data or {})
    }
    assert not any("SMG4" in rule for rule in acknowledged)


def test_api_gateway_execution_logs_go_to_a_group_with_retention_created_first(each_stage):
    api = each_stage.todo.api
    group_id = each_stage.logical_id("Api", api.execution_log_group)
    group = each_stage.template("Api")["Resources"][group_id]
    rest_api_id = each_stage.logical_id("Api", api.rest_api)
    assert group["Properties"]["LogGroupName"] == {
        "Fn::Join": [
            "",
            ["API-Gateway-Execution-Logs_", {"Ref": rest_api_id}, f"/{each_stage.todo.config.name}"],
        ]
    }
    assert group["Properties"]["RetentionInDays"] == each_stage.todo.config.log_retention_days
    stage = each_stage.one("Api", "AWS::ApiGateway::Stage")
    assert group_id in stage.get("DependsOn", [])
    assert stage["Properties"]["MethodSettings"][0]["LoggingLevel"] == "ERROR"


def test_dev_answers_cors_preflights_on_every_api_resource_without_the_function(dev):
    paths, _ = _paths(dev)
    preflights = {key: props for key, props in _methods(dev).items() if key[0] == "OPTIONS"}
    assert {path for _, path in preflights} == {p for p in paths.values() if p.startswith("/api")}
    for props in preflights.values():
        assert props["AuthorizationType"] == "NONE"
        assert props["Integration"]["Type"] == "MOCK"
        answer = props["Integration"]["IntegrationResponses"][0]
        assert answer["StatusCode"] == "204"
        template = answer["ResponseTemplates"]["application/json"]
        for origin in stage_config("dev").cors_allowed_origins[1:]:
            assert f'"{origin}"' in template  # echoed back only when it is one of these


def test_the_function_learns_the_stage_origins(each_stage):
    function = next(
        f["Properties"]
        for f in each_stage.resources("Api", "AWS::Lambda::Function").values()
        if "CORS_ALLOWED_ORIGINS" in f["Properties"].get("Environment", {}).get("Variables", {})
    )
    expected = ",".join(each_stage.todo.config.cors_allowed_origins)
    assert function["Environment"]["Variables"]["CORS_ALLOWED_ORIGINS"] == expected


def test_prod_has_no_origins_so_no_preflight_and_no_cors_headers(prod):
    assert not [key for key in _methods(prod) if key[0] == "OPTIONS"]
    for props in _gateway_responses(prod).values():
        assert not [h for h in props["ResponseParameters"] if "Access-Control" in h]


def test_gateway_responses_carry_cors_headers_in_dev(dev):
    for props in _gateway_responses(dev).values():
        params = props["ResponseParameters"]
        assert params["gatewayresponse.header.Access-Control-Allow-Origin"] == "method.request.header.Origin"
        exposed = params["gatewayresponse.header.Access-Control-Expose-Headers"].strip("'").split(", ")
        assert {"ETag", "Location", "Idempotent-Replayed", "Retry-After"} <= set(exposed)
