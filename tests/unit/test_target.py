"""`--stack NAME` resolution (CloudFormation DescribeStacks, stubbed) and the shared command rules:
one-line errors, confirmation, exit codes."""

from __future__ import annotations

import argparse
import io
from typing import Any, ClassVar

import boto3
import pytest
from botocore.stub import Stubber

from docclass_local.cli import main
from docclass_local.target import STACK_OUTPUTS, CommandError, add_target_arguments, confirm, resolve_target

OUTPUTS = {
    "DocumentBucketName": "docs-123456789012-eu-west-1",
    "InboxQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/docs-InboxQueue-A1",
    "GalleryQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/docs-GalleryQueue-B2",
    "InboxDeadLetterQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/docs-InboxDeadLetterQueue-C3",
    "GalleryDeadLetterQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/docs-GalleryDeadLetterQueue-D4",
    "ClassifyFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:docs-ClassifyFunction",
}


def described(outputs: dict[str, str], name: str = "docs") -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": name,
                "CreationTime": "2026-01-01T00:00:00Z",
                "StackStatus": "UPDATE_COMPLETE",
                "Parameters": [{"ParameterKey": "ClassifyMaxConcurrency", "ParameterValue": "8"}],
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


class StubbedSession(boto3.session.Session):
    """A real Session (credentials, region) whose CloudFormation client answers from a Stubber
    loaded with `StubbedSession.answers`: (method, response dict or (code, message), params)."""

    answers: ClassVar[list[tuple[str, Any, dict[str, Any]]]] = []

    def client(self, service: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        client = super().client(service, *args, **kwargs)
        if service == "cloudformation":
            stub = Stubber(client)
            for method, answer, params in StubbedSession.answers:
                if isinstance(answer, dict):
                    stub.add_response(method, answer, params)
                else:
                    stub.add_client_error(method, answer[0], answer[1], 400, expected_params=params)
            stub.activate()
        return client


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_target_arguments(parser)
    return parser.parse_args(list(argv))


def test_stack_outputs_give_the_bucket_the_four_queues_and_the_parameters():
    # given a stack whose outputs name the bucket and queues
    StubbedSession.answers = [("describe_stacks", described(OUTPUTS), {"StackName": "docs"})]
    # when it is resolved
    target = resolve_target(parse("--stack", "docs", "--region", "eu-west-1"), session_factory=StubbedSession)
    # then every role maps to its output, and nothing is treated as the local stack
    assert target.bucket == OUTPUTS["DocumentBucketName"]
    assert target.queues.inbox == OUTPUTS["InboxQueueUrl"]
    assert target.queues.gallery_dlq == OUTPUTS["GalleryDeadLetterQueueUrl"]
    assert target.stack_name == "docs" and not target.local
    assert target.parameters["ClassifyMaxConcurrency"] == "8"


def test_an_unknown_stack_is_one_clear_error():
    StubbedSession.answers = [
        ("describe_stacks", ("ValidationError", "Stack with id nope does not exist"), {"StackName": "nope"})
    ]
    with pytest.raises(CommandError, match=r"^stack nope not found in eu-west-1$"):
        resolve_target(parse("--stack", "nope", "--region", "eu-west-1"), session_factory=StubbedSession)


@pytest.mark.parametrize("missing", sorted(STACK_OUTPUTS.values()))
def test_a_stack_without_an_output_names_the_output(missing):
    outputs = {k: v for k, v in OUTPUTS.items() if k != missing}
    StubbedSession.answers = [("describe_stacks", described(outputs), {"StackName": "docs"})]
    with pytest.raises(CommandError, match=f"has no output {missing}"):
        resolve_target(parse("--stack", "docs", "--region", "eu-west-1"), session_factory=StubbedSession)


def test_status_of_an_unknown_stack_exits_non_zero_with_one_line(monkeypatch, capsys):
    StubbedSession.answers = [
        ("describe_stacks", ("ValidationError", "Stack with id nope does not exist"), {"StackName": "nope"})
    ]
    monkeypatch.setattr(boto3.session, "Session", StubbedSession)
    code = main(["status", "--stack", "nope", "--region", "eu-west-1"])
    err = capsys.readouterr().err
    assert code == 1
    assert err == "docclass status: error: stack nope not found in eu-west-1\n"


def test_no_credentials_is_one_line_and_non_zero(monkeypatch, tmp_path, capsys):
    # given an environment with no credentials anywhere (and no instance metadata to ask)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    # when redrive is asked of a deployed stack
    code = main(["redrive", "--stack", "docs", "--region", "eu-west-1", "--yes"])
    err = capsys.readouterr().err
    # then
    assert code == 1
    assert err.startswith("docclass redrive: error: no AWS credentials found") and err.count("\n") == 1


def test_an_unknown_profile_is_one_line_and_non_zero(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    code = main(["status", "--stack", "docs", "--profile", "nobody"])
    assert code == 1
    assert "nobody" in capsys.readouterr().err


def test_stack_and_bucket_together_are_refused():
    with pytest.raises(CommandError, match="either --stack"):
        resolve_target(parse("--stack", "docs", "--bucket", "b"))


def test_confirmation_is_refused_without_a_terminal_and_without_yes():
    class Piped(io.StringIO):
        def isatty(self) -> bool:
            return False

    with pytest.raises(CommandError, match="--yes"):
        confirm(parse(), "go?", stdin=Piped("y\n"), stdout=io.StringIO())
    confirm(parse("--yes"), "go?", stdin=Piped(""), stdout=io.StringIO())  # --yes: no question


@pytest.mark.parametrize(("answer", "goes"), [("y\n", True), ("yes\n", True), ("\n", False), ("n\n", False)])
def test_confirmation_on_a_terminal_needs_a_yes(answer, goes):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = io.StringIO()
    if goes:
        confirm(parse(), "copy 3 objects?", stdin=Terminal(answer), stdout=out)
    else:
        with pytest.raises(CommandError, match="not confirmed"):
            confirm(parse(), "copy 3 objects?", stdin=Terminal(answer), stdout=out)
    assert out.getvalue() == "copy 3 objects? [y/N] "
