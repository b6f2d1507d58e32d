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
import re
from typing import Any

import policies as pol
import pytest
from iam_calls import Call
from iam_check import (
    Grant,
    Need,
    _allowed_with_the_model_of,
    _function_statements,
    _profile_of,
    _template,
    _text,
    needs,
    problems,
)

from docclass import models
from docclass_local.template import transformed_resources


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
        (
            Call(
                "F",
                "bedrock-runtime",
                "InvokeModel",
                (("modelId", "global.cohere.embed-v4:0"),),
                "eu-west-1",
                "b",
                None,
            ),
            {
                (
                    "bedrock:InvokeModel",
                    "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/global.cohere.embed-v4:0",
                ),
                ("bedrock:InvokeModel", "arn:aws:bedrock:eu-west-1::foundation-model/cohere.embed-v4:0"),
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


@pytest.mark.parametrize(
    ("model_id", "allowed"),
    [
        ("global.cohere.embed-v4:0", True),
        ("us.amazon.nova-2-multimodal-embeddings-v1:0", True),
        ("cohere.embed-v4:0", True),
        ("amazon.titan-embed-text-v2:0", False),  # not an id the template accepts
    ],
)
def test_a_call_on_another_model_is_checked_against_the_stack_deployed_with_that_model(
    resources: dict[str, Any], model_id: str, allowed: bool
) -> None:
    # Given a call a test made on the local stack run with this model, in another region
    call = Call(
        "ClassifyFunction", "bedrock-runtime", "InvokeModel", (("modelId", model_id),), "eu-west-1", "b", None
    )
    # Then every authorisation it needs is allowed by that deployment, or none is for a foreign id
    results = {_allowed_with_the_model_of(resources, call, need) for need in needs(call, "B", call.region)}
    assert results == {allowed}
    # And the profile's model is not allowed without the profile (the need's condition key)
    if _profile_of(model_id):
        [_, through] = needs(call, "B", call.region)
        assert not _allowed_with_the_model_of(resources, call, Need(through.action, through.resource))


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


def _in_any_region_only_through_one_profile(statement: dict[str, Any]) -> bool:
    """InvokeModel on one foundation model in whichever region, allowed only when the request comes
    through one named inference profile: a cross-region profile routes to regions of its own choice
    (AWS lists them per profile and adds more), and names the profile in bedrock:InferenceProfileArn
    when the foundation model is evaluated (geographic-cross-region-inference.html)."""
    condition = statement.get("Condition", {})
    if pol.actions(statement) != ["bedrock:InvokeModel"] or list(condition) != ["StringEquals"]:
        return False
    if list(condition["StringEquals"]) != ["bedrock:InferenceProfileArn"]:
        return False
    profile = _text(condition["StringEquals"]["bedrock:InferenceProfileArn"])
    if pol.has_wildcard(profile) or not re.fullmatch(
        r"arn:aws:bedrock:[a-z0-9-]+:[0-9]{12}:inference-profile/.+", profile
    ):
        return False
    return all(
        re.fullmatch(r"arn:aws:bedrock:\*::foundation-model/[^*?]+", _text(resource))
        for resource in pol.as_list(statement["Resource"])
    )


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
        # accept no other resource, but for one foundation model reached only through one profile
        named = pol.as_list(statement.get("Resource", []))
        if any(map(_wildcard_resource, named)) and not _in_any_region_only_through_one_profile(statement):
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


# ------------------------------------------------------------------------------------------------
# Bedrock: exactly the chosen model, by its id or through its inference profile
# ------------------------------------------------------------------------------------------------

INVOKE = "bedrock:InvokeModel"
REGION = pol.PSEUDO_PARAMETERS["AWS::Region"]
ACCOUNT = pol.PSEUDO_PARAMETERS["AWS::AccountId"]
ROLES = {"GalleryFunction": "GalleryFunctionRole", "ClassifyFunction": "ClassifyFunctionRole"}
# Each family by its bare id, behind a geographic profile and behind the global one.
MODEL_IDS = [f"{prefix}{family.model_id}" for family in models.FAMILIES for prefix in ("", "us.", "global.")]


def _foundation_model(model_id: str, region: str = REGION) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def _profile(model_id: str, region: str = REGION) -> str:
    return f"arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/{model_id}"


def _through(profile_arn: str) -> str:
    return json.dumps({"StringEquals": {"bedrock:InferenceProfileArn": profile_arn}}, sort_keys=True)


def _expected_grants(model_id: str) -> set[tuple[str, str, str]]:
    """(action, resource, condition) a role needs to embed with this EmbeddingModelId, as the Bedrock
    user guide's cross-region inference pages write the policies: the profile in this region; its
    foundation model in whichever destination region, only through that profile; for a global
    profile also the foundation model's region-less ARN
    (geographic-cross-region-inference.html, global-cross-region-inference.html)."""
    model = models.resolve(model_id)
    if model.profile is None:
        return {(INVOKE, _foundation_model(model_id), "{}")}
    base, through = model.base_model_id, _through(_profile(model_id))
    expected = {(INVOKE, _profile(model_id), "{}"), (INVOKE, _foundation_model(base, "*"), through)}
    if model.profile == "global":
        expected.add((INVOKE, _foundation_model(base, ""), through))
    return expected


def _bedrock_grants(resources: dict[str, Any], function: str, parameters: dict[str, str]) -> set[pol.Grant]:
    deployment = pol.Deployment(_template(), parameters)
    return pol.allow_grants(resources, deployment, ROLES[function], "bedrock:")


def _as_tuples(grants: set[pol.Grant]) -> set[tuple[str, str, str]]:
    return {(g.action, g.resource, g.condition) for g in grants}


def _allowed(grants: set[pol.Grant], resource: str, profile: str | None = None) -> bool:
    """Whether a role with these grants may InvokeModel on the resource; profile: the inference
    profile the request went through (Bedrock's bedrock:InferenceProfileArn), None for a direct call."""
    context = {"bedrock:InferenceProfileArn": profile} if profile else {}
    return any(grant.allows(INVOKE, resource, context) for grant in grants)


@pytest.mark.parametrize("function", sorted(ROLES))
@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_each_function_may_invoke_exactly_the_chosen_model(
    resources: dict[str, Any], function: str, model_id: str
) -> None:
    # Given the stack deployed with this EmbeddingModelId and no switch prepared
    grants = _bedrock_grants(resources, function, {"EmbeddingModelId": model_id})

    # Then the function's Bedrock grants are exactly what invoking that model needs
    assert _as_tuples(grants) == _expected_grants(model_id)


@pytest.mark.parametrize("next_model_id", ["", *MODEL_IDS])
def test_the_next_model_is_granted_to_the_gallery_only_while_a_switch_is_prepared(
    resources: dict[str, Any], next_model_id: str
) -> None:
    # Given a stack whose live model is Nova behind the us. profile, preparing a switch (or not)
    live = "us.amazon.nova-2-multimodal-embeddings-v1:0"
    parameters = {"EmbeddingModelId": live, "NextEmbeddingModelId": next_model_id}

    # When reading each function's Bedrock grants
    gallery = _bedrock_grants(resources, "GalleryFunction", parameters)
    classify = _bedrock_grants(resources, "ClassifyFunction", parameters)

    # Then GalleryFunction may invoke the live model and, while NextEmbeddingModelId is set, the
    # next one, exactly as the live one would be granted; ClassifyFunction only the live one
    expected_next = _expected_grants(next_model_id) if next_model_id else set()
    assert _as_tuples(gallery) == _expected_grants(live) | expected_next
    assert _as_tuples(classify) == _expected_grants(live)


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_a_request_for_any_other_model_or_route_is_denied(resources: dict[str, Any], model_id: str) -> None:
    # Given the grants of GalleryFunction (the wider of the two roles) for this EmbeddingModelId
    grants = _bedrock_grants(resources, "GalleryFunction", {"EmbeddingModelId": model_id})
    model = models.resolve(model_id)
    base = model.base_model_id
    others = [f.model_id for f in models.FAMILIES if f.model_id != base]

    if model.profile is None:
        # Then the model itself, here, is allowed; in another region, or another model, is not
        assert _allowed(grants, _foundation_model(model_id))
        assert not _allowed(grants, _foundation_model(model_id, "eu-west-1"))
        assert not any(_allowed(grants, _foundation_model(other)) for other in others)
        assert not _allowed(grants, _profile(f"us.{model_id}"))
        return

    # Then the profile is allowed, and its model wherever the profile routes the request
    profile = _profile(model_id)
    assert _allowed(grants, profile)
    for region in ("us-east-1", "us-west-2", "eu-central-1"):
        assert _allowed(grants, _foundation_model(base, region), profile)
    # And a global profile reaches the region-less foundation model ARN too (whether IAM's region
    # wildcard covers an empty region is not documented: AWS's policy for a global profile names it
    # apart, and so does the template)
    if model.profile == "global":
        assert _allowed(grants, _foundation_model(base, ""), profile)
    # And the foundation model called directly, without the profile, is denied (in any region)
    assert not _allowed(grants, _foundation_model(base))
    assert not _allowed(grants, _foundation_model(base, "us-west-2"))
    assert not _allowed(grants, _foundation_model(base, ""))
    # And another profile of the same model is denied, and so is its route to the model
    for prefix in models.PROFILE_PREFIXES:
        if prefix != model.profile:
            other_profile = _profile(f"{prefix}.{base}")
            assert not _allowed(grants, other_profile)
            assert not _allowed(grants, _foundation_model(base, "us-west-2"), other_profile)
    # And the same profile in another region or account is denied
    assert not _allowed(grants, _profile(model_id, "eu-west-1"))
    assert not _allowed(grants, profile.replace(ACCOUNT, "210987654321"))
    # And another model is denied, even through this profile or one of its own
    for other in others:
        assert not _allowed(grants, _foundation_model(other, "us-west-2"), profile)
        assert not _allowed(grants, _profile(f"{model.profile}.{other}"))


def _broader_than_one_model(grant: pol.Grant) -> str | None:
    """Why a Bedrock grant reaches further than one model or one profile (None if it does not)."""
    if grant.action != INVOKE:
        return f"action {grant.action!r}: only bedrock:InvokeModel is needed"
    match = re.fullmatch(
        r"arn:aws:bedrock:([^:]*):([^:]*):(foundation-model|inference-profile)/(.+)", grant.resource
    )
    if match is None:
        return f"resource {grant.resource!r} is neither a foundation model nor an inference profile"
    region, account, kind, name = match.groups()
    if pol.has_wildcard(name) or name not in models.supported_model_ids():
        return f"{kind} {name!r} is not one model id"
    if kind == "inference-profile" and (region, account) != (REGION, ACCOUNT):
        return f"a profile of region {region!r} and account {account!r}, not this stack's"
    if kind == "foundation-model" and account:
        return f"a foundation model ARN with the account {account!r}"
    if kind == "foundation-model" and region != REGION:
        # another region (or any, or none) only through one profile of this stack
        condition = json.loads(grant.condition)
        if condition != json.loads(_through(_profile(f"{_condition_prefix(condition)}.{name}"))):
            return f"the foundation model in region {region!r} without the one profile's condition"
    elif grant.condition != "{}":
        return f"an unexpected condition {grant.condition}"
    return None


def _condition_prefix(condition: dict[str, Any]) -> str:
    """The profile prefix a bedrock:InferenceProfileArn condition names ("" if it names none)."""
    arn = str(condition.get("StringEquals", {}).get("bedrock:InferenceProfileArn", ""))
    return arn.rpartition("/")[2].partition(".")[0] if "/" in arn else ""


def test_no_parameter_value_grants_more_than_one_model(resources: dict[str, Any]) -> None:
    # Given every model id the template accepts, as the live model and as the next one
    deployments = [{"EmbeddingModelId": m} for m in models.supported_model_ids()]
    deployments += [{"NextEmbeddingModelId": m} for m in models.supported_model_ids()]

    # When reading each function's Bedrock grants in each deployment
    problems = set()
    for parameters in deployments:
        for function in ROLES:
            for grant in _bedrock_grants(resources, function, parameters):
                # Then none is a wildcard model or profile (foundation-model/*, inference-profile/*,
                # "*"), another action, or a model in another region outside its profile
                why = _broader_than_one_model(grant)
                if why:
                    problems.add(f"{function} {grant.owner}/{grant.sid} with {parameters}: {why}")
    assert sorted(problems) == []


def test_functions_start_only_once_their_model_policies_exist(resources: dict[str, Any]) -> None:
    # Given the policies that grant Bedrock actions (each behind a condition on the model id)
    granting = {
        owner
        for owner, _, statement in pol.identity_policies(resources)
        if any(a.lower().startswith("bedrock:") for a in pol.actions(statement))
    }
    assert granting and all("Condition" in resources[name] for name in granting)

    # Then a no-op resource refers to each one behind that policy's own condition
    waiter = resources["ModelPoliciesAttached"]
    references = {json.dumps(reference, sort_keys=True) for reference in waiter["Metadata"]["Policies"]}
    assert references == {
        json.dumps({"Fn::If": [resources[name]["Condition"], {"Ref": name}, ""]}, sort_keys=True)
        for name in granting
    }
    # And each function depends on it, so none runs before it may invoke its model
    for function in ROLES:
        assert "ModelPoliciesAttached" in pol.as_list(resources[function].get("DependsOn", [])), function


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
