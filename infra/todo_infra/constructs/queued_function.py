"""A Python function with its own dead-letter queue: what it could not process is kept for a replay.

The cdc function (whose stream mapping dead-letters the batches it gives up on) and the insights
loader (whose asynchronous invocations and EventBridge deliveries dead-letter the events it could
not load) are both this: the queue, the function with the project's Powertools environment, and
the acknowledgement that the queue, being the dead-letter destination, has none of its own. What
sends to the queue is wired by the user (`on_failure=` of a mapping, destination or target).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from todo_infra import nag
from todo_infra.constructs.python_function import PythonFunction
from todo_infra.constructs.stack_part import StackPart
from todo_infra.packaging import BuiltBundle
from todo_infra.stage_config import StageConfig

DEAD_LETTER_RETENTION = Duration.days(14)  # SQS's longest: time to find the cause and re-drive


class QueuedFunction(StackPart):
    """Function `<prefix>-<family>` and its dead-letter queue `<prefix>-<family>-dlq`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        built: BuiltBundle,
        family: str,
        function_id: str,
        queue_id: str,
        description: str,
        memory_mb: int,
        timeout: Duration,
        environment: Mapping[str, str],
        dead_letters_of: str,
    ) -> None:
        """`family` names the function, its queue and its Powertools service; `dead_letters_of`
        says what the queue receives (for the acknowledgement that it has no DLQ itself)."""
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self.home,
            queue_id,
            queue_name=f"{config.prefix}-{family}-dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
            removal_policy=config.named_removal_policy,
        )
        nag.acknowledge(
            self.queue,
            "AwsSolutions-SQS3",
            f"This queue is itself the dead-letter destination of {dead_letters_of}.",
        )
        self.python_function = PythonFunction(
            self.home,
            function_id,
            config=config,
            built=built,
            family=family,
            description=description,
            memory_mb=memory_mb,
            timeout=timeout,
            environment=environment,
        )
        self.function = self.python_function.function
