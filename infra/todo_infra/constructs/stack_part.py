"""The base of the constructs the stacks are composed of, which keeps their resources' logical ids.

CloudFormation logical ids are derived from construct paths. Had the resources of these constructs
been created under them, every one would have got a new logical id when the stacks were split into
constructs, and CloudFormation replaces a resource whose logical id changes: a new dead-letter
queue (the old one's messages lost), new keys, and for every resource with a fixed physical name
(alarms, jobs, queues, log groups, the web ACL) a failed deploy, because the old resource still
holds the name while the new one is created. So a `StackPart` is a node of the tree named for what
it is, and it creates its resources in its parent's scope (`self.home`), beside itself.
"""

from __future__ import annotations

from constructs import Construct


class StackPart(Construct):
    """A named part of a stack whose resources live in the stack's scope (`home`), not under it."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.home = scope
