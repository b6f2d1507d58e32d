"""The day-2 commands against moto: `--stack` through moto's CloudFormation, status's alarms,
stranded documents, backfill's never-twice rule and redrive's never-lose rule."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from docclass_local.backfill import Checkpoint, RateLimiter, Source, list_sources, run_backfill
from docclass_local.cli import main
from docclass_local.health import collect_health
from docclass_local.redrive import QueueMove, redrive
from docclass_local.target import Target, add_target_arguments, resolve_target

STACK = "docs"
BUCKET = "docs-bucket"
ARCHIVE = "old-archive"

# A stand-in for template.yaml with what moto's CloudFormation can create: the bucket, the four
# queues (each source queue with its redrive policy) and the outputs docclass reads.
TEMPLATE = {
    "Parameters": {
        "EmbeddingModelId": {"Type": "String", "Default": "amazon.titan-embed-image-v1"},
        "EmbeddingDimension": {"Type": "Number", "Default": 1024},
        "NextEmbeddingModelId": {"Type": "String", "Default": ""},
    },
    "Resources": {
        "DocumentBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": BUCKET}},
        "InboxDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "docs-InboxDeadLetterQueue"},
        },
        "GalleryDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "docs-GalleryDeadLetterQueue"},
        },
        "InboxQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": "docs-InboxQueue",
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["InboxDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": 5,
                },
            },
        },
        "GalleryQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": "docs-GalleryQueue",
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["GalleryDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": 5,
                },
            },
        },
    },
    "Outputs": {
        "DocumentBucketName": {"Value": {"Ref": "DocumentBucket"}},
        "InboxQueueUrl": {"Value": {"Ref": "InboxQueue"}},
        "GalleryQueueUrl": {"Value": {"Ref": "GalleryQueue"}},
        "InboxDeadLetterQueueUrl": {"Value": {"Ref": "InboxDeadLetterQueue"}},
        "GalleryDeadLetterQueueUrl": {"Value": {"Ref": "GalleryDeadLetterQueue"}},
    },
}


def stack_args(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_target_arguments(parser)
    return parser.parse_args(["--stack", STACK, *extra])


@pytest.fixture
def deployed() -> Iterator[Target]:
    """A docclass-shaped stack in moto's CloudFormation, resolved the way the commands do."""
    with mock_aws():
        boto3.client("cloudformation", region_name="us-east-1").create_stack(
            StackName=STACK, TemplateBody=json.dumps(TEMPLATE)
        )
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=ARCHIVE)
        yield resolve_target(stack_args())


def test_the_stack_is_found_through_its_cloudformation_outputs(deployed):
    # then the bucket and the four queues are the stack's, by URL
    assert deployed.bucket == BUCKET
    assert deployed.queues.inbox.endswith("/docs-InboxQueue")
    assert deployed.queues.gallery_dlq.endswith("/docs-GalleryDeadLetterQueue")
    assert deployed.sqs.get_queue_attributes(QueueUrl=deployed.queues.inbox, AttributeNames=["All"])


def test_status_lists_only_this_stacks_alarms_in_alarm(deployed):
    # given one alarm of this stack in ALARM, one of this stack OK, one of another stack in ALARM
    cloudwatch = deployed.cloudwatch
    for name in ("docs-InboxDeadLetters", "docs-ClassifyErrors", "other-InboxDeadLetters"):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        )
    cloudwatch.set_alarm_state(
        AlarmName="docs-InboxDeadLetters", StateValue="ALARM", StateReason="3 dead letters"
    )
    cloudwatch.set_alarm_state(AlarmName="other-InboxDeadLetters", StateValue="ALARM", StateReason="not ours")
    # when status is collected
    status = collect_health(deployed)
    # then only this stack's alarm in ALARM is reported
    assert [a["name"] for a in status["alarms"]["in_alarm"]] == ["docs-InboxDeadLetters"]
    assert status["alarms"]["in_alarm"][0]["reason"] == "3 dead letters"


def test_inbox_documents_no_queue_holds_are_counted_once_they_are_old_enough(deployed):
    # given three inbox documents whose events never reached a queue (this stack has no notifications)
    for name in ("a", "b", "c"):
        deployed.s3.put_object(Bucket=BUCKET, Key=f"inbox/2026/{name}.png", Body=b"x")
    soon = lambda: datetime.now(UTC) + timedelta(minutes=1)  # noqa: E731
    later = lambda: datetime.now(UTC) + timedelta(hours=1)  # noqa: E731
    # then none counts while its event may still be on its way
    assert collect_health(deployed, now=soon)["stranded"]["at_least"] == 0
    # and all three, by key, once they are older than the grace period with both queues empty
    stranded = collect_health(deployed, now=later)["stranded"]
    assert stranded == {
        "at_least": 3,
        "exact": True,
        "older_than_minutes": 15,
        "messages_held": 0,
        "keys": ["inbox/2026/a.png", "inbox/2026/b.png", "inbox/2026/c.png"],
    }
    # when one message waits in the dead-letter queue, it may hold one of them: a lower bound, no keys
    deployed.sqs.send_message(QueueUrl=deployed.queues.inbox_dlq, MessageBody="{}")
    stranded = collect_health(deployed, now=later)["stranded"]
    assert (stranded["at_least"], stranded["exact"], stranded["keys"]) == (2, False, [])


def test_status_command_on_a_stack_prints_alarms_and_stranded_documents(deployed, capsys):
    code = main(["status", "--stack", STACK, "--json"])
    status = json.loads(capsys.readouterr().out)
    assert code == 0
    assert status["stack"] == STACK and status["alarms"] == {"available": True, "in_alarm": []}
    assert set(status["oldest_message_age"]) == {
        "docs-InboxQueue",
        "docs-GalleryQueue",
        "docs-InboxDeadLetterQueue",
        "docs-GalleryDeadLetterQueue",
    }


# -- backfill -------------------------------------------------------------------------------------


def archive(target: Target, *names: str) -> list[Any]:
    for name in names:
        target.s3.put_object(Bucket=ARCHIVE, Key=f"scans/{name}", Body=f"bytes of {name}".encode())
    return list(list_sources(target.s3, Source(ARCHIVE, "scans/")))


def route(target: Target, inbox_key: str, label: str) -> None:
    """What ClassifyFunction does with a document: copy to classified/<label>/ with its source
    ETag, then delete it from inbox/."""
    head = target.s3.head_object(Bucket=BUCKET, Key=inbox_key)
    target.s3.copy_object(
        Bucket=BUCKET,
        Key=f"classified/{label}/{inbox_key.removeprefix('inbox/')}",
        CopySource={"Bucket": BUCKET, "Key": inbox_key},
        MetadataDirective="REPLACE",
        Metadata={"docclass-label": label, "docclass-source-etag": head["ETag"].strip('"')},
    )
    target.s3.delete_object(Bucket=BUCKET, Key=inbox_key)


def unlimited() -> RateLimiter:
    return RateLimiter(1000.0, clock=lambda: 0.0, sleep=lambda s: None)


def inbox_and_routed(target: Target) -> list[str]:
    listed = target.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(item["Key"] for item in listed)


def test_backfill_never_overwrites_a_copy_still_waiting_in_inbox(deployed, tmp_path):
    # given an archive object whose copy already waits in inbox/ (an earlier run, checkpoint lost)
    objects = archive(deployed, "2019/a.png")
    deployed.s3.put_object(Bucket=BUCKET, Key="inbox/2019/a.png", Body=b"the waiting copy")
    # when it is backfilled
    report = run_backfill(
        deployed,
        Source(ARCHIVE, "scans/"),
        objects,
        Checkpoint(tmp_path / "c.jsonl"),
        rate=1,
        limiter=unlimited(),
    )
    # then S3's If-None-Match kept the waiting copy, and the object counts as pending
    assert report.counts["pending"] == 1 and report.counts["copied"] == 0
    assert deployed.s3.get_object(Bucket=BUCKET, Key="inbox/2019/a.png")["Body"].read() == b"the waiting copy"


def test_a_backfill_stopped_between_a_copy_and_its_record_does_not_copy_it_again(deployed, tmp_path):
    # given a run that stops right after copying the second of three objects, before recording it
    objects = archive(deployed, "a.png", "b.png", "c.png")
    checkpoint = Checkpoint(tmp_path / "c.jsonl")

    def crash_after_b(obj: Any) -> None:
        if obj.key.endswith("b.png"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_backfill(
            deployed,
            Source(ARCHIVE, "scans/"),
            objects,
            checkpoint,
            rate=1,
            limiter=unlimited(),
            after_copy=crash_after_b,
        )
    checkpoint.close()
    # and the functions routed both copies meanwhile (inbox/ no longer holds them)
    route(deployed, "inbox/a.png", "letter")
    route(deployed, "inbox/b.png", "receipt")
    # when the backfill runs again from its checkpoint
    report = run_backfill(
        deployed,
        Source(ARCHIVE, "scans/"),
        objects,
        Checkpoint(tmp_path / "c.jsonl"),
        rate=1,
        limiter=unlimited(),
    )
    # then a was known done, b was found routed, and only c was copied: nothing twice
    assert report.counts == {
        "copied": 1,
        "pending": 0,
        "routed": 1,
        "skipped": 0,
        "done before": 1,
        "failed": 0,
    }
    assert inbox_and_routed(deployed) == [
        "classified/letter/a.png",
        "classified/receipt/b.png",
        "inbox/c.png",
    ]


def test_backfill_dry_run_copies_nothing_and_writes_no_checkpoint(deployed, tmp_path, capsys):
    archive(deployed, "a.png", "b.png")
    checkpoint = tmp_path / "c.jsonl"
    code = main(
        ["backfill", f"s3://{ARCHIVE}/scans/", "--stack", STACK, "--dry-run", "--checkpoint", str(checkpoint)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "2 to copy" in out and "dry run" in out
    assert inbox_and_routed(deployed) == []
    assert not checkpoint.exists()


def test_backfill_without_yes_and_without_a_terminal_refuses_and_copies_nothing(deployed, tmp_path, capsys):
    archive(deployed, "a.png")
    code = main(
        ["backfill", f"s3://{ARCHIVE}/scans/", "--stack", STACK, "--checkpoint", str(tmp_path / "c.jsonl")]
    )
    assert code == 1
    assert "not confirmed" in capsys.readouterr().err
    assert inbox_and_routed(deployed) == []


def test_backfill_then_a_rerun_copies_each_object_once(deployed, tmp_path, capsys):
    archive(deployed, "x/1.png", "x/2.png", "3.png")
    argv = ["backfill", f"s3://{ARCHIVE}/scans/", "--stack", STACK, "--yes", "--rate", "100"]
    argv += ["--checkpoint", str(tmp_path / "c.jsonl")]
    assert main(argv) == 0
    assert "copied 3" in capsys.readouterr().out
    assert inbox_and_routed(deployed) == ["inbox/3.png", "inbox/x/1.png", "inbox/x/2.png"]
    for key in ("inbox/3.png", "inbox/x/1.png", "inbox/x/2.png"):
        route(deployed, key, "letter")
    # when it runs again
    assert main(argv) == 0
    assert "3 done before" in capsys.readouterr().out
    assert inbox_and_routed(deployed) == [
        "classified/letter/3.png",
        "classified/letter/x/1.png",
        "classified/letter/x/2.png",
    ]


def test_backfill_refuses_the_stacks_own_bucket(deployed, capsys):
    assert main(["backfill", f"s3://{BUCKET}/classified/", "--stack", STACK, "--yes"]) == 1
    assert "use reclassify" in capsys.readouterr().err


def test_the_rate_limiter_spaces_starts_evenly():
    # given a fake clock that moves only when the limiter sleeps
    now = [0.0]
    starts = []
    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    # when ten copies start
    for _ in range(10):
        limiter.wait()
        starts.append(now[0])
    # then they are a quarter of a second apart
    assert starts == [i * 0.25 for i in range(10)]


# -- redrive --------------------------------------------------------------------------------------


def test_a_local_redrive_that_cannot_send_leaves_the_dead_letter_where_it_was(deployed, monkeypatch):
    # given a dead letter, and a source queue that refuses the message (a local-stack target)
    local = Target(BUCKET, deployed.queues, deployed.session, endpoint_url="http://local")
    local._clients["sqs"] = deployed.sqs  # moto's, in this process
    deployed.sqs.send_message(QueueUrl=deployed.queues.inbox_dlq, MessageBody='{"Records": []}')

    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("connection reset")

    monkeypatch.setattr(local.sqs, "send_message", refuse)
    # when it is redriven, the move fails
    with pytest.raises(RuntimeError):
        redrive(local, [QueueMove("inbox", local.queues.inbox, local.queues.inbox_dlq, waiting=1)])
    # then the message is still in the dead-letter queue (sent first, deleted only after)
    monkeypatch.undo()
    attributes = deployed.sqs.get_queue_attributes(QueueUrl=deployed.queues.inbox_dlq, AttributeNames=["All"])
    counts = attributes["Attributes"]
    assert (
        int(counts["ApproximateNumberOfMessages"]) + int(counts["ApproximateNumberOfMessagesNotVisible"]) == 1
    )


def test_redrive_dry_run_and_refusal_change_nothing(deployed, capsys):
    deployed.sqs.send_message(QueueUrl=deployed.queues.gallery_dlq, MessageBody="{}")
    assert main(["redrive", "--stack", STACK, "--dry-run"]) == 0
    assert "would move 1 messages" in capsys.readouterr().out
    assert main(["redrive", "--stack", STACK]) == 1  # no --yes, no terminal
    assert "not confirmed" in capsys.readouterr().err
    counts = deployed.sqs.get_queue_attributes(QueueUrl=deployed.queues.gallery_dlq, AttributeNames=["All"])
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_checkpoint_lines_cut_short_by_a_crash_are_ignored(tmp_path: Path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"key": "a", "state": "copied"}\n{"key": "b", "sta', encoding="utf-8")
    checkpoint = Checkpoint(path)
    assert checkpoint.done("a") and not checkpoint.done("b") and not checkpoint.uncertain("b")


def test_backfill_refuses_a_rate_of_zero(deployed, tmp_path, capsys):
    archive(deployed, "a.png")
    argv = ["backfill", f"s3://{ARCHIVE}/scans/", "--stack", STACK, "--yes", "--rate", "0"]
    assert main([*argv, "--checkpoint", str(tmp_path / "c.jsonl")]) == 1
    assert "--rate must be positive" in capsys.readouterr().err
    assert inbox_and_routed(deployed) == []


def test_reindex_on_a_stack_targets_its_model_and_refuses_one_no_function_keeps(deployed, capsys):
    # given a stack on Titan at 1024 with one gallery example and no index yet
    deployed.s3.put_object(Bucket=BUCKET, Key="gallery/invoice/a.png", Body=b"png")
    # when a dry run looks at it / then it reads the stack's model and dimension from its parameters
    assert main(["reindex", "--stack", STACK, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "index of amazon.titan-embed-image-v1 at 1024 dimensions: not written yet" in out
    assert "1 missing from the index" in out
    # and another model, which GalleryFunction may not invoke nor keeps, is refused before anything is sent
    assert main(["reindex", "--stack", STACK, "--model", "cohere.embed-v4:0", "--yes"]) == 1
    assert (
        "deploy with NextEmbeddingModelId=cohere.embed-v4:0 NextEmbeddingDimension=1024"
        in capsys.readouterr().err
    )
    assert (
        deployed.sqs.get_queue_attributes(
            QueueUrl=deployed.queues.gallery, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "0"
    )
