"""The alarms and the dashboard of template.yaml watch metrics the code really emits.

The handlers run here on a few documents (moto S3, the offline embedder) through every outcome an
alarm or the dashboard reads: classified, unclassified, failed, a misconfigured model, an unusable
index, a gallery commit. Powertools prints each metric as an EMF (Embedded Metric Format) JSON line,
which is what CloudWatch turns into metrics; those lines are recorded and every custom metric the
template names (namespace, metric name, dimension names and values) must be among them. Metrics of
AWS namespaces must name the resource of this stack they are about (QueueName, FunctionName, ModelId).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import boto3
import numpy as np
import pytest
from moto import mock_aws

from conftest import BUCKET, FakeLambdaContext, draw_page, load_event, load_handler
from docclass import services
from docclass.errors import EmbeddingMisconfigured
from docclass.local_embedder import MODEL_ID as LOCAL_MODEL
from docclass_local.template import load_template, transformed_resources

NAMESPACE = "<the namespace the code is given>"
SERVICE = "<the service name the code is given>"
ANY = "<any value>"

# The AWS metrics this stack may watch, and the one dimension that names what each is about:
# (namespace, dimension) -> (metric names, the resource type or parameter the dimension must refer to).
AWS_METRICS = {
    ("AWS/SQS", "QueueName"): (
        {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"},
        "AWS::SQS::Queue",
    ),
    ("AWS/Lambda", "FunctionName"): ({"Errors", "Throttles"}, "AWS::Lambda::Function"),
    # https://docs.aws.amazon.com/bedrock/latest/userguide/monitoring-runtime-metrics.html
    ("AWS/Bedrock", "ModelId"): ({"InvocationLatency", "InvocationThrottles"}, "EmbeddingModelId"),
}


@dataclass(frozen=True)
class MetricRef:
    """One metric as emitted or as read: namespace, name and {dimension: value} (values normalised)."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, Any], ...]

    def matches(self, emitted: MetricRef) -> bool:
        """Same namespace, name and dimension names; the same values where this one names a value."""
        if (self.namespace, self.name) != (emitted.namespace, emitted.name):
            return False
        mine, theirs = dict(self.dimensions), dict(emitted.dimensions)
        return mine.keys() == theirs.keys() and all(v in (ANY, theirs[k]) for k, v in mine.items())


def _ref(namespace: str, name: str, dimensions: dict[str, Any]) -> MetricRef:
    canonical = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in dimensions.items()}
    return MetricRef(namespace, name, tuple(sorted(canonical.items())))


# ---------------------------------------------------------------------------------------------------
# What the code emits
# ---------------------------------------------------------------------------------------------------


class MisconfiguredEmbedder:
    """An embedder whose model refuses every call for a reason only configuration fixes."""

    model_id = "fake-model"
    dimension = 1024

    def embed(self, image: Any) -> np.ndarray:
        raise EmbeddingMisconfigured(
            "AccessDeniedException: no access to the model", fix="enable model access"
        )


def _sqs_event(
    template: str, keys: list[str], event_time: str = "2026-11-24T10:00:00.000Z"
) -> dict[str, Any]:
    """One SQS message per key, shaped like the events/ file, keys URL-encoded as S3 sends them."""
    record = load_event(template)["Records"][0]
    records = []
    for i, key in enumerate(keys):
        body = json.loads(record["body"])
        s3_record = body["Records"][0]
        s3_record["eventTime"] = event_time
        s3_record["s3"]["object"].update(key=quote_plus(key), sequencer=f"{i + 1:020X}")
        records.append(dict(record, messageId=f"m-{i}", body=json.dumps(body)))
    return {"Records": records}


def _emf_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            document = json.loads(line)
            if isinstance(document, dict) and "_aws" in document:
                lines.append(document)
    return lines


def _emitted(lines: list[dict[str, Any]], namespace: str, service: str) -> set[MetricRef]:
    """Every (namespace, metric, dimensions) in the EMF lines; the environment's values made symbolic."""
    found = set()
    for document in lines:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            ns = NAMESPACE if directive["Namespace"] == namespace else directive["Namespace"]
            for dimension_set in directive["Dimensions"]:
                values = {
                    d: SERVICE if (d == "service" and document[d] == service) else document[d]
                    for d in dimension_set
                }
                for metric in directive["Metrics"]:
                    found.add(_ref(ns, metric["Name"], values))
    return found


@dataclass
class Recording:
    lines: list[dict[str, Any]]
    namespace: str
    service: str

    @property
    def metrics(self) -> set[MetricRef]:
        return _emitted(self.lines, self.namespace, self.service)

    @property
    def names(self) -> set[str]:
        return {m.name for m in self.metrics}


@pytest.fixture(scope="module")
def recording() -> Iterator[Recording]:
    """The EMF lines both handlers print while they go through every outcome the alarms watch."""
    # Powertools took these from the environment when docclass.observability was imported, as in
    # Lambda (tests/conftest.py sets them first); the same values stand for the template's below.
    namespace, service = os.environ["POWERTOOLS_METRICS_NAMESPACE"], os.environ["POWERTOOLS_SERVICE_NAME"]
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "BUCKET_NAME": BUCKET,
            "EMBEDDER": "local",
            "EMBEDDING_DIMENSION": "1024",
            "NEIGHBOR_COUNT": "1",
            "MAX_DISTANCE": "",
        }.items():
            env.setenv(name, value)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        env.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        gallery, classify = load_handler("gallery"), load_handler("classify")

        def fresh_services() -> None:
            services.gallery_indexer.cache_clear()
            services.classifier.cache_clear()

        def run(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
            with contextlib.redirect_stdout(out):
                return handler.lambda_handler(event, FakeLambdaContext())

        fresh_services()
        # a gallery commit: IndexLag, IndexVectors
        for kind in ("invoice", "letter"):
            s3.put_object(Bucket=BUCKET, Key=f"gallery/{kind}/1.png", Body=draw_page(kind))
        assert run(
            gallery, _sqs_event("sqs-gallery-put.json", ["gallery/invoice/1.png", "gallery/letter/1.png"])
        ) == {"batchItemFailures": []}
        # classified (DocumentsClassified per label, NearestDistance) and failed (DocumentsFailed)
        s3.put_object(Bucket=BUCKET, Key="inbox/a.png", Body=draw_page("invoice", seed=3))
        s3.put_object(Bucket=BUCKET, Key="inbox/broken.png", Body=b"not an image")
        assert run(classify, _sqs_event("sqs-inbox-put.json", ["inbox/a.png", "inbox/broken.png"])) == {
            "batchItemFailures": []
        }
        # for review (DocumentsForReview per label): every margin is below 2
        env.setenv("REVIEW_MARGIN", "2")
        fresh_services()
        s3.put_object(Bucket=BUCKET, Key="inbox/close.png", Body=draw_page("letter", seed=4))
        assert run(classify, _sqs_event("sqs-inbox-put.json", ["inbox/close.png"])) == {
            "batchItemFailures": []
        }
        env.delenv("REVIEW_MARGIN")
        # unclassified: nothing is that close to an example
        env.setenv("MAX_DISTANCE", "0.000001")
        fresh_services()
        s3.put_object(Bucket=BUCKET, Key="inbox/far.png", Body=draw_page("form", seed=5))
        assert run(classify, _sqs_event("sqs-inbox-put.json", ["inbox/far.png"])) == {"batchItemFailures": []}
        # a model that refuses the calls (EmbeddingMisconfigured): the message goes back
        make_embedder = services.make_embedder
        env.setattr(services, "make_embedder", lambda settings: MisconfiguredEmbedder())
        fresh_services()
        s3.put_object(Bucket=BUCKET, Key="inbox/later.png", Body=draw_page("letter", seed=7))
        assert run(classify, _sqs_event("sqs-inbox-put.json", ["inbox/later.png"]))["batchItemFailures"]
        # an index nobody can read (IndexUnusable)
        env.setattr(services, "make_embedder", make_embedder)
        fresh_services()
        s3.put_object(Bucket=BUCKET, Key=f"index/{LOCAL_MODEL}/1024/CURRENT.json", Body=b"not a pointer")
        assert run(classify, _sqs_event("sqs-inbox-put.json", ["inbox/later.png"]))["batchItemFailures"]
        fresh_services()
    yield Recording(_emf_lines(out.getvalue()), namespace, service)


def test_the_handlers_went_through_every_outcome_the_alarms_watch(recording: Recording) -> None:
    # Given the recorded run, then each outcome printed its metric (else the checks below prove little)
    assert {
        "DocumentsClassified",
        "DocumentsForReview",
        "DocumentsUnclassified",
        "DocumentsFailed",
        "NearestDistance",
        "EmbeddingMisconfigured",
        "IndexUnusable",
        "IndexLag",
        "IndexVectors",
    } <= recording.names
    # and every EMF line carries the namespace and service the environment gave
    assert {d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in recording.lines} == {recording.namespace}
    assert {d["service"] for d in recording.lines} == {recording.service}


# ---------------------------------------------------------------------------------------------------
# What the template reads
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    """The CloudFormation resources `sam deploy` creates from template.yaml."""
    return transformed_resources()


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == kind}


def _reference(value: Any) -> Any:
    """A dimension value as a reference: "${X}" in a dashboard's Fn::Sub is {"Ref": X}, as in an alarm."""
    if isinstance(value, str) and (match := re.fullmatch(r"\$\{([^}.]+)(?:\.([^}]+))?\}", value)):
        name, attribute = match.groups()
        return {"Fn::GetAtt": [name, attribute]} if attribute else {"Ref": name}
    if isinstance(value, dict) and isinstance(value.get("Fn::GetAtt"), str):
        return {"Fn::GetAtt": value["Fn::GetAtt"].split(".", 1)}
    return value


@dataclass(frozen=True)
class Environment:
    """The namespace and service name template.yaml gives both functions (Globals)."""

    namespace: Any
    service: Any

    def normalise(self, namespace: str, name: str, dimensions: dict[str, Any]) -> MetricRef:
        """A metric as the template reads it, with the functions' namespace and service made symbolic."""
        values = {k: _reference(v) for k, v in dimensions.items()}
        values = {k: SERVICE if (k == "service" and v == self.service) else v for k, v in values.items()}
        return _ref(NAMESPACE if namespace == self.namespace else namespace, name, values)


@pytest.fixture(scope="module")
def environment(resources: dict[str, Any]) -> Environment:
    variables = [
        props["Environment"]["Variables"] for props in _of_type(resources, "AWS::Lambda::Function").values()
    ]
    namespaces = {json.dumps(v["POWERTOOLS_METRICS_NAMESPACE"]) for v in variables}
    services_ = {json.dumps(_reference(v["POWERTOOLS_SERVICE_NAME"])) for v in variables}
    assert len(variables) == 2 and len(namespaces) == len(services_) == 1  # both functions alike
    return Environment(json.loads(namespaces.pop()), json.loads(services_.pop()))


@dataclass(frozen=True)
class Read:
    """One metric the template reads: where (alarm or dashboard widget), and how."""

    where: str
    namespace: str
    name: str
    dimensions: dict[str, Any]
    stat: str = ""


def _alarm_reads(resources: dict[str, Any]) -> list[Read]:
    reads = []
    for name, props in _of_type(resources, "AWS::CloudWatch::Alarm").items():
        metrics = (
            [props]
            if "MetricName" in props
            else [m["MetricStat"] for m in props["Metrics"] if "MetricStat" in m]
        )
        for metric in metrics:
            spec = metric.get("Metric", metric)
            dimensions = {d["Name"]: d["Value"] for d in spec.get("Dimensions", [])}
            stat = metric.get("Statistic") or metric.get("Stat", "")
            reads.append(Read(name, spec["Namespace"], spec["MetricName"], dimensions, stat))
    return reads


def _dashboard_body(resources: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's JSON; number parameters take their defaults, other ${...} stay as written."""
    (props,) = _of_type(resources, "AWS::CloudWatch::Dashboard").values()
    text = props["DashboardBody"]["Fn::Sub"]
    numbers = {name: p["Default"] for name, p in parameters.items() if p["Type"] == "Number"}
    text = re.sub(r"\$\{(\w+)\}", lambda m: str(numbers.get(m[1], m[0])), text)
    body: dict[str, Any] = json.loads(text)
    return body


_SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}\s+MetricName=\"(\w+)\"((?:\s+\w+=\"[^\"]*\")*)'")


def _dashboard_reads(body: dict[str, Any]) -> list[Read]:
    reads = []
    for widget in body["widgets"]:
        title = widget["properties"].get("title", "")
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], dict):  # a math or SEARCH expression
                expression = line[0]["expression"]
                match = _SEARCH.search(expression)
                assert match, f"{title}: only SEARCH expressions are understood here: {expression}"
                namespace, *names = [part.strip() for part in match[1].split(",")]
                filters = dict(re.findall(r"(\w+)=\"([^\"]*)\"", match[3]))
                reads.append(
                    Read(title, namespace, match[2], {n: filters.get(n, ANY) for n in names}, "search")
                )
                continue
            options = line[-1] if isinstance(line[-1], dict) else {}
            parts = line[:-1] if options else line
            namespace, name, *pairs = parts
            assert "." not in parts, f"{title}: write every metric out in full (no '.' shorthand)"
            dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
            reads.append(Read(title, namespace, name, dimensions, options.get("stat", "")))
    return reads


@pytest.fixture(scope="module")
def reads(resources: dict[str, Any]) -> list[Read]:
    """Every metric an alarm or the dashboard reads."""
    parameters = load_template()["Parameters"]
    return _alarm_reads(resources) + _dashboard_reads(_dashboard_body(resources, parameters))


def test_every_custom_metric_an_alarm_or_the_dashboard_reads_is_one_the_code_emits(
    recording: Recording, environment: Environment, reads: list[Read]
) -> None:
    # Given what the handlers printed, and every metric the template reads outside AWS namespaces
    emitted = recording.metrics
    custom = [r for r in reads if not r.namespace.startswith("AWS/")]
    assert len(custom) >= 10
    # when each is normalised (the functions' own namespace and service made symbolic)
    for read in custom:
        wanted = environment.normalise(read.namespace, read.name, read.dimensions)
        # then the code emitted that very metric: same namespace, name, dimension names and values
        assert any(wanted.matches(m) for m in emitted), (
            f"{read.where} reads {read.namespace}/{read.name} {read.dimensions}, which the code never emits; "
            f"emitted: {sorted((m.namespace, m.name, m.dimensions) for m in emitted)}"
        )


def test_every_aws_metric_read_names_a_resource_of_this_stack(
    resources: dict[str, Any], reads: list[Read]
) -> None:
    # Given every metric of an AWS namespace that an alarm or the dashboard reads
    aws = [r for r in reads if r.namespace.startswith("AWS/")]
    assert {r.namespace for r in aws} == {"AWS/SQS", "AWS/Lambda", "AWS/Bedrock"}
    for read in aws:
        # then it has exactly the one dimension its service reports it by
        (dimension,) = read.dimensions
        names, target = AWS_METRICS[(read.namespace, dimension)]
        assert read.name in names, f"{read.where}: {read.namespace} has no metric {read.name} here"
        # and that dimension refers to the right kind of thing of this stack
        value = _reference(read.dimensions[dimension])
        if target.startswith("AWS::"):
            attribute = {"AWS::SQS::Queue": ["QueueName"], "AWS::Lambda::Function": None}[target]
            referred = value["Fn::GetAtt"][0] if attribute else value["Ref"]
            assert resources[referred]["Type"] == target, (read.where, value)
            if attribute:
                assert value["Fn::GetAtt"][1:] == attribute, (read.where, value)
        else:
            assert value == {"Ref": target}, (read.where, value)


# ---------------------------------------------------------------------------------------------------
# What the alarms cover, whom they notify, and what the dashboard shows
# ---------------------------------------------------------------------------------------------------


def _alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _of_type(resources, "AWS::CloudWatch::Alarm")


def test_each_queue_each_function_and_each_outcome_that_needs_a_person_has_an_alarm(
    resources: dict[str, Any], reads: list[Read]
) -> None:
    # Given every metric each alarm reads
    alarm_reads = [r for r in reads if r.where in _alarms(resources)]

    def alarmed(name: str, about: Any) -> bool:
        return any(
            r.name == name and _reference(next(iter(r.dimensions.values()))) == about for r in alarm_reads
        )

    queues = _of_type(resources, "AWS::SQS::Queue")
    dead_letter_queues = {
        props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for props in queues.values()
        if "RedrivePolicy" in props
    }
    # then a message in either dead-letter queue, the oldest message of each source queue,
    assert dead_letter_queues == {"InboxDeadLetterQueue", "GalleryDeadLetterQueue"}
    for queue in dead_letter_queues:
        assert alarmed("ApproximateNumberOfMessagesVisible", {"Fn::GetAtt": [queue, "QueueName"]}), queue
    for queue in set(queues) - dead_letter_queues:
        assert alarmed("ApproximateAgeOfOldestMessage", {"Fn::GetAtt": [queue, "QueueName"]}), queue
    # the errors and throttles of each function,
    for function in _of_type(resources, "AWS::Lambda::Function"):
        for metric in ("Errors", "Throttles"):
            assert alarmed(metric, {"Ref": function}), (function, metric)
    # and the code's own signals are each watched
    for metric in ("DocumentsFailed", "EmbeddingMisconfigured", "IndexLag", "IndexUnusable"):
        assert any(r.name == metric for r in alarm_reads), metric


def test_dead_letter_alarms_fire_on_one_message_and_keep_their_state_while_sqs_reports_nothing(
    resources: dict[str, Any], reads: list[Read]
) -> None:
    for name, props in _alarms(resources).items():
        if props.get("MetricName") == "ApproximateNumberOfMessagesVisible":
            assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold"), name
            # an inactive queue's metrics stop; "ignore" keeps a dead letter's alarm on
            assert props["TreatMissingData"] == "ignore", name


def test_index_staleness_is_the_larger_of_the_waiting_and_the_applied_changes_age(
    resources: dict[str, Any],
) -> None:
    props = _alarms(resources)["IndexStaleAlarm"]
    by_id = {m["Id"]: m for m in props["Metrics"]}
    (returned,) = [m for m in props["Metrics"] if m.get("ReturnData", True)]
    # the one series the alarm compares is the maximum of both ages, a missing one counted as 0
    assert returned["Expression"].replace(" ", "") == "MAX([FILL(waiting,0),FILL(applied,0)])"
    assert by_id["waiting"]["MetricStat"]["Metric"]["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert by_id["waiting"]["MetricStat"]["Metric"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["GalleryQueue", "QueueName"]
    }
    assert by_id["applied"]["MetricStat"]["Metric"]["MetricName"] == "IndexLag"
    assert {by_id[i]["MetricStat"]["Stat"] for i in ("waiting", "applied")} == {"Maximum"}
    assert props["Threshold"] == {"Ref": "IndexMaxLagSeconds"}


def test_every_alarm_is_named_after_the_stack_and_notifies_the_topic_on_alarm_and_recovery(
    resources: dict[str, Any],
) -> None:
    alarms = _alarms(resources)
    assert len(alarms) >= 11
    for name, props in alarms.items():
        # `docclass status --stack` finds them by the prefix "<stack>-"
        assert re.fullmatch(r"\$\{AWS::StackName\}-[A-Z][A-Za-z]+", props["AlarmName"]["Fn::Sub"]), name
        assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert props.get("ActionsEnabled", True) is True, name
    assert len({p["AlarmName"]["Fn::Sub"] for p in alarms.values()}) == len(alarms)


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_admits_only_this_accounts_alarms(
    resources: dict[str, Any],
) -> None:
    topic = resources["AlarmTopic"]["Properties"]
    # encrypted with a customer managed key of its own, rotated (alias/aws/sns would drop alarms)
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    grants = [
        s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert [set(s["Action"]) for s in grants] == [{"kms:Decrypt", "kms:GenerateDataKey*"}]
    # the topic policy: CloudWatch may publish for alarms of this account named after the stack,
    (policy,) = _of_type(resources, "AWS::SNS::TopicPolicy").values()
    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]
    statements = policy["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Action"] == "sns:Publish"
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(
        ":cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-*"
    )
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    # and nobody may publish without TLS
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and deny["Principal"] == "*"


def test_alarm_email_subscribes_only_when_given(resources: dict[str, Any]) -> None:
    template = load_template()
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    (name,) = _of_type(resources, "AWS::SNS::Subscription")
    subscription = resources[name]
    assert subscription["Condition"] == "SubscribeAlarmEmail"
    assert template["Conditions"]["SubscribeAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    # and the topic exists either way, for other subscribers
    assert "Condition" not in resources["AlarmTopic"]
    assert load_template()["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}


def test_the_dashboard_shows_what_an_operator_looks_at(resources: dict[str, Any], reads: list[Read]) -> None:
    shown = {(r.namespace, r.name, r.stat) for r in reads if r.where not in _alarms(resources)}
    # documents per label through a SEARCH (a new label appears by itself), unclassified and failed
    assert ("Docclass", "DocumentsClassified", "search") in shown
    assert {("Docclass", "DocumentsUnclassified", "Sum"), ("Docclass", "DocumentsFailed", "Sum")} <= shown
    # the nearest-distance distribution
    assert {("Docclass", "NearestDistance", p) for p in ("p10", "p50", "p90")} <= shown
    # Bedrock latency and throttles, index size
    assert {("AWS/Bedrock", "InvocationLatency"), ("AWS/Bedrock", "InvocationThrottles")} <= {
        (n, m) for n, m, _ in shown
    }
    assert ("Docclass", "IndexVectors", "Maximum") in shown
    # queue depth and age of both queues
    queue_lines = {
        (r.name, _reference(r.dimensions["QueueName"])["Fn::GetAtt"][0])
        for r in reads
        if r.namespace == "AWS/SQS" and r.where not in _alarms(resources)
    }
    for queue in ("InboxQueue", "GalleryQueue"):
        assert {
            ("ApproximateNumberOfMessagesVisible", queue),
            ("ApproximateAgeOfOldestMessage", queue),
        } <= queue_lines
    # and the alarm widget lists every alarm
    body = _dashboard_body(resources, load_template()["Parameters"])
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(
        f"${{{name}.Arn}}" for name in _alarms(resources)
    )
