"""Security properties of the stack and of what it stores, checked offline on the transformed template
and on the source: least-privilege IAM, no write that can trigger a function, and no pickle."""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import policies as pol
import pytest

from docclass_local.template import policy_statements, transformed_resources

ROOT = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------------------------------------
# The template as CloudFormation deploys it (after the SAM transform), read offline
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    """The CloudFormation resources the SAM transform makes of template.yaml."""
    return transformed_resources()


# Sample values for the pseudo parameters in Fn::Sub strings (their "::" would split an ARN wrongly).
PSEUDO_PARAMETERS = {
    "${AWS::Partition}": "aws",
    "${AWS::Region}": "us-east-1",
    "${AWS::AccountId}": "123456789012",
    "${AWS::StackName}": "docclass",
    "${AWS::URLSuffix}": "amazonaws.com",
}


def _text(value: Any) -> str:
    """A policy element as text: a string itself, a Fn::Sub its template string with the pseudo
    parameters filled in, anything else (Fn::Join, Fn::If...) as JSON, which names no ARN."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = str(pol.as_list(value["Fn::Sub"])[0])
    if isinstance(value, str):
        for parameter, sample in PSEUDO_PARAMETERS.items():
            value = value.replace(parameter, sample)
        return value
    return json.dumps(value, sort_keys=True)


def _function_statements(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """The Allow statements of a function's role (inline, and every policy attached to the role)."""
    role = pol.function_roles(resources)[function]
    return [s for _, owner, s in pol.identity_policies(resources) if owner == role and s["Effect"] == "Allow"]


# ------------------------------------------------------------------------------------------------
# No recursion: nothing the functions write can trigger a function
# ------------------------------------------------------------------------------------------------

# IAM actions by which a function could change an object (or the bucket) and the S3 event names each
# one makes S3 publish (a notification's Event is a pattern over these names).
S3_EVENTS_BY_ACTION = {
    # PutObject also authorises CopyObject's destination and the parts of a multipart upload
    "s3:PutObject": [
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
    ],
    "s3:DeleteObject": ["s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated"],
    "s3:DeleteObjectVersion": ["s3:ObjectRemoved:Delete"],
    "s3:RestoreObject": ["s3:ObjectRestore:Post", "s3:ObjectRestore:Completed", "s3:ObjectRestore:Delete"],
    "s3:PutObjectTagging": ["s3:ObjectTagging:Put"],
    "s3:PutObjectVersionTagging": ["s3:ObjectTagging:Put"],
    "s3:DeleteObjectTagging": ["s3:ObjectTagging:Delete"],
    "s3:DeleteObjectVersionTagging": ["s3:ObjectTagging:Delete"],
    "s3:PutObjectAcl": ["s3:ObjectAcl:Put"],
    "s3:PutObjectVersionAcl": ["s3:ObjectAcl:Put"],
}
# Bucket-level actions that would let a function make S3 publish events for any key.
S3_BUCKET_ACTIONS_ANY_EVENT = ["s3:PutBucketNotification", "s3:PutLifecycleConfiguration"]


@dataclass(frozen=True)
class Notification:
    bucket: str  # the bucket's name as the template writes it (pseudo parameters filled in)
    event: str  # an S3 event name pattern, e.g. s3:ObjectCreated:*
    prefix: str
    destination: str  # logical id of the queue (or topic, or function)


@dataclass(frozen=True)
class Grant:
    function: str
    action: str
    bucket: str  # "*" for any bucket
    key: str  # IAM key pattern: "gallery/*", an exact key, or "*" for the whole bucket


def _bucket_names(resources: dict[str, Any]) -> dict[str, str]:
    """Logical id -> the bucket's name as text (its BucketName, or its logical id when CFN names it)."""
    return {
        name: _text(bucket["BucketName"]) if "BucketName" in bucket else name
        for name, bucket in pol.of_type(resources, "AWS::S3::Bucket").items()
    }


DESTINATIONS = [
    ("QueueConfigurations", "Queue"),
    ("TopicConfigurations", "Topic"),
    ("LambdaConfigurations", "Function"),
]


def _notifications(resources: dict[str, Any]) -> list[Notification]:
    notifications = []
    names = _bucket_names(resources)
    for name, bucket in pol.of_type(resources, "AWS::S3::Bucket").items():
        config = bucket.get("NotificationConfiguration", {})
        # EventBridge gets every event of the bucket, with no prefix filter this test could compare
        assert "EventBridgeConfiguration" not in config, f"{name} sends all its events to EventBridge"
        for kind, key in DESTINATIONS:
            for item in config.get(kind, []):
                rules = item.get("Filter", {}).get("S3Key", {}).get("Rules", [])
                prefix = next((r["Value"] for r in rules if r["Name"].lower() == "prefix"), "")
                destination = pol.target(item[key]) or _text(item[key])
                notifications.append(Notification(names[name], item["Event"], prefix, destination))
    return notifications


def _s3_location(resource: Any, names: dict[str, str]) -> tuple[str, str | None] | None:
    """(bucket name, key pattern, or None for the bucket itself) of a policy resource; None when the
    resource is not in S3 (a queue, a log group, a model...)."""
    text = _text(resource).strip()
    if text == "*":
        return "*", "*"
    if (target := pol.target(resource)) is not None:  # !GetAtt X.Arn or !Ref X
        return (names[target], None) if target in names else None
    for logical_id, name in names.items():  # !Sub ${Bucket.Arn}/... or ${Bucket}
        text = text.replace("${" + logical_id + ".Arn}", "arn:aws:s3:::" + name)
        text = text.replace("${" + logical_id + "}", name)
    arn = text.split(":", 5)
    if len(arn) == 6 and arn[0] == "arn" and arn[2] != "s3" and not pol.has_wildcard(arn[2]):
        return None
    match = re.fullmatch(r"arn:aws[a-z-]*:s3:::([^/]+)(?:/(.*))?", text, re.DOTALL)
    assert match, f"cannot tell which S3 location {resource!r} names"
    return match[1], match[2]


def _s3_grants(resources: dict[str, Any]) -> list[Grant]:
    """Every event-making S3 action each function's role allows, with where it applies."""
    names = _bucket_names(resources)
    grants = []
    for function in pol.function_roles(resources):
        for statement in _function_statements(resources, function):
            # NotAction allows everything it does not list: assume the worst
            patterns = ["*"] if "NotAction" in statement else pol.actions(statement)
            object_actions = [a for a in S3_EVENTS_BY_ACTION if pol.grants(patterns, a)]
            bucket_actions = [a for a in S3_BUCKET_ACTIONS_ANY_EVENT if pol.grants(patterns, a)]
            if not object_actions and not bucket_actions:
                continue
            for resource in pol.as_list(statement.get("Resource", "*")):
                if (location := _s3_location(resource, names)) is None:
                    continue
                bucket, key = location
                if key is not None:  # object actions apply to object ARNs (bucket/key) only
                    grants += [Grant(function, action, bucket, key) for action in object_actions]
                grants += [Grant(function, action, bucket, "*") for action in bucket_actions]
    return grants


def _may_overlap(key_pattern: str, prefix: str) -> bool:
    """Whether some key that an IAM key pattern matches can start with the prefix."""
    fixed = re.split(r"[*?]", key_pattern, maxsplit=1)[0]  # the literal part before any wildcard
    if not pol.has_wildcard(key_pattern):
        return key_pattern.startswith(prefix)
    return fixed.startswith(prefix) or prefix.startswith(fixed)


def _same_bucket(granted: str, notified: str) -> bool:
    return granted == notified or pol.has_wildcard(granted)


def _consumers(resources: dict[str, Any]) -> dict[str, str]:
    """Queue (or other event source) logical id -> the function its event source mapping invokes."""
    return {
        pol.target(m["EventSourceArn"]) or _text(m["EventSourceArn"]): pol.target(m["FunctionName"]) or "?"
        for m in pol.of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    }


def test_bucket_notifications_watch_only_gallery_and_inbox(resources: dict[str, Any]) -> None:
    # Given every notification of every bucket in the stack
    notifications = _notifications(resources)

    # Then they watch gallery/ (created and removed) and inbox/ (created only), and each feeds a
    # queue that a function consumes
    assert {(n.prefix, n.event) for n in notifications} == {
        ("gallery/", "s3:ObjectCreated:*"),
        ("gallery/", "s3:ObjectRemoved:*"),
        ("inbox/", "s3:ObjectCreated:*"),
    }
    consumers = _consumers(resources)
    assert {consumers.get(n.destination) for n in notifications} == {"GalleryFunction", "ClassifyFunction"}


def test_nothing_a_function_writes_can_trigger_a_function(resources: dict[str, Any]) -> None:
    # Given each function's rights to change objects, and each bucket notification
    grants = _s3_grants(resources)
    notifications = _notifications(resources)
    consumers = _consumers(resources)
    assert grants and notifications

    # When pairing a right with a notification on the same bucket whose event it can cause, on keys
    # that can start with the watched prefix
    loops = [
        f"{g.function} may {g.action} on {g.key!r}, which S3 announces as {n.event} under {n.prefix!r} "
        f"to {n.destination} -> {consumers.get(n.destination, n.destination)}"
        for g in grants
        for n in notifications
        if _same_bucket(g.bucket, n.bucket)
        and _may_overlap(g.key, n.prefix)
        and (
            g.action in S3_BUCKET_ACTIONS_ANY_EVENT
            or any(fnmatch.fnmatchcase(event, n.event) for event in S3_EVENTS_BY_ACTION[g.action])
        )
    ]

    # Then there is none
    assert loops == [], "\n".join(loops)


def test_no_function_may_write_under_a_watched_prefix(resources: dict[str, Any]) -> None:
    # Given where each function may create objects (PutObject also covers CopyObject's destination and
    # multipart uploads), and the prefixes the notifications watch
    writes = {(g.function, g.key) for g in _s3_grants(resources) if g.action == "s3:PutObject"}
    watched = {n.prefix for n in _notifications(resources)}
    assert writes and watched == {"gallery/", "inbox/"}

    # Then no write prefix starts with a watched prefix, nor is a prefix of one
    assert {(f, key, prefix) for f, key in writes for prefix in watched if _may_overlap(key, prefix)} == set()


def test_classify_may_delete_from_inbox_because_inbox_is_watched_for_creation_only(
    resources: dict[str, Any],
) -> None:
    # Given ClassifyFunction's right to delete a document from inbox/ once it has moved it
    deletes = {
        g.key
        for g in _s3_grants(resources)
        if g.function == "ClassifyFunction" and g.action == "s3:DeleteObject"
    }
    assert "inbox/*" in deletes

    # Then the inbox/ notifications listen to object creation only, never to removals
    inbox_events = {n.event for n in _notifications(resources) if _may_overlap("inbox/*", n.prefix)}
    assert inbox_events == {"s3:ObjectCreated:*"}
    # And no function may delete anything under gallery/, which is watched for removals
    assert not [
        g
        for g in _s3_grants(resources)
        if g.action.startswith("s3:Delete") and _may_overlap(g.key, "gallery/")
    ]


def test_functions_are_invoked_only_by_their_queues_and_cannot_feed_them(resources: dict[str, Any]) -> None:
    # Given the stack's functions
    functions = set(pol.function_roles(resources))

    # Then nothing may invoke them directly (no permission for S3, SNS, EventBridge..., no log
    # subscription, no pipe)
    assert (
        pol.of_type(resources, "AWS::Lambda::Permission", "AWS::Logs::SubscriptionFilter", "AWS::Pipes::Pipe")
        == {}
    )
    # And each is invoked only by an event source mapping on a queue that S3 notifications feed
    notified = {n.destination for n in _notifications(resources)}
    consumers = _consumers(resources)
    assert set(consumers.values()) == functions
    assert set(consumers) <= notified
    # And no function may send to a queue, publish to a topic or invoke a function itself
    for function in functions:
        for statement in _function_statements(resources, function):
            for action in ("sqs:SendMessage", "sns:Publish", "lambda:InvokeFunction", "events:PutEvents"):
                assert not pol.grants(pol.actions(statement), action), (function, action, statement)
    # And the queues accept messages from the S3 service alone
    for name, policy in pol.of_type(resources, "AWS::SQS::QueuePolicy").items():
        for statement in policy_statements(policy["PolicyDocument"]):
            if statement["Effect"] == "Allow":
                assert statement["Principal"] == {"Service": "s3.amazonaws.com"}, (name, statement)


# ------------------------------------------------------------------------------------------------
# No pickle: nothing the code stores or loads goes through pickle
# ------------------------------------------------------------------------------------------------

SOURCE_GLOBS = ["layers/docclass/docclass/**/*.py", "local/docclass_local/**/*.py", "functions/**/*.py"]
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve"}
PICKLE_METHODS = {"read_pickle", "to_pickle"}  # pandas


def _allows_pickle(keyword: ast.keyword) -> bool:
    """An allow_pickle argument that is anything but the constant False."""
    return not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False)


class PickleFinder(ast.NodeVisitor):
    """Finds pickle in Python source, by its syntax tree (comments and strings cannot trip it)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # local name -> the dotted name it was imported as
        self.findings: list[tuple[int, str]] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in PICKLE_MODULES:
                self.findings.append((node.lineno, f"import {alias.name}"))
            if alias.asname:
                self.names[alias.asname] = alias.name
            else:
                self.names[alias.name.split(".")[0]] = alias.name.split(".")[0]
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            if module.split(".")[0] in PICKLE_MODULES or alias.name in PICKLE_MODULES:
                self.findings.append((node.lineno, f"from {module} import {alias.name}"))
            self.names[alias.asname or alias.name] = (
                f"{module}.{alias.name}" if node.level == 0 else alias.name
            )
        self.generic_visit(node)

    def _dotted(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.names.get(node.id, node.id)
        if isinstance(node, ast.Attribute) and (base := self._dotted(node.value)):
            return f"{base}.{node.attr}"
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = self._dotted(node)
        if dotted and dotted.split(".")[0] in PICKLE_MODULES:
            self.findings.append((node.lineno, f"uses {dotted}"))
        elif node.attr in PICKLE_METHODS:
            self.findings.append((node.lineno, f"calls .{node.attr}()"))
        else:
            self.generic_visit(node)  # an inner attribute would report the same use again

    def visit_Call(self, node: ast.Call) -> None:
        dotted = self._dotted(node.func) or ""
        keywords = {k.arg: k for k in node.keywords}
        if "allow_pickle" in keywords and _allows_pickle(keywords["allow_pickle"]):
            self.findings.append((node.lineno, f"{dotted or 'a call'} with allow_pickle other than False"))
        if dotted in ("numpy.load", "numpy.save") and None in keywords:
            self.findings.append((node.lineno, f"{dotted}(**...): cannot tell whether it allows pickle"))
        if dotted == "numpy.save" and "allow_pickle" not in keywords:
            self.findings.append((node.lineno, "numpy.save without allow_pickle=False (its default is True)"))
        if dotted in ("numpy.savez", "numpy.savez_compressed"):
            self.findings.append((node.lineno, f"{dotted} pickles object arrays and cannot be told not to"))
        if dotted in ("torch.load", "torch.save"):
            self.findings.append((node.lineno, f"{dotted} (pickle underneath)"))
        if dotted in ("importlib.import_module", "__import__") and node.args:
            name = node.args[0]
            if isinstance(name, ast.Constant) and str(name.value).split(".")[0] in PICKLE_MODULES:
                self.findings.append((node.lineno, f"imports {name.value} dynamically"))
        self.generic_visit(node)


def pickle_findings(source: str) -> list[tuple[int, str]]:
    finder = PickleFinder()
    finder.visit(ast.parse(source))
    return sorted(set(finder.findings))


def test_no_source_stores_or_loads_anything_with_pickle() -> None:
    # Given the library (the layer), the functions and the local tools
    files = sorted({path for pattern in SOURCE_GLOBS for path in ROOT.glob(pattern)})
    assert len(files) > 10, files

    # When reading each one's syntax tree
    findings = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in files
        for line, what in pickle_findings(path.read_text(encoding="utf-8"))
    ]

    # Then nothing imports a pickle module, loads or saves with pickle allowed, or uses torch.load
    assert findings == [], "\n".join(findings)


@pytest.mark.parametrize(
    "source",
    [
        "import pickle",
        "import cPickle as p",
        "import _pickle",
        "from joblib import dump",
        "import dill.settings",
        "from six.moves import cPickle",
        "import numpy as np\nnp.load(f, allow_pickle=True)",
        "from numpy import load as read\nread(f, allow_pickle=flag)",
        "import numpy\nnumpy.load(f, **options)",
        "import numpy\nnumpy.save(f, a)",
        "import numpy as np\nnp.save(f, a, allow_pickle=True)",
        "import numpy as np\nnp.savez_compressed(f, a=a)",
        "import numpy as np\nnp.lib.format.read_array(f, allow_pickle=1)",
        "import torch\nmodel = torch.load(f)",
        "import importlib\nimportlib.import_module('pickle')",
        "frame.to_pickle(path)",
        "def f(pickle):\n    return pickle.loads(b'')",
    ],
)
def test_pickle_finder_finds_pickle(source: str) -> None:
    # Given source that stores or loads with pickle, when the finder reads it, then it says so
    assert pickle_findings(source)


@pytest.mark.parametrize(
    "source",
    [
        "# import pickle\nx = 1",
        "'''Stored as raw float32, never pickle.'''",
        "text = 'pickle.loads(data) and allow_pickle=True'",
        "import numpy as np\nnp.load(f)",
        "import numpy as np\nnp.load(f, allow_pickle=False)",
        "import numpy as np\nnp.save(f, a, allow_pickle=False)",
        "import json\njson.loads(s)",
        "import faiss\nfaiss.read_index(path)",
    ],
)
def test_pickle_finder_ignores_comments_strings_and_safe_calls(source: str) -> None:
    # Given source that mentions pickle only in comments or strings, or loads without pickle
    # When the finder reads it, then it finds nothing
    assert pickle_findings(source) == []
