"""Event adapter: S3 notifications, plain or wrapped in SQS messages, as S3Change records.

Handlers accept both shapes: the SQS batch the deployed functions receive, and the plain S3
notification `sam local invoke -e events/...` sends. SQS batches go through the Powertools batch
processor so that only the failed messages are retried (ReportBatchItemFailures).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from docclass.errors import EmbeddingMisconfigured, IndexUnusable, MessageDeferred
from docclass.invocation import NO_BUDGET, InvocationGuard
from docclass.observability import MetricUnit, metrics

logger = Logger(child=True)
T = TypeVar("T")


@dataclass(frozen=True)
class S3Change:
    """One S3 object event: which object, what happened, and its position in the key's history."""

    bucket: str
    key: str
    event_name: str
    sequencer: str
    etag: str = ""
    size: int = 0
    version_id: str = ""  # set in a versioned bucket: the version created, or removed for good
    attempt: int = (
        1  # SQS ApproximateReceiveCount: above 1, an earlier delivery may have done part of the work
    )
    # When S3 finished the request (the record's eventTime), in seconds since the epoch; None if the
    # record had none. How long a gallery change waited for the index is measured from here.
    event_time: float | None = None

    @property
    def is_created(self) -> bool:
        """An ObjectCreated:* event."""
        return self.event_name.startswith("ObjectCreated:")

    @property
    def is_removed(self) -> bool:
        """An ObjectRemoved:* event (delete or delete marker)."""
        return self.event_name.startswith("ObjectRemoved:")

    @property
    def removes_one_version(self) -> bool:
        """A version deleted for good: the key may still have a current version (another one).

        In a versioned bucket, S3 notifies ObjectRemoved:Delete with the versionId for every
        permanent delete of a version, even while a newer version stays current; a delete
        without a version id writes a delete marker (ObjectRemoved:DeleteMarkerCreated).
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-event-types-and-destinations.html
        """
        return self.event_name == "ObjectRemoved:Delete" and bool(self.version_id)


def parse_s3_notification(body: Mapping[str, Any], attempt: int = 1) -> list[S3Change]:
    """The changes in one S3 notification document; [] for the s3:TestEvent S3 sends on setup."""
    if body.get("Event") == "s3:TestEvent" or "Records" not in body:
        return []
    changes = []
    for record in S3Event(dict(body)).records:
        if record.get("eventSource") != "aws:s3":
            continue
        obj = record.s3.get_object
        changes.append(
            S3Change(
                bucket=record.s3.bucket.name,
                key=unquote_plus(obj.key),  # S3 URL-encodes keys in events: "a+b%2B" is "a b+"
                event_name=record.event_name,
                sequencer=obj.get("sequencer", "") or "",
                etag=obj.get("eTag", "") or "",
                size=int(obj.get("size", 0) or 0),
                version_id=obj.get("versionId", "") or "",
                attempt=attempt,
                event_time=_epoch_seconds(record.get("eventTime")),
            )
        )
    return changes


def _epoch_seconds(timestamp: Any) -> float | None:
    """An S3 eventTime ("2026-11-24T10:00:00.000Z") in seconds since the epoch; None if unreadable."""
    try:
        parsed = datetime.fromisoformat(str(timestamp))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def message_ids(event: Mapping[str, Any]) -> list[str]:
    """The SQS message ids of a batch ([] for a plain S3 event)."""
    return [record["messageId"] for record in event["Records"]] if is_sqs_event(event) else []


def is_sqs_event(event: Mapping[str, Any]) -> bool:
    """True for an SQS batch, False for a plain S3 notification."""
    records = event.get("Records") or []
    return bool(records) and records[0].get("eventSource") == "aws:sqs"


def iter_changes(event: Mapping[str, Any], *, skip_invalid: bool = False) -> Iterator[S3Change]:
    """Every S3 change in either event shape (no batch-failure handling).

    skip_invalid: leave out SQS messages whose body is not an S3 notification instead of raising
    (for a look ahead; process_event reports those messages as failed).
    """
    if not is_sqs_event(event):
        yield from parse_s3_notification(event)
        return
    for record in event["Records"]:
        try:
            changes = parse_s3_notification(json.loads(record["body"]))
        except Exception:  # whatever a malformed body raises, process_event will meet it again
            if not skip_invalid:
                raise
            continue
        yield from changes


@dataclass
class BatchOutcome:
    """Results of the messages that succeeded, and the batch-failure response for Lambda."""

    results: list[Any]
    response: dict[str, Any]


def process_event(
    event: Mapping[str, Any],
    context: Any,
    handle: Callable[[S3Change], T],
    guard: InvocationGuard | None = None,
) -> BatchOutcome:
    """Run `handle` on every change; failed SQS messages are reported, not raised.

    Before each message, `guard` (by default: the breaker only, no deadline) decides whether it may
    start; a message it turns away is reported as failed without being handled, so SQS delivers it
    again, and the invocation returns before its timeout. The object key is appended to every log
    line while its change is handled. For a plain S3 event there is no queue to retry: the first
    error is raised after every record was tried.
    """
    guard = guard or InvocationGuard(context, NO_BUDGET)
    deferred = 0

    def run(change: S3Change) -> T:
        logger.append_keys(object_key=change.key, s3_event=change.event_name)
        try:
            return handle(change)
        except IndexUnusable:
            # Logged once per container where it was found, with what to do; not per message.
            metrics.add_metric(name="ChangesRetried", unit=MetricUnit.Count, value=1)
            raise
        except MessageDeferred:
            raise  # counted and logged once for the batch, below
        except EmbeddingMisconfigured as exc:
            guard.observe(exc)  # logged once per container (with what to fix), counted each time
            metrics.add_metric(name="ChangesRetried", unit=MetricUnit.Count, value=1)
            raise
        except Exception as exc:
            guard.observe(exc)
            logger.exception("change not processed; it will be retried")
            metrics.add_metric(name="ChangesRetried", unit=MetricUnit.Count, value=1)
            raise
        finally:
            logger.remove_keys(["object_key", "s3_event"])

    def admitted(changes: list[S3Change]) -> list[T]:
        nonlocal deferred
        try:
            if changes:
                guard.admit_message()
            return [run(change) for change in changes]
        except MessageDeferred:
            deferred += 1
            raise

    if not is_sqs_event(event):
        results: list[Any] = []
        errors: list[Exception] = []
        for change in parse_s3_notification(event):
            try:
                results.extend(admitted([change]))
            except Exception as exc:
                errors.append(exc)
        _report(guard, deferred)
        if errors:
            raise errors[0]
        return BatchOutcome(results, {"batchItemFailures": []})

    def record_handler(record: SQSRecord) -> list[T]:
        attempt = int(record.attributes.approximate_receive_count or 1)
        return admitted(parse_s3_notification(record.json_body, attempt))

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    with processor(records=list(event["Records"]), handler=record_handler, lambda_context=context):
        processed = processor.process()
    _report(guard, deferred)
    results = [item for status, result, _ in processed if status == "success" for item in result]
    return BatchOutcome(results, dict(processor.response()))


def _report(guard: InvocationGuard, deferred: int) -> None:
    """Once per batch: the misconfigurations met, and how many messages went back unstarted, and why."""
    guard.flush()
    if deferred:
        logger.warning(
            "messages given back to the queue unstarted",
            extra={
                "messages": deferred,
                "reason": guard.breaker or "too little time left in this invocation",
                "remaining_ms": guard.remaining_ms(),
            },
        )
        metrics.add_metric(name="ChangesDeferred", unit=MetricUnit.Count, value=deferred)
