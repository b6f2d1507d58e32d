"""Which docclass stack a day-2 command acts on: a deployed one (`--stack NAME`, read from its
CloudFormation outputs) or the local one (`--endpoint-url URL --bucket B`), with its clients.

Every operating command (status, redrive, backfill, reindex, reclassify) adds the same options
with `add_target_arguments` and turns them into a `Target` with `resolve_target`, so the stack is
found, and the errors worded, the same way everywhere. Errors are `CommandError`: one line for
stderr, no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

DEFAULT_LOCAL_ENDPOINT = "http://127.0.0.1:4566"
DEFAULT_LOCAL_BUCKET = "docclass-local"

# The stack outputs a command needs (template.yaml, Outputs), by the role they play here.
STACK_OUTPUTS = {
    "bucket": "DocumentBucketName",
    "inbox": "InboxQueueUrl",
    "gallery": "GalleryQueueUrl",
    "inbox_dlq": "InboxDeadLetterQueueUrl",
    "gallery_dlq": "GalleryDeadLetterQueueUrl",
}
# The local stack names each template queue `<bucket>-<LogicalId>` (docclass_local.stack).
LOCAL_QUEUE_IDS = {
    "inbox": "InboxQueue",
    "gallery": "GalleryQueue",
    "inbox_dlq": "InboxDeadLetterQueue",
    "gallery_dlq": "GalleryDeadLetterQueue",
}


class CommandError(Exception):
    """A day-2 command cannot go on; str() is the one line printed on stderr."""


@dataclass(frozen=True)
class Queues:
    """The stack's four queue URLs."""

    inbox: str
    gallery: str
    inbox_dlq: str
    gallery_dlq: str

    def by_name(self) -> dict[str, str]:
        """Queue name (the last part of the URL) -> URL, for status tables."""
        return {
            url.rsplit("/", 1)[-1]: url
            for url in (self.gallery, self.gallery_dlq, self.inbox, self.inbox_dlq)
        }

    def pairs(self) -> list[tuple[str, str, str]]:
        """(which, source queue URL, its dead-letter queue URL) for both flows."""
        return [("inbox", self.inbox, self.inbox_dlq), ("gallery", self.gallery, self.gallery_dlq)]


@dataclass
class Target:
    """A resolved stack: where it is, its bucket and queues, and clients for it."""

    bucket: str
    queues: Queues
    session: Any
    endpoint_url: str | None = None
    stack_name: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def local(self) -> bool:
        """True for the local stack (moto's server): no CloudWatch alarms, no SQS move tasks."""
        return self.endpoint_url is not None

    @property
    def description(self) -> str:
        """How the target is named in what a command prints."""
        if self.stack_name:
            where = f" at {self.endpoint_url}" if self.endpoint_url else ""
            return f"stack {self.stack_name}{where} (bucket {self.bucket})"
        return f"local stack at {self.endpoint_url} (bucket {self.bucket})"

    def client(self, service: str) -> Any:
        """One client per service, on the target's endpoint (if any), created on first use."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url)
        return self._clients[service]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    @property
    def cloudwatch(self) -> Any:
        return self.client("cloudwatch")


def add_target_arguments(parser: argparse.ArgumentParser, *, changes: bool = True) -> None:
    """The options every day-2 command takes; changes=False (status) leaves out --yes/--dry-run."""
    where = parser.add_argument_group("which stack")
    where.add_argument("--stack", metavar="NAME", help="a deployed stack: bucket and queues from its outputs")
    where.add_argument(
        "--endpoint-url",
        metavar="URL",
        default=None,
        help=f"the local stack's endpoint (default $AWS_ENDPOINT_URL or {DEFAULT_LOCAL_ENDPOINT}); "
        "with --stack: CloudFormation, S3 and SQS at that endpoint",
    )
    where.add_argument("--bucket", help=f"the local stack's bucket (default {DEFAULT_LOCAL_BUCKET})")
    where.add_argument("--profile", help="AWS profile (as the AWS CLI reads it)")
    where.add_argument("--region", help="AWS region (default: the profile's or $AWS_DEFAULT_REGION)")
    if changes:
        parser.add_argument("--yes", "-y", action="store_true", help="do it without asking")
        parser.add_argument(
            "--dry-run", action="store_true", help="print what would be done and change nothing"
        )


def resolve_target(args: argparse.Namespace, *, session_factory: Callable[..., Any] | None = None) -> Target:
    """The stack the options name, with its queues; CommandError with one line if it cannot be found.

    session_factory builds the boto3 Session (tests inject one whose clients are stubbed).
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

    stack = getattr(args, "stack", None)
    bucket = getattr(args, "bucket", None)
    endpoint = getattr(args, "endpoint_url", None)
    if stack and bucket:
        raise CommandError("give either --stack NAME or --bucket B (the local stack), not both")
    factory = session_factory or boto3.session.Session
    try:
        if stack:
            session = factory(profile_name=args.profile, region_name=args.region)
            return _from_stack(session, stack, endpoint)
        endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_LOCAL_ENDPOINT
        session = factory(profile_name=args.profile, region_name=args.region or _local_region())
        if session.get_credentials() is None:  # moto accepts any credentials: do not ask for real ones
            session = factory(
                aws_access_key_id="docclass-local",
                aws_secret_access_key="docclass-local",  # noqa: S106 - not a secret: moto's server
                region_name=args.region or _local_region(),
            )
        return _local(session, bucket or DEFAULT_LOCAL_BUCKET, endpoint)
    except ProfileNotFound as exc:
        raise CommandError(str(exc)) from exc
    except NoCredentialsError as exc:
        raise CommandError(
            "no AWS credentials found: set AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, as for the AWS CLI"
        ) from exc
    except ClientError as exc:
        raise CommandError(_client_error_line(exc)) from exc
    except BotoCoreError as exc:
        raise CommandError(str(exc)) from exc


def _local_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _from_stack(session: Any, name: str, endpoint: str | None) -> Target:
    from botocore.exceptions import ClientError

    if session.region_name is None:
        raise CommandError("no AWS region: pass --region or set AWS_DEFAULT_REGION (or the profile's region)")
    if session.get_credentials() is None:
        raise CommandError(
            "no AWS credentials found: set AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, as for the AWS CLI"
        )
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        # CloudFormation answers an unknown stack with ValidationError "Stack with id X does not exist".
        if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
            raise CommandError(f"stack {name} not found in {session.region_name}") from exc
        raise
    if not stacks:
        raise CommandError(f"stack {name} not found in {session.region_name}")
    found = stacks[0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    missing = [key for key in STACK_OUTPUTS.values() if not outputs.get(key)]
    if missing:
        status = found.get("StackStatus", "")
        raise CommandError(
            f"stack {name} ({status}) has no output {', '.join(missing)}: is it a docclass stack, "
            "deployed from this template?"
        )
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters", [])}
    values = {role: outputs[key] for role, key in STACK_OUTPUTS.items()}
    bucket = values.pop("bucket")
    return Target(
        bucket=bucket,
        queues=Queues(**values),
        session=session,
        endpoint_url=endpoint,
        stack_name=name,
        parameters=parameters,
    )


def _local(session: Any, bucket: str, endpoint: str) -> Target:
    from botocore.exceptions import ClientError, EndpointConnectionError

    from docclass_local.template import read_local_template

    sqs = session.client("sqs", endpoint_url=endpoint)
    urls = {}
    for role, logical_id in LOCAL_QUEUE_IDS.items():
        name = f"{bucket}-{logical_id}"
        try:
            urls[role] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except EndpointConnectionError as exc:
            raise CommandError(f"nothing answers at {endpoint}: is `docclass serve` running?") from exc
        except ClientError as exc:
            raise CommandError(
                f"no queue {name} at {endpoint}: is `docclass serve --bucket {bucket}` running?"
            ) from exc
    # The local stack reads its parameters from template.yaml (defaults, no overrides known here).
    parameters = dict(read_local_template(bucket=bucket).parameters)
    target = Target(
        bucket=bucket, queues=Queues(**urls), session=session, endpoint_url=endpoint, parameters=parameters
    )
    target._clients["sqs"] = sqs
    return target


def _client_error_line(exc: Any) -> str:
    error = exc.response.get("Error", {})
    return f"{exc.operation_name}: {error.get('Code', '')} {error.get('Message', '')}".strip()


def confirm(
    args: argparse.Namespace, question: str, *, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> None:
    """Ask before changing anything, unless --yes; CommandError if the answer is not yes.

    Without a terminal to ask on (a script, CI), refuse instead of waiting: --yes is the way to say it.
    """
    if getattr(args, "yes", False):
        return
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    if not _isatty(stdin):
        raise CommandError("not confirmed: stdin is not a terminal, pass --yes to go ahead")
    stdout.write(f"{question} [y/N] ")
    stdout.flush()
    answer = stdin.readline().strip().lower()
    if answer not in {"y", "yes"}:
        raise CommandError("not confirmed: nothing changed")


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def vector_space(model_id: str, parameters: Mapping[str, str], *, following: bool = False) -> str:
    """The name a stack keeps model_id's index under, given the stack's parameters (its options;
    following: the next model's, NextNovaDetailLevel and the rest, each empty one the live one's)."""
    from docclass.errors import ConfigError
    from docclass.models import ModelOptions, resolve

    defaults = ModelOptions()

    def option(name: str, default: str) -> str:
        live = parameters.get(name) or default
        return (parameters.get(f"Next{name}") or live) if following else live

    try:
        options = ModelOptions(
            option("NovaDetailLevel", defaults.nova_detail_level),
            option("NovaEmbeddingPurpose", defaults.nova_embedding_purpose),
            option("CohereInputType", defaults.cohere_input_type),
        )
        return resolve(model_id, "the model").vector_space(options)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
