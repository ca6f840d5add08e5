"""A small IAM policy evaluator: may this principal do this action on this resource, in this request?

It follows AWS's documented logic for one policy document: an explicit Deny that matches wins;
otherwise an Allow that matches principal, action, resource and every condition allows; otherwise
the request is implicitly denied. Conditions use the request context the caller supplies, so a
test states exactly which keys a service sends (CloudWatch sends `aws:SourceArn`; EventBridge sends
none on the SNS path) and a condition on a key that is absent fails, as it does on AWS.

Why not a library: policyuniverse parses and expands but does not evaluate conditions; policy_sentry
writes policies; parliament lints; iam-policy-validator calls an AWS web service; moto's evaluator
knows only StringEquals, turns an unmet Allow condition into a Deny and ignores service principals.
Unsupported policy grammar (NotPrincipal, ForAnyValue:..., unknown operators) raises instead of
guessing, so an answer is never quietly wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ContextValue = str | bool | Sequence[str]


class UnsupportedPolicyError(ValueError):
    """Policy grammar this evaluator does not implement."""


class Effect(StrEnum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicitly denied"
    IMPLICIT_DENY = "implicitly denied"


@dataclass(frozen=True)
class Principal:
    """Who asks: a service (`cloudwatch.amazonaws.com`) or an IAM ARN (role, user, account root)."""

    kind: str  # "Service" or "AWS"
    value: str

    @classmethod
    def service(cls, name: str) -> Principal:
        return cls("Service", name)

    @classmethod
    def aws(cls, arn: str) -> Principal:
        return cls("AWS", arn)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Request:
    """One API call as the policy sees it."""

    principal: Principal
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    effect: Effect
    statement: str | None = None  # the Sid (or index) of the statement that decided

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOWED


def evaluate(document: Mapping[str, Any], request: Request) -> Decision:
    """The decision of one resolved policy document (no intrinsics left) for `request`."""
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    allow: str | None = None
    for index, statement in enumerate(statements):
        if not _applies(statement, request):
            continue
        label = str(statement.get("Sid", index))
        if statement.get("Effect") == "Deny":
            return Decision(Effect.EXPLICIT_DENY, label)
        if statement.get("Effect") == "Allow" and allow is None:
            allow = label
    return Decision(Effect.ALLOWED, allow) if allow is not None else Decision(Effect.IMPLICIT_DENY)


# --- matching -------------------------------------------------------------------------------------


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "NotPrincipal" in statement:
        raise UnsupportedPolicyError("NotPrincipal is not supported")
    if "Principal" in statement and not _principal_matches(statement["Principal"], request.principal):
        return False
    if not _element_matches(statement, "Action", request.action, ignore_case=True):
        return False
    if not _element_matches(statement, "Resource", request.resource, ignore_case=False):
        return False
    return _conditions_hold(statement.get("Condition", {}), request.context)


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _principal_matches(element: Any, principal: Principal) -> bool:
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        raise UnsupportedPolicyError(f"principal {element!r}")
    for kind, values in element.items():
        if kind != principal.kind:
            continue
        for value in _listed(values):
            if value in {"*", principal.value}:
                return True
            # An account (root ARN or bare id) in a resource policy stands for every principal of
            # that account whose own IAM policies allow the call (the caller checks those).
            account = _account_of(principal.value)
            if kind == "AWS" and account and (value == account or _is_root_of(value, account)):
                return True
    return False


def _account_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[2] in {"iam", "sts"} else None


def _is_root_of(value: str, account: str) -> bool:
    parts = value.split(":")
    return len(parts) == 6 and parts[2] == "iam" and parts[4] == account and parts[5] == "root"


def _wildcard(pattern: str, value: str, *, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    # IAM wildcards: `*` any run of characters, `?` one character; nothing else is special.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _element_matches(statement: Mapping[str, Any], name: str, value: str, *, ignore_case: bool) -> bool:
    if name in statement:
        return any(_wildcard(p, value, ignore_case=ignore_case) for p in _listed(statement[name]))
    negated = f"Not{name}"
    if negated in statement:
        return not any(_wildcard(p, value, ignore_case=ignore_case) for p in _listed(statement[negated]))
    # A resource policy may omit Resource only for trust policies; treat absence as "any".
    return name == "Resource"


# --- conditions -----------------------------------------------------------------------------------

_STRING_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": lambda want, got: _wildcard(want, got, ignore_case=False),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": lambda want, got: _wildcard(want, got, ignore_case=False),
    "Bool": lambda want, got: want.lower() == got.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _context_values(context: Mapping[str, ContextValue], key: str) -> list[str] | None:
    # Condition keys are case-insensitive.
    for name, value in context.items():
        if name.lower() == key.lower():
            if isinstance(value, bool):
                return ["true" if value else "false"]
            return [value] if isinstance(value, str) else [str(v) for v in value]
    return None


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, ContextValue]) -> bool:
    return all(
        _condition_holds(operator, key, _listed(wanted), context)
        for operator, block in conditions.items()
        for key, wanted in block.items()
    )


def _condition_holds(
    operator: str, key: str, wanted: Iterable[str], context: Mapping[str, ContextValue]
) -> bool:
    if ":" in operator:
        raise UnsupportedPolicyError(f"set operator {operator} is not supported")
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    got = _context_values(context, key)
    if base == "Null":
        # Null: "true" means the key must be absent, "false" that it must be present.
        return any((got is None) == (w.lower() == "true") for w in wanted)
    if got is None:
        # An absent key never matches; negated operators are true for it, IfExists makes any true.
        return if_exists or base in _NEGATED
    if base in _NEGATED:
        match = _STRING_OPERATORS[_NEGATED[base]]
        return not any(match(w, g) for w in wanted for g in got)
    if base not in _STRING_OPERATORS:
        raise UnsupportedPolicyError(f"condition operator {operator} is not supported")
    match = _STRING_OPERATORS[base]
    return any(match(w, g) for w in wanted for g in got)
