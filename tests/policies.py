"""Reading IAM policies out of the transformed template, for the IAM and security tests."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

from docclass_local.template import policy_statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def of_type(resources: dict[str, Any], *kinds: str) -> dict[str, dict[str, Any]]:
    return {name: r.get("Properties", {}) for name, r in resources.items() if r["Type"] in kinds}


def target(reference: Any) -> str | None:
    """The logical id a Ref or Fn::GetAtt points at (None for anything else)."""
    if not isinstance(reference, dict):
        return None
    if isinstance(reference.get("Ref"), str):
        return reference["Ref"]
    if "Fn::GetAtt" in reference:
        attribute = reference["Fn::GetAtt"]
        return attribute[0] if isinstance(attribute, list) else attribute.split(".")[0]
    return None


def actions(statement: dict[str, Any]) -> list[str]:
    return [str(action) for action in as_list(statement.get("Action", []))]


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def grants(patterns: list[str], action: str) -> bool:
    """Whether IAM action patterns (case-insensitive, with * and ?) cover an action."""
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns)


def identity_policies(resources: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(owner, role it applies to or "", statement) for every identity policy statement in the stack:
    roles' inline policies, AWS::IAM::Policy and AWS::IAM::ManagedPolicy resources."""
    for name, role in of_type(resources, "AWS::IAM::Role").items():
        for policy in role.get("Policies", []):
            yield from ((name, name, s) for s in policy_statements(policy["PolicyDocument"]))
    for name, policy in of_type(resources, "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").items():
        roles = [target(role) or "" for role in policy.get("Roles", [])] or [""]
        for role in roles:
            yield from ((name, role, s) for s in policy_statements(policy["PolicyDocument"]))


def resource_policies(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(owner, statement) for every resource-based policy in the stack."""
    kinds = ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy")
    for name, policy in of_type(resources, *kinds).items():
        yield from ((name, s) for s in policy_statements(policy["PolicyDocument"]))


def function_roles(resources: dict[str, Any]) -> dict[str, str]:
    """Each Lambda function and the logical id of its role."""
    roles = {}
    for name, function in of_type(resources, "AWS::Lambda::Function").items():
        role = target(function["Role"])
        assert role in resources, f"{name}: its role is not in the template, its rights cannot be read"
        roles[name] = role
    return roles
