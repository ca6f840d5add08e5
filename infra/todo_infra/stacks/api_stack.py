"""Api stack: Cognito, the REST API with its WAF (`RateLimitedWebAcl`), the api function, alias, canary."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from todo_api import cors
from todo_contracts import routes
from todo_contracts.errors import RATE_LIMITED_CODE, RATE_LIMITED_MESSAGE
from todo_contracts.identity import PASSWORD_POLICY
from todo_infra import nag
from todo_infra.constructs.python_function import PythonFunction
from todo_infra.constructs.rate_limited_web_acl import RateLimitedWebAcl
from todo_infra.constructs.stage_defaults import stage_log_group
from todo_infra.constructs.table_key import grant_table_key_via_dynamodb
from todo_infra.constructs.trust import restrict_trust_to_account
from todo_infra.observability import runbook_description
from todo_infra.packaging import BuiltBundle
from todo_infra.stage_config import StageConfig

API_TIMEOUT = Duration.seconds(15)
# What the api code calls on items (repository + Powertools idempotency), as IAM names them.
API_ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
)
CURSOR_ROTATION_HANDLER = "todo_api.cursor_key_rotation.handler"
# A cursor lives for one listing session; the previous key stays valid for a whole period after.
CURSOR_KEY_ROTATION = Duration.days(30)
# API Gateway's own answers, in the API's error envelope with the request id (ADR 0012):
# response type -> (status, code, message). A message of None is API Gateway's own message for the
# case (`$context.error.messageString`, already a JSON string); the catch-alls keep the status of
# the case. The local gateway answers the same (todo_local.gateway.ANSWERS; an infra test compares).
GATEWAY_RESPONSES: dict[str, tuple[str | None, str, str | None]] = {
    "UNAUTHORIZED": ("401", "UNAUTHORIZED", "missing, expired or invalid token"),
    "ACCESS_DENIED": ("403", "ACCESS_DENIED", "access denied"),
    # No resource or method at that path: API Gateway's 403 "Missing Authentication Token" is a 404.
    "MISSING_AUTHENTICATION_TOKEN": ("404", "NOT_FOUND", "no such route"),
    "THROTTLED": ("429", RATE_LIMITED_CODE, RATE_LIMITED_MESSAGE),
    "REQUEST_TOO_LARGE": ("413", "PAYLOAD_TOO_LARGE", "request exceeds 10 MB"),
    "DEFAULT_4XX": (None, "BAD_REQUEST", None),
    "DEFAULT_5XX": (None, "INTERNAL_ERROR", None),
}
RETRY_AFTER_SECONDS = 1  # stage throttling refills its bucket every second


def gateway_response_template(code: str, message: str | None) -> str:
    """The mapping template of one gateway response: the error envelope with `$context.requestId`."""
    quoted = json.dumps(message) if message is not None else "$context.error.messageString"
    return f'{{"error": {{"code": "{code}", "message": {quoted}, "request_id": "$context.requestId"}}}}'


class ApiStack(Stack):
    """Everything a client talks to. The deployment group lives here (see ADR 0008: no cycles)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        table: dynamodb.ITable,
        api_bundle: BuiltBundle,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self._build_user_pool()
        self._build_function(table, api_bundle)
        self._build_rest_api()
        self._build_execution_logs()
        self.waf = RateLimitedWebAcl(
            self,
            "RateLimitedWebAcl",
            name=f"{config.prefix}-api",
            limit=config.waf_rate_limit,
            stage=self.stage,
        )
        self._build_deployment()
        CfnOutput(self, "ApiUrl", value=f"{self.rest_api.url}api", description="Base URL of the API (/api)")
        CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.user_pool_client.user_pool_client_id)

    # --- identity -----------------------------------------------------------------------------

    def _build_user_pool(self) -> None:
        config = self.config
        threat = (
            {
                "feature_plan": cognito.FeaturePlan.PLUS,
                "standard_threat_protection_mode": cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            }
            if config.cognito_threat_protection
            else {"feature_plan": cognito.FeaturePlan.ESSENTIALS}
        )
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"{config.prefix}-users",
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            self_sign_up_enabled=True,
            password_policy=cognito.PasswordPolicy(
                min_length=PASSWORD_POLICY.min_length,
                require_lowercase=PASSWORD_POLICY.require_lowercase,
                require_uppercase=PASSWORD_POLICY.require_uppercase,
                require_digits=PASSWORD_POLICY.require_digits,
                require_symbols=PASSWORD_POLICY.require_symbols,
                temp_password_validity=Duration.days(PASSWORD_POLICY.temporary_password_days),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=config.deletion_protection,
            removal_policy=config.removal_policy,
            **threat,
        )
        nag.acknowledge(
            self.user_pool,
            "AwsSolutions-COG2",
            "MFA is optional (TOTP offered): the API's clients and smoke tests sign in with "
            "USER_PASSWORD_AUTH, and requiring MFA would lock out the non-interactive callers.",
        )
        if not config.cognito_threat_protection:
            for rule in ("AwsSolutions-COG3", "AwsSolutions-COG8"):
                nag.acknowledge(
                    self.user_pool,
                    rule,
                    f"Threat protection needs the paid Cognito Plus plan: on in prod, off in {config.name}.",
                )
        self.user_pool_client = self.user_pool.add_client(
            "AppClient",
            user_pool_client_name=f"{config.prefix}-app",
            auth_flows=cognito.AuthFlow(user_password=True, admin_user_password=True, user_srp=True),
            generate_secret=False,
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )

    # --- function -----------------------------------------------------------------------------

    def _build_function(self, table: dynamodb.ITable, bundle: BuiltBundle) -> None:
        config = self.config
        self._build_cursor_secret(bundle)
        self.api = PythonFunction(
            self,
            "ApiFunction",
            config=config,
            built=bundle,
            family="api",
            description="Todo REST API (FastAPI behind Mangum)",
            memory_mb=config.api_memory_mb,
            timeout=API_TIMEOUT,
            environment={
                "TABLE_NAME": table.table_name,
                cors.ORIGINS_VARIABLE: ",".join(config.cors_allowed_origins),
                # The name, never the value: the function reads the key at run time (ADR 0011).
                "CURSOR_SECRET_ID": self.cursor_secret.secret_arn,
                "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
            },
        )
        self.function = self.api.function
        self.log_group = self.api.log_group
        self._grant_table_access(table)
        # The current and the previous cursor key (VersionStage AWSCURRENT / AWSPREVIOUS).
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"], resources=[self.cursor_secret.secret_arn]
            )
        )
        self.alias = lambda_.Alias(
            self, "LiveAlias", alias_name="live", version=self.function.current_version
        )

    def _grant_table_access(self, table: dynamodb.ITable) -> None:
        """Exactly the calls of `todo_api.repository` and Powertools' idempotency layer: item reads
        and conditional writes (also inside TransactWriteItems, which IAM authorizes per item
        action), and Query on the table and its GSIs. No Scan, Batch*, stream or describe calls."""
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=list(API_ITEM_ACTIONS), resources=[table.table_arn])
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"], resources=[table.table_arn, f"{table.table_arn}/index/*"]
            )
        )
        # The table key, only as DynamoDB uses it on the function's behalf (kms:ViaService).
        grant_table_key_via_dynamodb(self.function, table)
        nag.acknowledge(
            self.function,
            nag.wildcard(f"Resource::{nag.imported_attribute(table)}/index/*"),
            "Query on the table's four GSIs (the list filters), this table's indexes only.",
        )

    def _build_cursor_secret(self, bundle: BuiltBundle) -> None:
        """The cursor-signing key, rotated by a small function on a schedule (ADR 0011)."""
        config = self.config
        self.cursor_secret = secretsmanager.Secret(
            self,
            "CursorSecret",
            secret_name=f"{config.prefix}/cursor-signing-key",
            description="HMAC key that signs the API's opaque list cursors (current and previous accepted)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=config.named_removal_policy,
        )
        # Not a database: no hosted rotation fits, so a rotation function of our own. Its code is the
        # api bundle's (todo_api.cursor_key_rotation), which needs nothing beyond boto3.
        self.rotation = PythonFunction(
            self,
            "CursorKeyRotation",
            config=config,
            built=bundle,
            handler=CURSOR_ROTATION_HANDLER,
            family="cursor-key-rotation",
            description="Rotates the cursor-signing key (Secrets Manager rotation steps)",
            memory_mb=256,
            timeout=Duration.seconds(30),
            environment={},
            publishes_metrics=False,
        )
        self.rotation_function = self.rotation.function
        nag.acknowledge(
            self.rotation_function,
            nag.wildcard("Resource::*"),
            "secretsmanager:GetRandomPassword and X-Ray PutTraceSegments/PutTelemetryRecords have no "
            "resource-level permissions; everything else is on the cursor secret only.",
        )
        self.cursor_secret.add_rotation_schedule(
            "Rotation", rotation_lambda=self.rotation_function, automatically_after=CURSOR_KEY_ROTATION
        )

    # --- REST API -----------------------------------------------------------------------------

    def _build_rest_api(self) -> None:
        config = self.config
        self.access_log_group = stage_log_group(
            self, "AccessLogs", config=config, name=f"/aws/apigateway/{config.prefix}-access"
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{config.prefix}-api",
            description="Todo API with Insights",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=config.name,
                throttling_rate_limit=config.api_throttle_rate,
                throttling_burst_limit=config.api_throttle_burst,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # never log bodies or tokens
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        cloud_watch_role = self.rest_api.node.find_child("CloudWatchRole")
        restrict_trust_to_account(
            cloud_watch_role if isinstance(cloud_watch_role, iam.Role) else None, only_if_sent=True
        )
        nag.acknowledge(
            self.rest_api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "The account-level role API Gateway needs to write access logs; AWS's managed policy is "
            "the documented minimum.",
        )
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=[self.user_pool], authorizer_name="cognito"
        )
        self.request_validator = self.rest_api.add_request_validator(
            "RequestValidator", validate_request_parameters=True, validate_request_body=True
        )
        integration = apigw.LambdaIntegration(self.alias, proxy=True)
        api = self.rest_api.root.add_resource("api", default_cors_preflight_options=self._cors_preflight())
        for route in routes.PUBLIC_ROUTES:
            resource = api.resource_for_path(route.removeprefix(f"{routes.API_BASE}/"))
            for http_method in routes.PUBLIC_METHODS:  # HEAD on every GET route (the function answers it)
                method = resource.add_method(
                    http_method, integration, authorization_type=apigw.AuthorizationType.NONE
                )
                for rule, why in (
                    ("AwsSolutions-APIG4", "public by design: health check and API documentation"),
                    ("AwsSolutions-COG4", "public by design: health check and API documentation"),
                ):
                    nag.acknowledge(method, rule, f"{http_method} {route} is {why}; it reads no user data.")
        proxy = api.add_resource("v1").add_resource("{proxy+}")
        proxy.add_method(
            "ANY",
            integration,
            authorizer=self.authorizer,
            authorization_type=apigw.AuthorizationType.COGNITO,
            request_validator=self.request_validator,
            request_parameters={"method.request.header.Authorization": True},
        )
        self._acknowledge_preflights(api)
        self._build_gateway_responses()
        self.stage = self.rest_api.deployment_stage

    def _acknowledge_preflights(self, api: apigw.IResource) -> None:
        """The CORS preflight (OPTIONS) methods cannot carry an authorizer: browsers send no token."""
        pending: list[apigw.IResource] = [api]
        while pending:
            resource = pending.pop()
            pending.extend(child for child in resource.node.children if isinstance(child, apigw.Resource))
            method = resource.node.try_find_child("OPTIONS")
            if method is None:
                continue
            for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
                nag.acknowledge(
                    method,
                    rule,
                    "CORS preflight: browsers send OPTIONS without credentials, so it cannot be "
                    "authorized; a mock integration answers it, nothing reaches the function.",
                )

    def _cors_preflight(self) -> apigw.CorsOptions | None:
        """OPTIONS on /api and every resource under it, answered by API Gateway (a mock
        integration) for the stage's origins; none configured, no preflight (ADR 0012)."""
        origins = self.config.cors_allowed_origins
        if not origins:
            return None
        return apigw.CorsOptions(
            allow_origins=list(origins),
            allow_methods=list(cors.ALLOWED_METHODS),
            allow_headers=list(cors.ALLOWED_HEADERS),
            max_age=Duration.seconds(cors.MAX_AGE_SECONDS),
            status_code=204,
        )

    def _gateway_cors_headers(self) -> dict[str, str]:
        """CORS headers of API Gateway's own answers, so that a browser app can read its 401s and
        429s. A gateway response cannot choose among origins: with one origin it is named, with
        several the request's Origin is echoed (these bodies carry nothing but the error)."""
        origins = self.config.cors_allowed_origins
        if not origins:
            return {}
        return {
            "Access-Control-Allow-Origin": f"'{origins[0]}'"
            if len(origins) == 1
            else "method.request.header.Origin",
            "Access-Control-Expose-Headers": f"'{', '.join(cors.EXPOSED_HEADERS)}'",
            "Vary": "'Origin'",
        }

    def _build_gateway_responses(self) -> None:
        """Every answer API Gateway gives by itself is the error envelope (401, 403, 404, 413, 429,
        other 4XX and 5XX); stage throttling's 429 carries Retry-After."""
        for response_type, (status, code, message) in GATEWAY_RESPONSES.items():
            headers = {"Content-Type": "'application/json'", **self._gateway_cors_headers()}
            if response_type == "THROTTLED":
                headers["Retry-After"] = f"'{RETRY_AFTER_SECONDS}'"
            self.rest_api.add_gateway_response(
                response_type.title().replace("_", ""),
                type=apigw.ResponseType.of(response_type),
                status_code=status,
                response_headers=headers,
                templates={"application/json": gateway_response_template(code, message)},
            )

    def _build_execution_logs(self) -> None:
        """API Gateway's execution log group, created here with retention before the stage logs.

        The service would create `API-Gateway-Execution-Logs_{restApiId}/{stage}` itself on the
        first logged request, with no retention and outside the stack.
        """
        config = self.config
        self.execution_log_group = stage_log_group(
            self,
            "ExecutionLogs",
            config=config,
            name=f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{config.name}",
        )
        self.stage.node.add_dependency(self.execution_log_group)

    # --- canary deployment ----------------------------------------------------------------------

    def _build_deployment(self) -> None:
        """Alarms the deployment group rolls back on, in this stack because the group rewrites the
        alias's UpdatePolicy: a group in the Monitoring stack would make Api depend on Monitoring."""
        config = self.config
        self.api_5xx_rate_alarm = cloudwatch.Alarm(
            self,
            "Api5xxRateAlarm",
            alarm_name=f"{config.prefix}-api-5xx-rate",
            alarm_description=runbook_description(
                "api-5xx-rate", "More than 1% of API requests answered 5XX."
            ),
            metric=cloudwatch.MathExpression(
                expression="IF(requests > 0, 100 * errors / requests, 0)",
                using_metrics={
                    "errors": self.rest_api.metric_server_error(period=Duration.minutes(1), statistic="Sum"),
                    "requests": self.rest_api.metric_count(period=Duration.minutes(1), statistic="Sum"),
                },
                label="5XX rate (%)",
                period=Duration.minutes(1),
            ),
            threshold=1,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.api_errors_alarm = cloudwatch.Alarm(
            self,
            "ApiLambdaErrorsAlarm",
            alarm_name=f"{config.prefix}-api-lambda-errors",
            alarm_description=runbook_description(
                "api-lambda-errors", "The api function (live alias) raised errors."
            ),
            metric=self.alias.metric_errors(period=Duration.minutes(1), statistic="Sum"),
            threshold=0,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.rollback_alarms: tuple[cloudwatch.Alarm, ...] = (self.api_5xx_rate_alarm, self.api_errors_alarm)
        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "ApiDeployment",
            deployment_group_name=f"{config.prefix}-api",
            alias=self.alias,
            deployment_config=(
                codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES
                if config.canary
                else codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE
            ),
            alarms=list(self.rollback_alarms),
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
        )
        restrict_trust_to_account(self.deployment_group.role, only_if_sent=True)
        nag.acknowledge(
            self.deployment_group,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSCodeDeployRoleForLambdaLimited]",
            "CodeDeploy's own minimal service policy for shifting Lambda alias traffic.",
        )
