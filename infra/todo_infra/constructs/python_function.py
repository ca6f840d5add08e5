"""A Python Lambda function built from staged folders (no Docker): code asset, layer, log group."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from todo_infra import nag
from todo_infra.constructs.stage_defaults import stage_log_group
from todo_infra.constructs.trust import restrict_trust_to_account
from todo_infra.observability import METRICS_NAMESPACE, service_name
from todo_infra.packaging import LAMBDA_PYTHON_VERSION, BuiltBundle
from todo_infra.stage_config import StageConfig

RUNTIME = {"3.12": lambda_.Runtime.PYTHON_3_12, "3.13": lambda_.Runtime.PYTHON_3_13}[LAMBDA_PYTHON_VERSION]
ARCHITECTURE = lambda_.Architecture.ARM_64
_RUNTIME_REASON = (
    f"Python {LAMBDA_PYTHON_VERSION} on purpose: the dependency layer is installed for exactly this "
    "version (pip --python-version), and SPEC 7 fixes Lambda at 3.12/3.13 to match the tested code."
)


class PythonFunction(Construct):
    """Function `<prefix>-<family>` + dependency layer + log group with retention, tracing on,
    arm64, and the project's Powertools environment (service `<prefix>-<family>`, the stage, INFO
    logs and, for a function that publishes metrics, the namespace)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        built: BuiltBundle,
        family: str,
        description: str,
        memory_mb: int,
        timeout: Duration,
        environment: Mapping[str, str],
        handler: str | None = None,
        publishes_metrics: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        function_name = f"{config.prefix}-{family}"
        powertools = {
            "STAGE": config.name,
            "POWERTOOLS_SERVICE_NAME": service_name(config, family),
            "POWERTOOLS_LOG_LEVEL": "INFO",
            **({"POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE} if publishes_metrics else {}),
        }
        if clash := sorted(environment.keys() & powertools.keys()):
            names = ", ".join(clash)
            raise ValueError(f"{function_name}: {names} are set for every function; do not pass them")
        self.log_group = stage_log_group(self, "Logs", config=config, name=f"/aws/lambda/{function_name}")
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(built.layer_dir)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=f"Runtime dependencies of {function_name} (pip --platform, boto stripped)",
            removal_policy=config.removal_policy,
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler or built.bundle.handler,
            code=lambda_.Code.from_asset(str(built.code_dir)),
            layers=[self.layer],
            memory_size=memory_mb,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            environment={**environment, **powertools},
        )
        restrict_trust_to_account(self.function.role)
        nag.acknowledge_lambda_basics(self.function, _RUNTIME_REASON)
        nag.acknowledge(
            self.function,
            nag.wildcard("Resource::*"),
            "X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions.",
        )
