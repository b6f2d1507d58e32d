"""IAM: what each function's role allows, checked against what the functions' code really calls.

The main check replays every S3 and Bedrock call the handlers made during the integration tests
(recorded by tests/iam_calls.py) against the IAM policy of that function's role in the transformed
template (tests/iam_check.py): a call the role would deny fails, and so does a grant that no call
needs. It runs once per session, after every test, in the process that saw them all (conftest.py);
this module tests how it maps calls to IAM actions and how it merges the records of several
processes. The other checks hold for every statement whatever the code calls: no wildcard beyond
what AWS requires, no managed policy this module cannot read, Bedrock only on the one model, each
function's own queue only, the KMS key only when it is set.
"""

from __future__ import annotations

import json
from typing import Any

import policies as pol
import pytest
from iam_calls import Call
from iam_check import Grant, _function_statements, _text, needs, problems

from docclass_local.template import load_template, transformed_resources


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    """The CloudFormation resources the SAM transform makes of template.yaml."""
    return transformed_resources()


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            Call(
                "F",
                "s3",
                "CopyObject",
                (
                    ("Bucket", "b"),
                    ("CopySource", "Bucket=b&Key=inbox/a b.png"),
                    ("Key", "classified/x/a b.png"),
                ),
                "us-east-1",
                "b",
                None,
            ),
            {
                ("s3:GetObject", "B/inbox/a b.png"),
                ("s3:GetObjectTagging", "B/inbox/a b.png"),
                ("s3:PutObject", "B/classified/x/a b.png"),
                ("s3:PutObjectTagging", "B/classified/x/a b.png"),
            },
        ),
        (
            Call(
                "F",
                "s3",
                "DeleteObject",
                (("Bucket", "b"), ("IfMatch", '"e1"'), ("Key", "inbox/a")),
                "us-east-1",
                "b",
                None,
            ),
            {("s3:DeleteObject", "B/inbox/a"), ("s3:GetObject", "B/inbox/a")},
        ),
        (
            Call(
                "F",
                "s3",
                "DeleteObject",
                (("Bucket", "b"), ("Key", "index/s"), ("VersionId", "v1")),
                "us-east-1",
                "b",
                None,
            ),
            {("s3:DeleteObjectVersion", "B/index/s")},
        ),
        (
            Call(
                "F", "s3", "HeadObject", (("Bucket", "b"), ("Key", "classified/x/a")), "us-east-1", "b", "404"
            ),
            {("s3:GetObject", "B/classified/x/a"), ("s3:ListBucket", "B")},
        ),
        (
            Call("F", "s3", "GetObject", (("Bucket", "other"), ("Key", "k")), "us-east-1", "b", None),
            {("s3:GetObject", "arn:aws:s3:::other/k")},
        ),
        (
            Call(
                "F",
                "bedrock-runtime",
                "InvokeModel",
                (("modelId", "amazon.titan-embed-image-v1"),),
                "eu-west-1",
                "b",
                None,
            ),
            {
                (
                    "bedrock:InvokeModel",
                    "arn:aws:bedrock:eu-west-1::foundation-model/amazon.titan-embed-image-v1",
                )
            },
        ),
    ],
)
def test_each_call_needs_the_actions_the_s3_and_bedrock_docs_name(
    call: Call, expected: set[tuple[str, str]]
) -> None:
    # Given a recorded call on the function's bucket ("b", written "B" for its ARN here)
    # When mapping it to IAM authorisations, then they are the documented ones
    assert {(n.action, n.resource) for n in needs(call, "B", call.region)} == expected


def test_a_listing_needs_list_bucket_with_its_prefix_as_condition_key() -> None:
    # Given a listing of classified/ by folder
    call = Call(
        "F",
        "s3",
        "ListObjectsV2",
        (("Bucket", "b"), ("Delimiter", "/"), ("Prefix", "classified/")),
        "us-east-1",
        "b",
        None,
    )
    # Then it needs s3:ListBucket on the bucket, with s3:prefix and s3:delimiter as the request sets them
    [need] = needs(call, "B", "us-east-1")
    assert (need.action, need.resource, dict(need.context)) == (
        "s3:ListBucket",
        "B",
        {"s3:prefix": "classified/", "s3:delimiter": "/"},
    )
    # And a grant conditioned on another prefix does not allow it, one on this prefix does
    grant = Grant(
        "F", "S", "Allow", "s3:ListBucket", "B", json.dumps({"StringLike": {"s3:prefix": "index/*"}})
    )
    assert not grant.matches(need)
    grant = Grant(
        "F", "S", "Allow", "s3:ListBucket", "B", json.dumps({"StringLike": {"s3:prefix": "classified/*"}})
    )
    assert grant.matches(need)


def test_only_calls_the_library_makes_inside_a_handler_are_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    import iam_calls
    from botocore.stub import Stubber

    from docclass.store import ObjectStore

    # Given a fresh recorder and an S3 client whose answers are stubbed (no network)
    recorder = iam_calls.CallRecorder()
    monkeypatch.setattr(iam_calls, "RECORDER", recorder)
    monkeypatch.setenv("BUCKET_NAME", "b")
    client = boto3.client("s3", region_name="us-east-1")
    store = ObjectStore("b", client)
    with Stubber(client) as stubber:
        for key in ("setup", "handler", "fake"):
            stubber.add_response(
                "head_object", {"ETag": '"e"', "ContentLength": 1}, {"Bucket": "b", "Key": key}
            )

        # When the test itself calls S3, then a handler's code, then a test fake from inside a handler
        store.head("setup")
        iam_calls.running_as("GalleryFunction", store.head)("handler")
        iam_calls.running_as("GalleryFunction", lambda: store.head("fake"))()

    # Then only the handler's own call is recorded, for its function, with what IAM needs to know
    assert recorder.calls == [
        iam_calls.Call(
            "GalleryFunction",
            "s3",
            "HeadObject",
            (("Bucket", "b"), ("Key", "handler")),
            "us-east-1",
            "b",
            None,
        )
    ]


def _classify_call(operation: str, key: str) -> Call:
    """A call ClassifyFunction's code made on its own bucket (named "b" here)."""
    return Call("ClassifyFunction", "s3", operation, (("Bucket", "b"), ("Key", key)), "us-east-1", "b", None)


def test_a_call_the_role_would_deny_is_a_problem_whatever_ran(resources: dict[str, Any]) -> None:
    # Given ClassifyFunction reading a document (allowed) and writing under gallery/ (never granted)
    calls = [_classify_call("GetObject", "inbox/a.png"), _classify_call("PutObject", "gallery/x/a.png")]
    # When checking them, even in a run that was not the whole suite
    found = problems(calls, resources, check_use=False)
    # Then the write is refused, by action and prefix, and nothing else is said
    assert len(found) == 1
    assert found[0].startswith("DENIED ClassifyFunction needs s3:PutObject on arn:aws:s3:::")
    assert found[0].split(": ")[0].endswith("/gallery/*")


def test_grants_no_call_needs_are_problems_only_when_the_whole_suite_ran(resources: dict[str, Any]) -> None:
    # Given a single allowed call: every other grant of both roles is unused
    calls = [_classify_call("GetObject", "inbox/a.png")]
    # When the whole integration suite ran and passed, then the unused grants are named
    found = problems(calls, resources, check_use=True)
    assert any(line.startswith("UNUSED GalleryFunction/") for line in found), found
    assert any(line.startswith("UNUSED ClassifyFunction/") and "s3:PutObject" in line for line in found)
    assert not any(line.startswith("DENIED") for line in found)
    # And when it did not, they are not
    assert problems(calls, resources, check_use=False) == []


def test_the_records_of_every_worker_are_checked_together() -> None:
    from iam_calls import CallRecorder, IntegrationRun, SessionRecords, session_records

    # Given two xdist workers, each of which ran half of the integration tests and recorded one call
    halves = [
        ("tests/integration/test_a.py::one", "inbox/a.png"),
        ("tests/integration/test_b.py::two", "inbox/b.png"),
    ]
    everything = {nodeid for nodeid, _ in halves}
    records = SessionRecords()
    for worker, (nodeid, key) in enumerate(halves):
        recorder, run = CallRecorder(), IntegrationRun()
        recorder.add(_classify_call("GetObject", key))
        run.collected, run.passed = set(everything), {nodeid}
        # When each hands its records over as xdist sends them (plain JSON types), and they are merged
        records.add(f"gw{worker}", json.loads(json.dumps(session_records(recorder, run))))
    # Then the check sees both calls, and every integration test as passed
    assert records.sorted_calls() == sorted(
        [_classify_call("GetObject", "inbox/a.png"), _classify_call("GetObject", "inbox/b.png")], key=repr
    )
    assert records.run.passed == everything
    # And a worker whose records never arrived (it crashed) makes the run incomplete, with the reason
    records.add("gw2", None)
    complete, why_not = records.run.complete()
    assert not complete and "gw2" in why_not


# ------------------------------------------------------------------------------------------------
# IAM: no "*" resource and no wildcard action beyond what AWS requires
# ------------------------------------------------------------------------------------------------

# Actions that may be granted on Resource "*", each with the reason.
STAR_RESOURCE_ALLOWED = {
    action: (
        "X-Ray defines no resource type for this action (Service Authorization Reference, 'Actions, "
        "resources, and condition keys for AWS X-Ray'): it accepts no resource-level permission, so IAM "
        "requires Resource '*'. Tracing: Active needs it to send segments and read sampling rules."
    )
    for action in (
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
    )
}
# Wildcard actions that may be granted (Allow); none is needed.
WILDCARD_ACTIONS_ALLOWED: dict[str, str] = {}
# Statements left out of the wildcard checks, with the reason.
EXCLUDED_EFFECTS = {
    "Deny": (
        "a Deny only takes rights away, so a wildcard there widens what is refused: the TLS-only bucket "
        "and queue policies deny s3:* / sqs:* to every principal on a request without TLS"
    ),
}


def _wildcard_resource(resource: Any) -> bool:
    """Resource "*", or an ARN with a wildcard in its partition, service, region or account, or in
    the first character of its resource part (arn:aws:s3:::*, arn:aws:sqs:*:*:*, ...). A wildcard at
    the end of a named path (bucket/prefix/*) is how IAM names the objects under a prefix: allowed."""
    text = _text(resource)
    if text.strip() == "*":
        return True
    fields = text.split(":", 5)
    if len(fields) == 6 and fields[0] == "arn":
        return any(pol.has_wildcard(field) for field in fields[1:5]) or fields[5][:1] in ("*", "?")
    return False


def test_no_iam_statement_allows_a_wildcard_beyond_what_aws_requires(resources: dict[str, Any]) -> None:
    # Given every statement of every identity policy (roles' inline policies, IAM policies and managed
    # policies in the stack) and of every resource policy (bucket and queue policies)
    statements = [(owner, s) for owner, _, s in pol.identity_policies(resources)]
    statements += list(pol.resource_policies(resources))
    assert statements

    problems = []
    for owner, statement in statements:
        # When leaving out the Deny statements (EXCLUDED_EFFECTS says why)
        if statement["Effect"] in EXCLUDED_EFFECTS:
            continue
        sid = f"{owner}/{statement.get('Sid', '?')}"
        actions = pol.actions(statement)

        # Then no Allow is written the other way round (everything except ...)
        if "NotAction" in statement or "NotResource" in statement or "NotPrincipal" in statement:
            problems.append(
                f"{sid}: NotAction/NotResource/NotPrincipal in an Allow grants all that is not named"
            )
        # And no action is a wildcard (*, s3:*, s3:Get*) unless listed with its reason
        for action in actions:
            if pol.has_wildcard(action) and action not in WILDCARD_ACTIONS_ALLOWED:
                problems.append(f"{sid}: wildcard action {action!r}")
        # And Resource "*" (or an ARN open in account, region or service) names only actions that
        # accept no other resource
        if any(_wildcard_resource(r) for r in pol.as_list(statement.get("Resource", []))):
            for action in actions:
                if action not in STAR_RESOURCE_ALLOWED:
                    problems.append(f"{sid}: {action!r} on every resource ({statement['Resource']!r})")
        # And no resource policy allows anyone at all
        principal = statement.get("Principal")
        if principal is not None and "*" in json.dumps(principal):
            problems.append(f"{sid}: allows the principal {principal!r}")

    assert problems == [], "\n".join(problems)


def test_roles_attach_no_aws_managed_policy_this_test_cannot_read(resources: dict[str, Any]) -> None:
    # Given the managed policies attached to each role (SAM attaches AWSLambdaSQSQueueExecutionRole and
    # AWSLambdaBasicExecutionRole to the roles it generates: both grant their actions on "*")
    for name, role in pol.of_type(resources, "AWS::IAM::Role").items():
        for arn in role.get("ManagedPolicyArns", []):
            # Then each one is a policy of this stack, whose statements the test above reads
            assert pol.target(arn) in resources, (
                f"{name} attaches {arn!r}: its statements cannot be checked offline; "
                "write the statements in the template instead"
            )


def test_bedrock_invoke_model_is_granted_only_on_the_embedding_model(resources: dict[str, Any]) -> None:
    # Given every Allow statement whose actions cover any Bedrock action (bedrock:* would count)
    bedrock = [
        (owner, statement)
        for owner, _, statement in pol.identity_policies(resources)
        if statement["Effect"] == "Allow"
        and (
            pol.grants(pol.actions(statement), "bedrock:InvokeModel")
            or any(action.lower().startswith("bedrock:") for action in pol.actions(statement))
        )
    ]
    assert bedrock, "no role may call Bedrock: the functions could not embed"

    model = "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${%s}"
    for owner, statement in bedrock:
        # Then each grants InvokeModel only, named exactly
        assert pol.actions(statement) == ["bedrock:InvokeModel"], (owner, statement)
        # On the one foundation model that the EmbeddingModelId parameter names, in this region; and
        # GalleryFunction on the NextEmbeddingModelId while a switch is prepared (see below)
        resources = pol.as_list(statement["Resource"])
        assert resources == [{"Fn::Sub": model % "EmbeddingModelId"}] or (
            owner == "GalleryNextModelPolicy" and resources == [{"Fn::Sub": model % "NextEmbeddingModelId"}]
        ), (owner, statement)


def test_the_next_model_is_granted_only_while_a_switch_is_prepared() -> None:
    # Given the template as written (conditions not yet resolved)
    template = load_template()
    resources = template["Resources"]
    # Then the NextEmbeddingModelId grant is a policy of its own on GalleryFunction's role, which
    # exists only under PrepareNextModel, which holds only when that parameter is set: with it
    # empty, the role may invoke the one live model and no other
    granting = {
        name: resource
        for name, resource in resources.items()
        if "NextEmbeddingModelId" in json.dumps(resource.get("Properties", {}).get("PolicyDocument", {}))
    }
    assert list(granting) == ["GalleryNextModelPolicy"]
    policy = granting["GalleryNextModelPolicy"]
    assert policy["Condition"] == "PrepareNextModel"
    assert policy["Properties"]["Roles"] == [{"Ref": "GalleryFunctionRole"}]
    assert template["Conditions"]["PrepareNextModel"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "NextEmbeddingModelId"}, ""]}]
    }
    assert template["Parameters"]["NextEmbeddingModelId"]["Default"] == ""


# ------------------------------------------------------------------------------------------------
# SQS and KMS: what Lambda and S3 use the roles for, beyond the handlers' own calls
# ------------------------------------------------------------------------------------------------


def test_each_function_consumes_only_its_own_queue(resources: dict[str, Any]) -> None:
    # Given each function and the queue its event source mapping reads (Lambda polls the queue with
    # the function's role: those calls are the service's, not the handler's, and are not recorded)
    for mapping in pol.of_type(resources, "AWS::Lambda::EventSourceMapping").values():
        function = pol.target(mapping["FunctionName"])
        own_queue = pol.target(mapping["EventSourceArn"])
        assert function is not None and own_queue is not None

        # When collecting the queues its role may act on ("*" or a literal ARN counts as itself)
        queues: set[str] = set()
        for statement in _function_statements(resources, function):
            if any(action.startswith("sqs:") for action in pol.actions(statement)):
                for resource in pol.as_list(statement["Resource"]):
                    target = pol.target(resource)
                    queues.add(target if target in resources else _text(resource))

        # Then that is its own queue and no other
        assert queues == {own_queue}, function


KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# What each function needs on the key: S3 decrypts an SSE-KMS object for GetObject / CopyObject
# with the caller's kms:Decrypt; ClassifyFunction's copy is encrypted with the same key, which needs
# kms:GenerateDataKey. S3 makes these KMS calls itself, so no handler call records them.
KMS_GRANTS = {
    "GalleryFunctionRole": {"kms:Decrypt"},
    "ClassifyFunctionRole": {"kms:Decrypt", "kms:GenerateDataKey"},
}


@pytest.mark.parametrize("role", sorted(KMS_GRANTS))
def test_kms_key_is_granted_only_when_set_and_only_that_key(resources: dict[str, Any], role: str) -> None:
    # Given the statements that mention KMS and apply to the role, with the condition of their policy
    found = [
        (resources[owner].get("Condition"), statement)
        for owner, applies_to, statement in pol.identity_policies(resources)
        if applies_to == role and "kms:" in json.dumps(statement)
    ]
    # Then it is one statement in a policy created only when KmsKeyArn is set
    [(condition, granted)] = found
    assert condition == "GrantKmsKey"
    # And it allows what the function needs on the one key named by the parameter
    assert granted["Effect"] == "Allow"
    assert set(pol.actions(granted)) == KMS_GRANTS[role]
    assert granted["Resource"] == {"Ref": "KmsKeyArn"}
