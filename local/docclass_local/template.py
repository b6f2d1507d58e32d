"""The one reader of template.yaml, for the local stack and for the tests.

Three views of the same file:
- `load_template`: the template as written, plain data with intrinsics in long form.
- `transformed_resources`: the CloudFormation resources the SAM transform makes of it (offline),
  which is what IAM, checkov and CloudFormation see; the tests check roles and buckets there.
- `read_local_template`: what the local stack builds (queues, notifications, functions,
  environment), so batch sizes, prefixes and retry counts can never drift from what `sam deploy`
  creates. Intrinsic functions are resolved against parameter defaults (or overrides) and the
  local names of resources.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns short-form intrinsics (!Ref, !Sub, ...) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """The template as plain data, intrinsics in long form."""
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


class _OfflineManagedPolicies:
    """Stands in for samtranslator's ManagedPolicyLoader, which would ask IAM for these ARNs."""

    def load(self) -> dict[str, str]:
        aws = "arn:aws:iam::aws:policy/"
        return {
            "AWSXrayWriteOnlyAccess": aws + "AWSXrayWriteOnlyAccess",
            "AWSLambdaBasicExecutionRole": aws + "service-role/AWSLambdaBasicExecutionRole",
            "AWSLambdaSQSQueueExecutionRole": aws + "service-role/AWSLambdaSQSQueueExecutionRole",
        }


def transformed_resources(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The CloudFormation resources the SAM transform makes of the template (default: template.yaml).

    Runs samtranslator offline: code URIs stand for what `sam package` uploads, managed policy ARNs
    come from a fixed table and the region is us-east-1.
    """
    from samtranslator.translator.transform import transform  # a dev tool: only the tests need it

    template = json.loads(json.dumps(template or load_template()))
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if uri in properties:
                properties[uri] = "s3://artifacts/code.zip"
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"  # the translator fills in pseudo parameters
    try:
        resources: dict[str, Any] = transform(template, {}, _OfflineManagedPolicies())["Resources"]
        return resources
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved


def policy_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of an IAM policy document, those behind a condition (Fn::If) included,
    whichever way it goes."""
    raw = document.get("Statement", [])
    statements = []
    for statement in raw if isinstance(raw, list) else [raw]:
        if isinstance(statement, dict) and "Fn::If" in statement:
            _, *branches = statement["Fn::If"]
            statements += [b for b in branches if b != {"Ref": "AWS::NoValue"}]
        else:
            statements.append(statement)
    return statements


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue of the template, with its dead-letter queue if it has one."""

    logical_id: str
    attributes: dict[str, str]
    dead_letter: str | None = None
    max_receive_count: int | None = None


@dataclass(frozen=True)
class NotificationSpec:
    """An S3 -> SQS notification: events, key prefix and target queue."""

    event: str
    prefix: str
    queue: str


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function fed by one SQS queue."""

    logical_id: str
    code_uri: Path
    handler: str
    queue: str
    batch_size: int
    batching_window: float
    max_concurrency: int
    timeout: int
    memory: int


@dataclass
class LocalTemplate:
    """Everything the local stack builds, resolved from the template."""

    queues: dict[str, QueueSpec] = field(default_factory=dict)
    notifications: list[NotificationSpec] = field(default_factory=list)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    versioning: str | None = None  # the document bucket's VersioningConfiguration Status, if any


class _Resolver:
    def __init__(self, parameters: dict[str, str], names: dict[str, str], pseudo: dict[str, str]) -> None:
        self.parameters = parameters
        self.names = names
        self.pseudo = pseudo

    def ref(self, name: str) -> str:
        for table in (self.parameters, self.pseudo, self.names):
            if name in table:
                return table[name]
        raise KeyError(f"cannot resolve !Ref {name}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                resource, attribute = arg
                return f"{resource}.{attribute}"  # the stack maps these to local ARNs/URLs
            if key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                return re.sub(
                    r"\$\{([^}]+)\}",
                    lambda m: self.ref(m.group(1)) if "." not in m.group(1) else m.group(1),
                    text,
                )
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


def check_parameters(declared: dict[str, Any], overrides: dict[str, str]) -> None:
    """Refuse an override as CloudFormation would: an unknown name, or a value the parameter forbids.

    Checks the constraints template.yaml uses: AllowedValues, AllowedPattern (the whole value),
    MinValue/MaxValue of a Number, MinLength/MaxLength of a String
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html).
    """
    for name, value in overrides.items():
        spec = declared.get(name)
        if spec is None:
            raise ValueError(
                f"unknown template parameter {name!r}; template.yaml declares: {', '.join(sorted(declared))}"
            )
        allowed = [str(v) for v in spec.get("AllowedValues", [])]
        if allowed and value not in allowed:
            raise ValueError(f"{name}={value!r} is not allowed; allowed values: {', '.join(allowed)}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and re.fullmatch(pattern, value) is None:
            hint = spec.get("ConstraintDescription", f"it must match {pattern}")
            raise ValueError(f"{name}={value!r} is not allowed: {hint}")
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} is not a number") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise ValueError(f"{name}={value} is below its MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise ValueError(f"{name}={value} is above its MaxValue {spec['MaxValue']}")
        if "MinLength" in spec and len(value) < int(spec["MinLength"]):
            raise ValueError(f"{name} must be at least {spec['MinLength']} characters")
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            raise ValueError(f"{name} must be at most {spec['MaxLength']} characters")


def parse_overrides(items: list[str]) -> dict[str, str]:
    """Name=Value pairs, as `sam deploy --parameter-overrides` takes them."""
    overrides = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{item!r} is not Name=Value")
        overrides[name] = value
    return overrides


def read_local_template(
    path: Path = DEFAULT_TEMPLATE,
    *,
    bucket: str,
    overrides: dict[str, str] | None = None,
    account: str = "123456789012",
    region: str = "us-east-1",
) -> LocalTemplate:
    """Queues, notifications, functions and the functions' environment, as the template declares them.

    The bucket name replaces whatever the template builds with !Sub, since the local stack
    chooses it; parameter overrides replace parameter defaults.
    """
    doc = load_template(path)
    check_parameters(doc.get("Parameters", {}), dict(overrides or {}))
    parameters = {name: str(spec.get("Default", "")) for name, spec in doc.get("Parameters", {}).items()}
    parameters.update(overrides or {})
    resources: dict[str, Any] = doc["Resources"]
    pseudo = {
        "AWS::AccountId": account,
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::StackName": "docclass-local",
        "AWS::URLSuffix": "amazonaws.com",
    }
    resolver = _Resolver(parameters, {name: name for name in resources}, pseudo)
    out = LocalTemplate(parameters=parameters)

    for name, res in resources.items():
        if res["Type"] == "AWS::SQS::Queue":
            props = resolver.resolve(res.get("Properties", {}))
            redrive = props.pop("RedrivePolicy", None)
            attributes = {
                k: str(v)
                for k, v in props.items()
                if k
                in {
                    "VisibilityTimeout",
                    "MessageRetentionPeriod",
                    "DelaySeconds",
                    "ReceiveMessageWaitTimeSeconds",
                    "MaximumMessageSize",
                }
            }
            out.queues[name] = QueueSpec(
                name,
                attributes,
                dead_letter=redrive["deadLetterTargetArn"].split(".")[0] if redrive else None,
                max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
            )

    for res in resources.values():
        if res["Type"] != "AWS::S3::Bucket":
            continue
        props = resolver.resolve(res.get("Properties", {}))
        config = props.get("NotificationConfiguration", {})
        if config:  # the document bucket: the one whose changes reach the functions
            out.versioning = props.get("VersioningConfiguration", {}).get("Status")
        for item in config.get("QueueConfigurations", []):
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules", [])
            prefix = next((r["Value"] for r in rules if r["Name"].lower() == "prefix"), "")
            out.notifications.append(NotificationSpec(item["Event"], prefix, item["Queue"].split(".")[0]))

    globals_fn = resolver.resolve(doc.get("Globals", {}).get("Function", {}))
    env = {k: str(v) for k, v in globals_fn.get("Environment", {}).get("Variables", {}).items()}
    env["BUCKET_NAME"] = bucket
    out.environment = env

    root = path.resolve().parent
    for name, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = resolver.resolve(res["Properties"])
        for event in props.get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            ev = event["Properties"]
            out.functions[name] = FunctionSpec(
                logical_id=name,
                code_uri=root / props["CodeUri"],
                handler=props["Handler"],
                queue=ev["Queue"].split(".")[0],
                batch_size=int(ev.get("BatchSize", 10)),
                batching_window=float(ev.get("MaximumBatchingWindowInSeconds", 0)),
                max_concurrency=int(ev.get("ScalingConfig", {}).get("MaximumConcurrency", 1)),
                timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
                memory=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
            )
    return out
