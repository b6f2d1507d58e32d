"""template.yaml: lint it, expand it with the SAM translator (offline), and check what it promises."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cfnlint.api import lint_file

from docclass_local.template import DEFAULT_TEMPLATE, load_template, policy_statements, transformed_resources


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    """template.yaml as plain data."""
    return load_template()


@pytest.fixture(scope="module")
def resources(sam_template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation resources the SAM transform makes of template.yaml."""
    return transformed_resources(sam_template)


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == kind}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _target(reference: dict[str, Any]) -> str:
    """The logical id a Ref or Fn::GetAtt points at."""
    if "Ref" in reference:
        return reference["Ref"]
    attribute = reference["Fn::GetAtt"]
    return attribute[0] if isinstance(attribute, list) else attribute.split(".")[0]


def _bucket_arn(resources: dict[str, Any]) -> str:
    """The document bucket's ARN as a Fn::Sub string, built from its name, not from the bucket itself."""
    return "arn:${AWS::Partition}:s3:::" + resources["DocumentBucket"]["Properties"]["BucketName"]["Fn::Sub"]


def _references(node: Any) -> set[str]:
    """Names a template fragment refers to through Ref, Fn::GetAtt or Fn::Sub."""
    if isinstance(node, list):
        return set().union(*map(_references, node))
    if not isinstance(node, dict):
        return set()
    found = set().union(*map(_references, node.values()))
    if isinstance(node.get("Ref"), str):
        found.add(node["Ref"])
    if "Fn::GetAtt" in node:
        found.add(_target(node))
    if "Fn::Sub" in node:
        text = _as_list(node["Fn::Sub"])[0]
        found.update(re.findall(r"\$\{(?!!)([A-Za-z0-9]+)[.}]", text))
    return found


def _dependency_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle in a dependency graph, as a path that ends where it starts; [] when there is none."""
    state: dict[str, str] = {}

    def visit(path: list[str]) -> list[str]:
        state[path[-1]] = "open"
        for child in sorted(graph[path[-1]]):
            if state.get(child) == "open":
                return [*path[path.index(child) :], child]
            if child not in state and (cycle := visit([*path, child])):
                return cycle
        state[path[-1]] = "done"
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit([start])):
            return cycle
    return []


def test_template_passes_cfn_lint() -> None:
    # Given template.yaml, when cfn-lint checks it as `sam validate --lint` does
    matches = lint_file(DEFAULT_TEMPLATE)

    # Then it reports nothing (sam validate --lint fails on any error or warning)
    assert matches == [], "\n".join(str(match) for match in matches)


def test_resources_have_no_circular_dependency(resources: dict[str, Any]) -> None:
    # Given every resource's references and DependsOn (the bucket depends on the queue policies,
    # so a policy naming the bucket through !Ref or !GetAtt would close a loop)
    graph = {
        name: (_references(resource.get("Properties", {})) | set(_as_list(resource.get("DependsOn", []))))
        & resources.keys()
        for name, resource in resources.items()
    }

    # When looking for a cycle, then there is none
    assert _dependency_cycle(graph) == []


def test_each_queue_hides_a_message_for_at_least_six_function_timeouts(resources: dict[str, Any]) -> None:
    # Given the SQS event source mappings, one per queue
    mappings = _of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    assert {_target(m["EventSourceArn"]) for m in mappings} == {"GalleryQueue", "InboxQueue"}

    for mapping in mappings:
        # When comparing the queue's visibility timeout with the function's timeout
        queue = resources[_target(mapping["EventSourceArn"])]["Properties"]
        function = resources[_target(mapping["FunctionName"])]["Properties"]

        # Then the queue leaves room for Lambda's retries of a throttled batch (AWS's advice)
        assert queue["VisibilityTimeout"] >= 6 * function["Timeout"], mapping


def test_each_event_source_reports_batch_item_failures_and_caps_concurrency(
    resources: dict[str, Any],
) -> None:
    # Given the SQS event source mappings
    mappings = _of_type(resources, "AWS::Lambda::EventSourceMapping")

    for name, mapping in mappings.items():
        # Then one failed document is retried alone, not with its whole batch
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
        # And a parameter bounds the function's concurrency (hence the Bedrock request rate)
        assert "Ref" in mapping["ScalingConfig"]["MaximumConcurrency"], name


def test_dead_letter_queues_keep_failed_messages_longer_than_their_source_queues(
    resources: dict[str, Any],
) -> None:
    # Given each queue that has a dead-letter queue
    queues = {n: q for n, q in _of_type(resources, "AWS::SQS::Queue").items() if "RedrivePolicy" in q}
    assert set(queues) == {"GalleryQueue", "InboxQueue"}

    for name, queue in queues.items():
        dead_letter_queue = resources[_target(queue["RedrivePolicy"]["deadLetterTargetArn"])]["Properties"]

        # Then a message keeps its original enqueue time when it moves, so the DLQ must keep it longer
        assert dead_letter_queue["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"], name
        assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}, name
        # And both queues are encrypted at rest
        assert queue["SqsManagedSseEnabled"] and dead_letter_queue["SqsManagedSseEnabled"], name


def test_functions_and_queue_policies_name_the_bucket_as_it_is_named(
    resources: dict[str, Any], sam_template: dict[str, Any]
) -> None:
    # Given the bucket's name
    name = resources["DocumentBucket"]["Properties"]["BucketName"]

    # Then the functions are told that name
    assert sam_template["Globals"]["Function"]["Environment"]["Variables"]["BUCKET_NAME"] == name
    # And the queues accept notifications from that bucket only, in this account only
    for queue_policy in _of_type(resources, "AWS::SQS::QueuePolicy").values():
        [allow] = [s for s in policy_statements(queue_policy["PolicyDocument"]) if s["Effect"] == "Allow"]
        assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
        assert allow["Action"] == "sqs:SendMessage"
        assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == {"Fn::Sub": _bucket_arn(resources)}
        assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_document_bucket_is_encrypted_private_and_tls_only(resources: dict[str, Any]) -> None:
    # Given the bucket and the policies attached to it
    bucket = resources["DocumentBucket"]["Properties"]
    statements = [
        statement
        for policy in _of_type(resources, "AWS::S3::BucketPolicy").values()
        if _target(policy["Bucket"]) == "DocumentBucket"
        for statement in policy_statements(policy["PolicyDocument"])
    ]

    # Then objects are encrypted at rest by default
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # And nothing in it can be made public
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    # And any request without TLS is denied, on the bucket and on its objects
    [deny] = [s for s in statements if s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert {json.dumps(r) for r in deny["Resource"]} == {
        json.dumps({"Fn::GetAtt": ["DocumentBucket", "Arn"]}),
        json.dumps({"Fn::Sub": "${DocumentBucket.Arn}/*"}),
    }


def test_document_bucket_waits_for_both_queue_policies(resources: dict[str, Any]) -> None:
    # Given the bucket (S3 checks it may send to a queue when the notification is stored)
    depends_on = set(_as_list(resources["DocumentBucket"]["DependsOn"]))

    # Then it is created after both queue policies
    assert {"GalleryQueuePolicy", "InboxQueuePolicy"} <= depends_on


def test_bucket_notifies_gallery_changes_and_inbox_arrivals_to_their_queues(
    resources: dict[str, Any],
) -> None:
    # Given the bucket's queue notifications
    configurations = resources["DocumentBucket"]["Properties"]["NotificationConfiguration"]

    # When reading each one as (event, key prefix, queue)
    routes = {
        (configuration["Event"], prefix, _target(configuration["Queue"]))
        for configuration in configurations["QueueConfigurations"]
        for prefix in [r["Value"] for r in configuration["Filter"]["S3Key"]["Rules"] if r["Name"] == "prefix"]
    }

    # Then gallery/ additions and removals reach GalleryQueue, and inbox/ arrivals reach InboxQueue
    assert routes == {
        ("s3:ObjectCreated:*", "gallery/", "GalleryQueue"),
        ("s3:ObjectRemoved:*", "gallery/", "GalleryQueue"),
        ("s3:ObjectCreated:*", "inbox/", "InboxQueue"),
    }


@pytest.mark.parametrize("value", ["", "0", "0.35", "1.2", "2", "2.0"])
def test_max_distance_accepts_empty_or_a_distance_between_unit_vectors(
    sam_template: dict[str, Any], value: str
) -> None:
    # Given MaxDistance's pattern (distances between L2-normalised vectors lie in 0..2)
    pattern = sam_template["Parameters"]["MaxDistance"]["AllowedPattern"]

    # When CloudFormation matches the value against it, then it passes
    assert re.fullmatch(pattern, value)


@pytest.mark.parametrize("value", ["2.5", "3", "-0.1", "near", " 1"])
def test_max_distance_rejects_what_no_distance_can_be(sam_template: dict[str, Any], value: str) -> None:
    # Given MaxDistance's pattern
    pattern = sam_template["Parameters"]["MaxDistance"]["AllowedPattern"]

    # When CloudFormation matches the value against it, then it fails
    assert re.fullmatch(pattern, value) is None


def _lifecycle_rules(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return resources["DocumentBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]


def test_inbox_embeddings_expire_and_gallery_embeddings_stay(resources: dict[str, Any]) -> None:
    from docclass.embedding_cache import EmbeddingCache

    # the prefixes the two functions' caches write under (bucket and model do not matter here)
    inbox = EmbeddingCache(None, "m", 256, "inbox").prefix  # type: ignore[arg-type]
    gallery = EmbeddingCache(None, "m", 256, "gallery").prefix  # type: ignore[arg-type]
    expiring = [r.get("Prefix", "") for r in _lifecycle_rules(resources) if "ExpirationInDays" in r]
    assert any(inbox.startswith(prefix) and prefix.startswith("embeddings/inbox/") for prefix in expiring)
    assert not any(gallery.startswith(prefix) for prefix in expiring)  # an empty prefix would cover it too


def test_replaced_index_snapshots_do_not_linger_as_noncurrent_versions(resources: dict[str, Any]) -> None:
    from docclass.index_store import IndexRepository

    root = IndexRepository(None, "m", 256).root  # type: ignore[arg-type]
    rules = [r for r in _lifecycle_rules(resources) if root.startswith(r.get("Prefix", ""))]
    days = min(
        r["NoncurrentVersionExpiration"]["NoncurrentDays"]
        for r in rules
        if "NoncurrentVersionExpiration" in r
    )
    assert days <= 1
    assert any(r.get("ExpiredObjectDeleteMarker") for r in rules)


def test_every_checkov_skip_gives_its_reason_once_and_refers_to_it():
    # given the reasons stated once in the template's header: "# NAME (CKV_AWS_N, ...): why"
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    stated = dict(re.findall(r"^# ([A-Z-]+) \((CKV_AWS_\d+)", text, flags=re.M))
    # when every skip of every resource is read
    skips = [
        (name, skip["id"], skip.get("comment", ""))
        for name, resource in load_template()["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    # then each names a stated reason for that very check, or gives its own (a skip used once)
    assert skips
    for name, check, comment in skips:
        reason = comment.split(":", 1)[0]
        if reason in stated:
            assert stated[reason] == check, (name, check, comment)
        else:
            assert len(comment) > 80, f"{name} skips {check} without a reason"
    # and each stated reason is stated once, and used
    for reason in stated:
        assert text.count(f"# {reason} (") == 1
        assert any(c.startswith(reason + ":") for _, _, c in skips), f"{reason} is stated but no skip uses it"
