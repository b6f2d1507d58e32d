"""The IAM check of the handlers' recorded calls: every S3 and Bedrock call a function's code made
(tests/iam_calls.py) is replayed against the IAM policy of that function's role in the transformed
template. A call the role would deny is a problem; so is a grant that no call needs, when every
integration test ran and passed. tests/conftest.py runs it once per session, after every test, in
the process that saw all of them (pytest-xdist's controller, or the only process);
tests/unit/test_iam.py tests the mapping from calls to IAM actions.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

import policies as pol
import pytest
from iam_calls import Call, SessionRecords

from docclass import models
from docclass.errors import ConfigError
from docclass_local.template import load_template, transformed_resources

# Sample values for the pseudo parameters in Fn::Sub strings: the region is the one the tests'
# clients use (conftest's AWS_DEFAULT_REGION and the local stack's), so a model ARN built from a
# recorded call's region meets the template's.
PSEUDO_PARAMETERS = pol.PSEUDO_PARAMETERS

# template.yaml as written, read once (the Bedrock checks deploy it with many parameter values).
_template = functools.cache(load_template)


def _parameter_defaults() -> dict[str, str]:
    parameters = load_template()["Parameters"]
    return {name: str(p["Default"]) for name, p in parameters.items() if "Default" in p}


def _text(value: Any, variables: dict[str, str] | None = None) -> str:
    """A policy element as text: a string itself, a Fn::Sub its string with the pseudo parameters
    (and the given variables) filled in, anything else (Ref, Fn::GetAtt, Fn::If...) as JSON."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = str(pol.as_list(value["Fn::Sub"])[0])
    if isinstance(value, str):
        for name, sample in {**PSEUDO_PARAMETERS, **(variables or {})}.items():
            value = value.replace("${" + name + "}", sample)
        return value
    return json.dumps(value, sort_keys=True)


def _function_statements(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """Every statement of a function's role (inline, and every policy attached to the role) as the
    stack is deployed with its parameters' defaults: a policy whose Condition is then false (the
    next model's grant without NextEmbeddingModelId, an inference profile's) does not exist."""
    role = pol.function_roles(resources)[function]
    deployment = pol.Deployment(_template())
    return [
        s
        for name, owner, s in pol.identity_policies(resources)
        if owner == role and deployment.exists(resources[name])
    ]


# ------------------------------------------------------------------------------------------------
# Every call the handlers make is allowed, and every S3 and Bedrock grant is needed by a call
# ------------------------------------------------------------------------------------------------

# The services whose calls are recorded, and the IAM prefixes of their grants. KMS is not among
# them: the functions never call KMS themselves, S3 does it for them on an SSE-KMS object; those
# grants exist only with KmsKeyArn (test_kms_key_is_granted_only_when_set_and_only_that_key).
# SQS, CloudWatch Logs and X-Ray are used with the role by Lambda itself, not by the handler
# (test_each_function_consumes_only_its_own_queue, test_no_iam_statement_allows_a_wildcard...).
CHECKED_PREFIXES = ("s3:", "bedrock:")
NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class Need:
    """One IAM authorisation a request needs: an action on a resource, with its condition keys."""

    action: str
    resource: str  # the ARN
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Grant:
    """One action x one resource of a role statement that names S3 or Bedrock actions."""

    function: str
    sid: str
    effect: str
    action: str
    resource: str  # ARN pattern, pseudo parameters and parameter defaults filled in
    condition: str  # the statement's Condition as JSON ("{}" when none)

    def matches(self, need: Need) -> bool:
        if not fnmatch.fnmatchcase(need.action.lower(), self.action.lower()):
            return False
        if not _arn_matches(self.resource, need.resource):
            return False
        return _condition_holds(json.loads(self.condition), dict(need.context), self)


_arn_matches = pol.arn_matches


def _condition_holds(condition: dict[str, Any], context: dict[str, str], grant: Grant) -> bool:
    """The condition operators the S3 grants may use on a listing's prefix; anything else is refused
    loudly rather than guessed."""
    for operator, keys in condition.items():
        for key, values in keys.items():
            if operator not in ("StringEquals", "StringLike") or key not in ("s3:prefix", "s3:delimiter"):
                raise AssertionError(
                    f"{grant.function}/{grant.sid}: condition {operator} {key} is not understood by "
                    "test_iam.py; teach _condition_holds what IAM does with it"
                )
            if key not in context:
                return False
            if operator == "StringEquals" and context[key] not in pol.as_list(values):
                return False
            if operator == "StringLike" and not any(
                _arn_matches(str(v), context[key]) for v in pol.as_list(values)
            ):
                return False
    return True


def _role_grants(resources: dict[str, Any]) -> list[Grant]:
    """Every (action, resource) of every S3 or Bedrock statement of each function's role."""
    variables = _parameter_defaults()
    bucket_name = _text(resources["DocumentBucket"]["Properties"]["BucketName"], variables)
    variables |= {"DocumentBucket": bucket_name, "DocumentBucket.Arn": f"arn:aws:s3:::{bucket_name}"}
    grants = []
    for function in pol.function_roles(resources):
        for statement in _function_statements(resources, function):
            actions = [a for a in pol.actions(statement) if a.lower().startswith(CHECKED_PREFIXES)]
            assert "NotAction" not in statement and "NotResource" not in statement, statement
            for action in actions:
                for resource in pol.as_list(statement["Resource"]):
                    if (
                        isinstance(resource, dict)
                        and "Fn::GetAtt" in resource
                        and pol.target(resource) == "DocumentBucket"
                    ):
                        resource = variables["DocumentBucket.Arn"]
                    text = _text(resource, variables)
                    assert text.startswith("arn:") or text == "*", f"cannot read {resource!r} as an ARN"
                    condition = json.dumps(statement.get("Condition", {}), sort_keys=True)
                    grants.append(
                        Grant(
                            function, statement.get("Sid", "?"), statement["Effect"], action, text, condition
                        )
                    )
    return grants


def _copy_source(text: str) -> tuple[str, str, str | None]:
    """(bucket, key, version) of CopyObject's CopySource, as a dict (recorded as k=v&...) or as
    the "bucket/key?versionId=..." string."""
    if text.startswith(("Bucket=", "Key=", "VersionId=")):
        fields = dict(item.split("=", 1) for item in text.split("&"))
        return fields["Bucket"], fields["Key"], fields.get("VersionId")
    path, _, query = text.lstrip("/").partition("?")
    bucket, _, key = path.partition("/")
    return bucket, unquote(key), dict(parse_qsl(query)).get("versionId")


def needs(call: Call, bucket_arn: str, model_region: str) -> list[Need]:
    """The IAM authorisations one recorded call needs, as the S3 and Bedrock docs map them.

    S3 API operations to actions: "Actions, resources, and condition keys for Amazon S3"
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html) and
    "Required permissions for Amazon S3 API operations"
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html):
    - GetObject / HeadObject: s3:GetObject, or s3:GetObjectVersion with a VersionId. When the key
      does not exist S3 answers 404 only to a caller that also has s3:ListBucket on the bucket
      (403 AccessDenied otherwise), and the code relies on telling "not there" from "not allowed":
      such a call needs s3:ListBucket too
      (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, API_HeadObject.html).
    - PutObject: s3:PutObject, + s3:PutObjectTagging with Tagging, s3:PutObjectAcl with an ACL,
      s3:PutObjectRetention / s3:PutObjectLegalHold with Object Lock settings.
    - CopyObject: s3:GetObject (s3:GetObjectVersion) on the source and s3:PutObject on the
      destination. Its TaggingDirective defaults to COPY: copying an object that has tags needs
      s3:GetObjectTagging on the source and s3:PutObjectTagging on the destination
      (https://repost.aws/knowledge-center/s3-troubleshoot-copy-between-buckets). Whether an
      uploader tagged a document is the uploader's choice, so a copy that carries tags needs both
      whatever the document at hand.
    - DeleteObject: s3:DeleteObject, or s3:DeleteObjectVersion with a VersionId; a conditional
      delete with an ETag (If-Match) needs s3:GetObject too
      (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html).
    - ListObjectsV2: s3:ListBucket on the bucket ARN, with the condition keys s3:prefix and
      s3:delimiter set from the request.
    - Get/PutObjectTagging: s3:Get/PutObjectTagging (the Version form with a VersionId).
    bedrock-runtime InvokeModel: bedrock:InvokeModel on the foundation model's ARN
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonbedrock.html);
    through a cross-region inference profile, on the profile's ARN and on the foundation model with
    bedrock:InferenceProfileArn set to the profile (geographic-cross-region-inference.html; the
    model's region is the profile's choice: the caller's stands for it here).
    """
    p = call.param
    if call.service == "bedrock-runtime":
        if call.operation not in ("InvokeModel", "InvokeModelWithResponseStream"):
            raise AssertionError(f"no IAM mapping for bedrock-runtime {call.operation}: add it to needs()")
        action, model = f"bedrock:{call.operation}", p["modelId"]
        if model.startswith("arn:"):
            return [Need(action, model)]
        profile = _profile_of(model)
        if profile is None:
            return [Need(action, f"arn:aws:bedrock:{model_region}::foundation-model/{model}")]
        profile_arn = (
            f"arn:aws:bedrock:{model_region}:{PSEUDO_PARAMETERS['AWS::AccountId']}:inference-profile/{model}"
        )
        return [
            Need(action, profile_arn),
            Need(
                action,
                f"arn:aws:bedrock:{model_region}::foundation-model/{profile.base_model_id}",
                (("bedrock:InferenceProfileArn", profile_arn),),
            ),
        ]
    if call.service != "s3":
        raise AssertionError(f"no IAM mapping for {call.service}: add the service to needs()")

    def object_arn(bucket: str, key: str) -> str:
        # The function's own bucket is the template's; any other bucket keeps its own name.
        name = bucket_arn if bucket == call.bucket_name else f"arn:aws:s3:::{bucket}"
        return f"{name}/{key}"

    bucket = bucket_arn if p.get("Bucket") == call.bucket_name else f"arn:aws:s3:::{p.get('Bucket')}"
    versioned = "VersionId" in p
    op = call.operation
    if op in ("ListObjectsV2", "ListObjects"):
        context = tuple(
            (key, p[param])
            for key, param in (("s3:prefix", "Prefix"), ("s3:delimiter", "Delimiter"))
            if param in p
        )
        return [Need("s3:ListBucket", bucket, context)]
    target = object_arn(p["Bucket"], p["Key"])
    if op in ("GetObject", "HeadObject"):
        found = [Need("s3:GetObjectVersion" if versioned else "s3:GetObject", target)]
        return found + ([Need("s3:ListBucket", bucket)] if call.error in NOT_FOUND else [])
    if op == "PutObject":
        return [Need("s3:PutObject", target), *_write_extras(p, target, tags_copied=False)]
    if op == "CopyObject":
        source_bucket, source_key, source_version = _copy_source(p["CopySource"])
        source = object_arn(source_bucket, source_key)
        tags_copied = p.get("TaggingDirective", "COPY") == "COPY"
        read = [Need("s3:GetObjectVersion" if source_version else "s3:GetObject", source)]
        if tags_copied:
            read.append(
                Need("s3:GetObjectVersionTagging" if source_version else "s3:GetObjectTagging", source)
            )
        return [*read, Need("s3:PutObject", target), *_write_extras(p, target, tags_copied)]
    if op == "DeleteObject":
        delete = [Need("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", target)]
        if p.get("IfMatch", "*") != "*":
            delete.append(Need("s3:GetObject", target))
        return delete
    if op in ("GetObjectTagging", "PutObjectTagging"):
        verb = op.removesuffix("ObjectTagging")
        return [Need(f"s3:{verb}ObjectVersionTagging" if versioned else f"s3:{verb}ObjectTagging", target)]
    raise AssertionError(f"no IAM mapping for s3 {op}: add it to needs() with its documented actions")


def _profile_of(model_id: str) -> models.Model | None:
    """The Model of an inference profile id; None for a foundation model's id or an unknown one."""
    try:
        model = models.resolve(model_id)
    except ConfigError:
        return None
    return model if model.profile else None


def _allowed_with_the_model_of(resources: dict[str, Any], call: Call, need: Need) -> bool:
    """Whether a Bedrock call is allowed by the stack deployed, in the call's region, with the model
    it invoked as EmbeddingModelId or NextEmbeddingModelId (a test that ran the local stack or the
    tools on another model than the default). An id the template does not accept allows nothing."""
    model = call.param.get("modelId", "")
    if call.service != "bedrock-runtime" or model not in models.supported_model_ids():
        return False
    role = pol.function_roles(resources)[call.function]
    for parameter in ("EmbeddingModelId", "NextEmbeddingModelId"):
        deployment = pol.Deployment(_template(), {parameter: model}, region=call.region)
        grants = pol.allow_grants(resources, deployment, role, "bedrock:")
        if any(grant.allows(need.action, need.resource, dict(need.context)) for grant in grants):
            return True
    return False


def _write_extras(p: dict[str, str], target: str, tags_copied: bool) -> list[Need]:
    extras = []
    if tags_copied or "Tagging" in p:
        extras.append(Need("s3:PutObjectTagging", target))
    if any(k in p for k in ("ACL", "GrantFullControl", "GrantRead", "GrantReadACP", "GrantWriteACP")):
        extras.append(Need("s3:PutObjectAcl", target))
    if "ObjectLockMode" in p or "ObjectLockRetainUntilDate" in p:
        extras.append(Need("s3:PutObjectRetention", target))
    if "ObjectLockLegalHoldStatus" in p:
        extras.append(Need("s3:PutObjectLegalHold", target))
    return extras


def _prefix_of(resource: str, bucket_arn: str) -> str:
    """An object ARN shown by its top-level prefix (bucket/classified/*): one line per prefix."""
    key = resource.removeprefix(bucket_arn + "/")
    if key == resource or "/" not in key:
        return resource
    return f"{bucket_arn}/{key.split('/')[0]}/*"


def _describe(call: Call) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in call.params)
    answer = f" -> {call.error}" if call.error else ""
    return f"{call.function}: {call.service} {call.operation}({shown}){answer}"


def problems(calls: list[Call], resources: dict[str, Any], check_use: bool) -> list[str]:
    """What is wrong with the roles, judged by the calls: DENIED lines for calls a role would refuse
    and, with check_use (every integration test ran and passed), UNUSED / UNNEEDED lines for grants
    no call needs."""
    # Given each function's S3 and Bedrock grants (resources as ARNs of the deployed stack)
    grants = _role_grants(resources)
    bucket_arn = "arn:aws:s3:::" + _text(
        resources["DocumentBucket"]["Properties"]["BucketName"], _parameter_defaults()
    )
    functions = set(pol.function_roles(resources))
    unknown = {call.function for call in calls} - functions
    assert not unknown, f"calls recorded for functions the template does not have: {sorted(unknown)}"

    # When checking each authorisation each call needs against its function's role
    denied: dict[str, set[str]] = {}
    needed_by: dict[Grant, str] = {}
    shared: dict[Grant, str] = {}
    for call in calls:
        own = [g for g in grants if g.function == call.function]
        for need in needs(call, bucket_arn, call.region):
            allowing = [g for g in own if g.effect == "Allow" and g.matches(need)]
            if not allowing and _allowed_with_the_model_of(resources, call, need):
                continue  # a test that ran the stack with another model (grants checked for use: defaults)
            if not allowing or any(g.effect == "Deny" and g.matches(need) for g in own):
                reason = f"{call.function} needs {need.action} on {_prefix_of(need.resource, bucket_arn)}" + (
                    f" with {dict(need.context)}" if need.context else ""
                )
                denied.setdefault(reason, set()).add(_describe(call))
            elif len(allowing) == 1:
                needed_by.setdefault(allowing[0], _describe(call))
            else:
                for grant in allowing:
                    shared.setdefault(grant, _describe(call))

    # Then the role allows every one of them (IAM would answer AccessDenied otherwise)
    found = [
        f"DENIED {reason}: {len(examples)} call(s), e.g. {sorted(examples)[0]}"
        for reason, examples in sorted(denied.items())
    ]
    # And, when every integration test ran and passed, every grant is needed by a call: a grant
    # that allows no recorded call, or only calls that other grants allow too, can go.
    if check_use:
        for grant in grants:
            if grant.effect != "Allow" or grant in needed_by:
                continue
            where = f"{grant.function}/{grant.sid}: {grant.action} on {grant.resource}"
            if grant in shared:
                found.append(f"UNNEEDED {where}: every call it allows is allowed by another grant too")
            else:
                found.append(f"UNUSED {where}: no handler call needs it")
    return found


# The check's result is reported as one more test result, under this id.
NODEID = "tests/iam_check.py::every_call_the_handlers_made_is_allowed_and_every_grant_is_needed"


def session_report(records: SessionRecords) -> pytest.TestReport | None:
    """The check over the whole session's records, as a test report (None when neither a handler
    ran nor an integration test was collected: nothing to check)."""
    calls = records.sorted_calls()
    if not calls and not records.run.collected:
        return None
    started = time.monotonic()
    complete, why_not = records.run.complete()
    longrepr: Any = None
    try:
        found = problems(calls, transformed_resources(), check_use=complete)
    except Exception as exc:  # the check itself broke: say so as a failure, not as an internal error
        found = [f"the IAM check raised {type(exc).__name__}: {exc}"]
    if found:
        outcome, longrepr = "failed", "\n".join(found)
    elif not complete:
        outcome = "skipped"
        longrepr = (__file__, 0, f"Skipped: calls all allowed; grants not checked for use: {why_not}")
    else:
        outcome = "passed"
    return pytest.TestReport(
        nodeid=NODEID,
        location=("tests/iam_check.py", None, "every call the handlers made is allowed, every grant needed"),
        keywords={},
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=longrepr,
        when="call",
        duration=time.monotonic() - started,
    )
