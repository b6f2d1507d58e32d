"""What only a deployed stack does, with botocore's Stubber (moto has no SQS message move tasks):
redrive with StartMessageMoveTask / ListMessageMoveTasks, alarms and CloudWatch queue ages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from docclass.store import Listed, StoredObject
from docclass_local.health import alarms_in_alarm, index_freshness, oldest_message_ages
from docclass_local.redrive import QueueMove, redrive
from docclass_local.target import CommandError, Queues, Target

ACCOUNT = "123456789012"
URL = f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}"
QUEUES = Queues(
    inbox=f"{URL}/docs-InboxQueue-A1",
    gallery=f"{URL}/docs-GalleryQueue-B2",
    inbox_dlq=f"{URL}/docs-InboxDeadLetterQueue-C3",
    gallery_dlq=f"{URL}/docs-GalleryDeadLetterQueue-D4",
)
INBOX_ARN = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:docs-InboxQueue-A1"
DLQ_ARN = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:docs-InboxDeadLetterQueue-C3"


class FakeListingStore:
    """The two ObjectStore calls index_freshness makes, over key -> (LastModified, body)."""

    def __init__(self, objects: dict[str, tuple[datetime, bytes]]) -> None:
        self.objects = objects

    def list_objects(self, prefix: str) -> list[Listed]:
        return [Listed(k, t) for k, (t, _) in sorted(self.objects.items()) if k.startswith(prefix)]

    def get(self, key: str) -> StoredObject:
        return StoredObject(key, "etag", 0, body=self.objects[key][1])


def deployed(**clients: Any) -> Target:
    target = Target(bucket="docs-bucket", queues=QUEUES, session=None, stack_name="docs")
    target._clients.update(clients)
    return target


def client(service: str) -> Any:
    return boto3.client(service, region_name="eu-west-1")


def s3_event(key: str) -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": "docs-bucket"},
                        "object": {"key": key, "size": 1, "sequencer": "01"},
                    },
                }
            ]
        }
    )


def expect_move_task(stub: Stubber, *, final: dict[str, Any]) -> None:
    stub.add_response(
        "receive_message",
        {
            "Messages": [
                {"MessageId": "m1", "ReceiptHandle": "r1", "Body": s3_event("inbox/a.png")},
                {"MessageId": "m2", "ReceiptHandle": "r2", "Body": s3_event("inbox/b+c.png")},
            ]
        },
        {"QueueUrl": QUEUES.inbox_dlq, "MaxNumberOfMessages": 10, "VisibilityTimeout": 0},
    )
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": INBOX_ARN}},
        {"QueueUrl": QUEUES.inbox, "AttributeNames": ["QueueArn"]},
    )
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": DLQ_ARN}},
        {"QueueUrl": QUEUES.inbox_dlq, "AttributeNames": ["QueueArn"]},
    )
    stub.add_response(
        "start_message_move_task",
        {"TaskHandle": "handle-1"},
        {"SourceArn": DLQ_ARN, "DestinationArn": INBOX_ARN, "MaxNumberOfMessagesPerSecond": 50},
    )
    listed = {"SourceArn": DLQ_ARN, "MaxResults": 1}
    stub.add_response(
        "list_message_move_tasks",
        {
            "Results": [
                {
                    "Status": "RUNNING",
                    "TaskHandle": "handle-1",
                    "ApproximateNumberOfMessagesMoved": 1,
                    "ApproximateNumberOfMessagesToMove": 2,
                }
            ]
        },
        listed,
    )
    stub.add_response("list_message_move_tasks", {"Results": [final]}, listed)


def test_redrive_on_aws_starts_a_move_task_from_the_dlq_arn_and_follows_it_to_completion():
    # given a deployed stack whose inbox dead-letter queue holds two messages
    sqs = client("sqs")
    with Stubber(sqs) as stub:
        expect_move_task(stub, final={"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 2})
        move = QueueMove("inbox", QUEUES.inbox, QUEUES.inbox_dlq, waiting=2)
        sleeps: list[float] = []
        # when it is redriven at 50 messages per second
        redrive(deployed(sqs=sqs), [move], rate=50, sleep=sleeps.append)
        # then the task went from the DLQ's ARN to the source queue's ARN, was polled until done,
        # and the keys to follow were read from the messages (URL-decoded)
        stub.assert_no_pending_responses()
    assert move.moved == 2
    assert move.keys == ["inbox/a.png", "inbox/b c.png"] and move.keys_complete
    assert sleeps == [5.0]


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED"])
def test_a_move_task_that_fails_is_an_error_with_its_reason(status):
    sqs = client("sqs")
    with Stubber(sqs) as stub:
        expect_move_task(
            stub,
            final={
                "Status": status,
                "ApproximateNumberOfMessagesMoved": 1,
                "FailureReason": "AccessDenied on SendMessage",
            },
        )
        move = QueueMove("inbox", QUEUES.inbox, QUEUES.inbox_dlq, waiting=2)
        with pytest.raises(CommandError, match=f"move task {status.lower()} after 1 messages"):
            redrive(deployed(sqs=sqs), [move], rate=50, sleep=lambda s: None)


def test_alarms_in_alarm_are_read_with_the_stack_prefix():
    cloudwatch = client("cloudwatch")
    since = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "describe_alarms",
            {
                "MetricAlarms": [
                    {
                        "AlarmName": "docs-InboxDeadLetters",
                        "StateValue": "ALARM",
                        "StateReason": "Threshold Crossed: 1 datapoint [3.0] > 0",
                        "StateUpdatedTimestamp": since,
                    }
                ],
                "CompositeAlarms": [],
            },
            {
                "AlarmNamePrefix": "docs-",
                "StateValue": "ALARM",
                "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            },
        )
        found = alarms_in_alarm(deployed(cloudwatch=cloudwatch))
    assert found["available"] is True
    assert found["in_alarm"] == [
        {
            "name": "docs-InboxDeadLetters",
            "reason": "Threshold Crossed: 1 datapoint [3.0] > 0",
            "since": since.isoformat(),
        }
    ]


def test_oldest_message_age_on_aws_is_the_latest_cloudwatch_maximum_and_empty_queues_ask_nothing():
    cloudwatch = client("cloudwatch")
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    counts = {url: {"ApproximateNumberOfMessages": "0"} for url in QUEUES.by_name().values()}
    counts[QUEUES.inbox] = {"ApproximateNumberOfMessages": "40", "RedrivePolicy": "{}"}
    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "get_metric_statistics",
            {
                "Datapoints": [
                    {"Timestamp": now - timedelta(minutes=3), "Maximum": 600.0},
                    {"Timestamp": now - timedelta(minutes=1), "Maximum": 660.0},
                ]
            },
            {
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": "docs-InboxQueue-A1"}],
                "StartTime": ANY,
                "EndTime": now,
                "Period": 60,
                "Statistics": ["Maximum"],
            },
        )
        ages = oldest_message_ages(deployed(cloudwatch=cloudwatch), counts, now)
        stub.assert_no_pending_responses()
    assert ages == {
        "docs-GalleryQueue-B2": None,
        "docs-GalleryDeadLetterQueue-D4": None,
        "docs-InboxQueue-A1": 660,
        "docs-InboxDeadLetterQueue-C3": None,
    }


def test_an_index_published_before_the_newest_gallery_change_is_stale_by_the_difference():
    t0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    pointer = {"model_id": "amazon.titan-embed-image-v1", "dimension": 1024}
    store = FakeListingStore(
        {
            "gallery/letter/a.png": (t0, b""),
            "gallery/receipt/b.png": (t0 + timedelta(minutes=25), b""),
            "index/titan/1024/CURRENT.json": (t0 + timedelta(minutes=5), json.dumps(pointer).encode()),
            "index/titan/256/CURRENT.json": (
                t0 + timedelta(minutes=30),
                json.dumps(pointer | {"dimension": 256}).encode(),
            ),
        }
    )
    found = {(i["dimension"]): i for i in index_freshness(store)}  # type: ignore[arg-type]
    assert found[1024]["lag_seconds"] == 20 * 60 and found[1024]["stale"] is True
    assert found[256]["lag_seconds"] == 0 and found[256]["stale"] is False
