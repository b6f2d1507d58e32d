"""Reading IAM policies out of the transformed template, for the IAM and security tests."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
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


# ------------------------------------------------------------------------------------------------
# The stack as one set of parameter values deploys it
# ------------------------------------------------------------------------------------------------

# Sample values of the pseudo parameters; the region is the tests' (conftest's AWS_DEFAULT_REGION).
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "docclass",
    "AWS::URLSuffix": "amazonaws.com",
}


class Deployment:
    """What the template's conditions and intrinsic functions come to with these parameter values.

    Evaluates what the template uses to decide and to name its IAM grants: Ref, Fn::Sub (both
    forms), Fn::Join, Fn::Select, Fn::Split and Fn::If; the condition functions Fn::Equals,
    Fn::Not, Fn::And, Fn::Or and Condition. Anything else (Fn::GetAtt, a Ref to a resource) is
    left as written, and a function it does not know fails the test rather than being guessed
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference.html).
    """

    def __init__(
        self, template: dict[str, Any], parameters: dict[str, str] | None = None, region: str | None = None
    ) -> None:
        declared = template.get("Parameters", {})
        unknown = set(parameters or {}) - set(declared)
        assert not unknown, f"not parameters of the template: {sorted(unknown)}"
        self.template = template
        self.pseudo = PSEUDO_PARAMETERS | ({"AWS::Region": region} if region else {})
        self.parameters = {name: str(p.get("Default", "")) for name, p in declared.items()}
        self.parameters |= dict(parameters or {})

    def condition(self, name: str) -> bool:
        """Whether a named condition of the template holds."""
        return self.holds(self.template["Conditions"][name])

    def holds(self, expression: Any) -> bool:
        """The truth of a condition function."""
        ((function, argument),) = expression.items()
        if function in ("Condition", "Fn::Condition"):  # the loader writes !Condition as Fn::Condition
            return self.condition(argument)
        if function == "Fn::Equals":
            left, right = (self.value(a) for a in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self.holds(argument[0])
        if function == "Fn::And":
            return all(self.holds(a) for a in argument)
        if function == "Fn::Or":
            return any(self.holds(a) for a in argument)
        raise AssertionError(f"condition function {function} is not understood by tests/policies.py")

    def exists(self, resource: dict[str, Any]) -> bool:
        """Whether a resource is created: it has no Condition, or its Condition holds."""
        return "Condition" not in resource or self.condition(resource["Condition"])

    def value(self, node: Any) -> Any:
        """A template fragment with every intrinsic function this class knows evaluated."""
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Ref" and (argument in self.parameters or argument in self.pseudo):
                return self._ref(argument)
            if function == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                return self._sub(text, {k: str(self.value(v)) for k, v in variables.items()})
            if function == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.value(items))
            if function == "Fn::Select":
                index, items = argument
                items = self.value(items)
                assert 0 <= int(index) < len(items), f"Fn::Select {index} of {items}: CloudFormation fails"
                return items[int(index)]
            if function == "Fn::Split":
                separator, text = argument
                return str(self.value(text)).split(separator)
            if function == "Fn::If":
                name, when_true, when_false = argument
                return self.value(when_true if self.condition(name) else when_false)
        return {key: self.value(item) for key, item in node.items()}

    def _ref(self, name: str) -> str:
        return self.parameters[name] if name in self.parameters else self.pseudo[name]

    def _sub(self, text: str, variables: dict[str, str]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return variables[name]
            if name in self.parameters or name in self.pseudo:
                return self._ref(name)
            return match.group(0)  # a resource's Ref or attribute: left as written

        return re.sub(r"\$\{([^!}][^}]*)\}", replace, text)


@dataclass(frozen=True)
class Grant:
    """One action on one resource that a role is allowed, with the statement's condition."""

    owner: str  # the policy or role that holds the statement
    sid: str
    action: str
    resource: str
    condition: str  # the statement's Condition as JSON ("{}" when none)

    def allows(self, action: str, resource: str, context: dict[str, str]) -> bool:
        """Whether this grant allows a request, as IAM matches actions, ARNs and StringEquals."""
        if not fnmatch.fnmatchcase(action.lower(), self.action.lower()):
            return False
        if not arn_matches(self.resource, resource):
            return False
        for operator, keys in json.loads(self.condition).items():
            if operator != "StringEquals":
                raise AssertionError(f"{self.owner}/{self.sid}: teach Grant.allows what {operator} does")
            for key, values in keys.items():
                if context.get(key) not in as_list(values):
                    return False  # a key absent from the request fails StringEquals
        return True


def arn_matches(pattern: str, arn: str) -> bool:
    """IAM's Resource matching: * any characters (slashes included), ? one; case-sensitive."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn, re.DOTALL) is not None


def allow_grants(resources: dict[str, Any], deployment: Deployment, role: str, prefix: str) -> set[Grant]:
    """Every Allow of a role for the actions starting with prefix ("bedrock:"), in the policies the
    deployment creates, resources and conditions evaluated."""
    found = set()
    for owner, applies_to, statement in identity_policies(resources):
        if applies_to != role or not deployment.exists(resources[owner]) or statement["Effect"] != "Allow":
            continue
        assert "NotAction" not in statement and "NotResource" not in statement, (owner, statement)
        condition = json.dumps(deployment.value(statement.get("Condition", {})), sort_keys=True)
        for action in actions(statement):
            # a wildcard that covers the prefix's actions ("*", "bed*") counts as one of them
            if not action.lower().startswith(prefix) and not grants([action], prefix + "InvokeModel"):
                continue
            for resource in as_list(deployment.value(statement["Resource"])):
                found.add(Grant(owner, statement.get("Sid", "?"), action, str(resource), condition))
    return found
