"""`docclass redrive`: dead letters back to the queue they came from, then where their documents went.

On AWS, SQS moves them itself (StartMessageMoveTask, followed with ListMessageMoveTasks). moto 5
does not implement those calls (its IMPLEMENTATION_COVERAGE.md lists start_message_move_task,
list_message_move_tasks and cancel_message_move_task as missing), so on the local stack each
message is received from the dead-letter queue, sent to its source queue, and only then deleted:
an interruption can leave a message in both queues (a duplicate delivery, which the functions
handle) but never in neither.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from docclass.config import INBOX_PREFIX, REVIEW_PREFIX
from docclass.routing import inbox_path, possible_destinations
from docclass.store import ObjectStore
from docclass_local.progress import Progress
from docclass_local.target import CommandError, Target

# StartMessageMoveTask states that mean the task is over (ListMessageMoveTasksResultEntry.Status).
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasksResultEntry.html
_TASK_OVER = {"COMPLETED", "FAILED", "CANCELLED"}
# What a local move holds a received dead letter for while it is sent on (seconds).
_LOCAL_HOLD = 60
# How many times a deployed dead-letter queue is peeked for the keys to follow (10 messages each).
_PEEK_ROUNDS = 10


@dataclass
class QueueMove:
    """One dead-letter queue to empty into its source queue."""

    which: str  # "inbox" or "gallery"
    source_url: str
    dead_letter_url: str
    waiting: int  # messages in the dead-letter queue when the plan was made
    moved: int = 0
    keys: list[str] = field(default_factory=list)  # the documents the moved messages name (all, or a sample)
    keys_complete: bool = True


def plan_redrive(target: Target, which: str = "both") -> list[QueueMove]:
    """The dead-letter queues to empty (which: inbox, gallery or both) and how many messages each holds."""
    moves = []
    for name, source, dead in target.queues.pairs():
        if which not in ("both", name):
            continue
        counts = target.sqs.get_queue_attributes(
            QueueUrl=dead,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        waiting = int(counts.get("ApproximateNumberOfMessages", 0))
        in_flight = int(counts.get("ApproximateNumberOfMessagesNotVisible", 0))
        moves.append(QueueMove(name, source, dead, waiting + in_flight))
    return moves


def redrive(
    target: Target,
    moves: list[QueueMove],
    *,
    rate: int | None = None,
    poll_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    stream: TextIO | None = None,
) -> list[QueueMove]:
    """Move every planned queue's dead letters back; a deployed stack with a move task, the local
    stack message by message. Returns the moves with what was moved and the keys to follow."""
    for move in moves:
        if move.waiting == 0:
            continue
        if target.local:
            _move_one_by_one(target.sqs, move, stream)
        else:
            _move_with_task(target.sqs, move, rate, poll_seconds, sleep, stream)
    return moves


def _move_one_by_one(sqs: Any, move: QueueMove, stream: TextIO | None) -> None:
    """Receive, send to the source queue, then delete: at most the messages counted in the plan,
    so a message that fails again and comes back meanwhile is not moved round in circles."""
    with Progress(move.waiting, f"redrive {move.which}", stream=stream) as progress:
        while move.moved < move.waiting:
            messages = sqs.receive_message(
                QueueUrl=move.dead_letter_url,
                MaxNumberOfMessages=min(10, move.waiting - move.moved),
                VisibilityTimeout=_LOCAL_HOLD,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                send: dict[str, Any] = {"QueueUrl": move.source_url, "MessageBody": message["Body"]}
                if message.get("MessageAttributes"):
                    send["MessageAttributes"] = message["MessageAttributes"]
                sqs.send_message(**send)  # first the copy in the source queue...
                sqs.delete_message(
                    QueueUrl=move.dead_letter_url, ReceiptHandle=message["ReceiptHandle"]
                )  # ...then
                move.keys.extend(keys_of(message["Body"]))
                move.moved += 1
                progress.advance()


def _move_with_task(
    sqs: Any,
    move: QueueMove,
    rate: int | None,
    poll_seconds: float,
    sleep: Callable[[float], None],
    stream: TextIO | None,
) -> None:
    """StartMessageMoveTask from the dead-letter queue (its ARN, not its URL) to the source queue,
    then ListMessageMoveTasks until the task is over.

    The keys are peeked first (a sample: up to 100 messages, left visible) so that the report can
    follow the documents; SQS does not say which messages a task moved.
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html
    """
    move.keys, move.keys_complete = peek_keys(sqs, move.dead_letter_url, move.waiting)
    source_arn = _arn(sqs, move.source_url)
    dead_arn = _arn(sqs, move.dead_letter_url)
    request: dict[str, Any] = {"SourceArn": dead_arn, "DestinationArn": source_arn}
    if rate:
        request["MaxNumberOfMessagesPerSecond"] = rate  # SQS takes at most 500
    sqs.start_message_move_task(**request)
    with Progress(move.waiting, f"redrive {move.which}", stream=stream) as progress:
        while True:
            results = sqs.list_message_move_tasks(SourceArn=dead_arn, MaxResults=1).get("Results", [])
            if not results:
                raise CommandError(f"SQS lists no move task for {dead_arn} after starting one")
            task = results[0]
            moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
            progress.advance(moved - progress.count)
            move.moved = moved
            status = task.get("Status", "")
            if status == "COMPLETED":
                return
            if status in _TASK_OVER or status == "CANCELLING":
                reason = task.get("FailureReason", "")
                raise CommandError(
                    f"move task {status.lower()} after {moved} messages: {reason}".rstrip(": ")
                )
            sleep(poll_seconds)


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def peek_keys(sqs: Any, url: str, waiting: int) -> tuple[list[str], bool]:
    """Keys named by up to 100 of a dead-letter queue's messages, read with VisibilityTimeout 0
    (they stay visible; a dead-letter queue has no redrive policy, so the receive count is
    harmless). Returns (keys, whether every message was seen)."""
    seen: dict[str, list[str]] = {}
    for _ in range(_PEEK_ROUNDS):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        )
        for message in messages:
            seen.setdefault(message["MessageId"], keys_of(message["Body"]))
        if len(seen) >= waiting or not messages:
            break
    keys = [key for found in seen.values() for key in found]
    return keys, len(seen) >= waiting


def keys_of(body: str) -> list[str]:
    """The object keys an S3 event message names ([] for anything else)."""
    from docclass.events import parse_s3_notification

    try:
        return [change.key for change in parse_s3_notification(json.loads(body))]
    except (ValueError, KeyError, TypeError):
        return []


def where_now(target: Target, key: str) -> str:
    """Where a redriven inbox document is now: its destination key, "inbox/" (not done yet) or
    "gone" (neither: deleted meanwhile)."""
    store = ObjectStore(target.bucket, target.s3)
    if not key.startswith(INBOX_PREFIX):
        return "gallery/ (applied to the index if the index is fresh)" if store.head(key) else "deleted"
    head = store.head(key)
    if head is not None:
        return "inbox/ (not routed yet)"
    labels = store.list_folders("classified/")
    for candidate in possible_destinations(
        inbox_path(key), labels, review_labels=store.list_folders(REVIEW_PREFIX)
    ):
        if store.head(candidate) is not None:
            return candidate
    return "gone (not in inbox/ nor at any destination)"


def follow(
    target: Target,
    moves: list[QueueMove],
    *,
    timeout: float,
    poll_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, str]:
    """Wait (at most timeout seconds) until the source queues are idle (nothing waiting or running:
    the gallery changes are applied, the documents routed or dead-lettered again), or, for inbox
    documents only, until none is left in inbox/; then say where each document is."""
    keys = [key for move in moves for key in move.keys]
    only_inbox = bool(keys) and all(k.startswith(INBOX_PREFIX) for k in keys)
    deadline = clock() + timeout
    store = ObjectStore(target.bucket, target.s3)
    while clock() < deadline:
        if _queues_idle(target, moves):
            break
        if only_inbox and not any(store.head(k) is not None for k in keys):
            break
        sleep(poll_seconds)
    return {key: where_now(target, key) for key in keys}


def _queues_idle(target: Target, moves: list[QueueMove]) -> bool:
    """Nothing waits or runs in the source queues: whatever is still in inbox/ is dead-lettered again."""
    for move in moves:
        counts = target.sqs.get_queue_attributes(
            QueueUrl=move.source_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if int(counts.get("ApproximateNumberOfMessages", 0)) + int(
            counts.get("ApproximateNumberOfMessagesNotVisible", 0)
        ):
            return False
    return True
