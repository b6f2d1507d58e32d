"""`docclass status` on any stack: what status.py reports, plus what needs an operator's attention:
alarms in ALARM, the oldest message's age per queue, documents in inbox/ that no queue holds, and
how far each index lags behind gallery/.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from docclass.config import GALLERY_PREFIX, INBOX_PREFIX, INDEX_PREFIX
from docclass.routing import is_folder_marker
from docclass.store import ObjectStore
from docclass_local.status import QUEUE_COUNTS, collect_status, format_status
from docclass_local.target import Target

# An inbox object younger than this may simply not have its S3 event message yet: S3 delivers
# notifications within seconds, "sometimes a minute or longer"; 15 minutes leaves a wide margin.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html
STRANDED_GRACE = timedelta(minutes=15)
# An index is stale when the newest gallery change is this much newer than its pointer: more than
# GalleryQueue's batching window and one GalleryFunction run (Timeout 300 s) can explain.
STALE_AFTER = timedelta(minutes=10)
# SQS publishes its metrics to CloudWatch once a minute; look back far enough to find the last one.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
METRIC_LOOKBACK = timedelta(minutes=15)


def collect_health(target: Target, *, now: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """status.collect_status for the target's bucket and queues, plus alarms, oldest_message_age,
    stranded and freshness (each explained where it is computed)."""
    clock = now or (lambda: datetime.now(UTC))
    status = collect_status(target.s3, target.sqs, target.bucket, queues=target.queues.by_name())
    attributes = {
        url: target.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for url in target.queues.by_name().values()
    }
    status["stack"] = target.stack_name
    status["alarms"] = alarms_in_alarm(target)
    status["oldest_message_age"] = oldest_message_ages(target, attributes, clock())
    status["stranded"] = stranded_documents(target, attributes, status["unreadable_sse_kms"], clock())
    status["freshness"] = index_freshness(ObjectStore(target.bucket, target.s3))
    return status


def alarms_in_alarm(target: Target) -> dict[str, Any]:
    """The stack's alarms now in ALARM: the template names every alarm `<stack name>-...`."""
    if target.stack_name is None:
        return {"available": False, "in_alarm": [], "note": "the local stack has no alarms"}
    found = []
    paginator = target.cloudwatch.get_paginator("describe_alarms")
    for page in paginator.paginate(
        AlarmNamePrefix=f"{target.stack_name}-",
        StateValue="ALARM",
        AlarmTypes=["MetricAlarm", "CompositeAlarm"],
    ):
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            if alarm.get("StateValue") != "ALARM":  # moto applies only one of the two filters
                continue
            since = alarm.get("StateUpdatedTimestamp")
            found.append(
                {
                    "name": alarm["AlarmName"],
                    "reason": alarm.get("StateReason", ""),
                    "since": since.isoformat() if isinstance(since, datetime) else since,
                }
            )
    return {"available": True, "in_alarm": sorted(found, key=lambda a: a["name"])}


def oldest_message_ages(
    target: Target, attributes: dict[str, dict[str, str]], now: datetime
) -> dict[str, Any]:
    """Queue name -> age in seconds of its oldest message (None: empty, or not measurable).

    SQS has no API for this. On AWS it is CloudWatch's ApproximateAgeOfOldestMessage (published
    once a minute). Locally: a dead-letter queue is peeked (ReceiveMessage with VisibilityTimeout
    0 leaves its messages visible; the receive count it adds means nothing in a queue without a
    redrive policy) and its oldest SentTimestamp read; a source queue is not peeked, since every
    receive counts towards its maxReceiveCount and could push a document to its dead-letter queue.
    """
    ages: dict[str, Any] = {}
    for name, url in target.queues.by_name().items():
        waiting = sum(int(attributes[url].get(c, 0)) for c in QUEUE_COUNTS)
        if waiting == 0:
            ages[name] = None
        elif not target.local:
            ages[name] = _cloudwatch_age(target, name, now)
        elif "RedrivePolicy" not in attributes[url]:  # a dead-letter queue: safe to peek
            ages[name] = _peeked_age(target, url, now)
        else:
            ages[name] = "n/a"
    return ages


def _cloudwatch_age(target: Target, queue_name: str, now: datetime) -> int | None:
    points = target.cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_name}],
        StartTime=now - METRIC_LOOKBACK,
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    ).get("Datapoints", [])
    if not points:
        return None
    latest = max(points, key=lambda p: p["Timestamp"])
    return int(latest["Maximum"])


def _peeked_age(target: Target, url: str, now: datetime) -> int | None:
    messages = target.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["SentTimestamp"]
    ).get("Messages", [])
    sent = [
        int(m["Attributes"]["SentTimestamp"]) for m in messages if "SentTimestamp" in m.get("Attributes", {})
    ]
    if not sent:
        return None
    return max(0, int(now.timestamp() - min(sent) / 1000))


def stranded_documents(
    target: Target, attributes: dict[str, dict[str, str]], unreadable: list[str], now: datetime
) -> dict[str, Any]:
    """Documents in inbox/ that no queue holds: they will never be classified unless re-sent.

    The rule, cheap (one listing of inbox/ and the queues' counters, never a message read):
    S3 sends one message per object created, so the InboxQueue and its dead-letter queue together
    hold at most as many inbox documents as they hold messages. An inbox object older than
    STRANDED_GRACE (its event has surely been sent) and not unreadable (SSE-KMS, reported apart)
    is a candidate; `at_least` = candidates - messages held, floored at 0. When both queues are
    empty the count is exact and the keys are listed (the oldest first). Causes: a dead letter
    that expired (14 days), a purged queue, an object written before the notification existed.
    """
    inbox_url, dlq_url = target.queues.inbox, target.queues.inbox_dlq
    held = sum(int(attributes[url].get(c, 0)) for url in (inbox_url, dlq_url) for c in QUEUE_COUNTS)
    skip = set(unreadable)
    store = ObjectStore(target.bucket, target.s3)
    old = sorted(
        (
            item
            for item in store.list_objects(INBOX_PREFIX)
            if not is_folder_marker(item.key) and item.key not in skip
        ),
        key=lambda item: item.last_modified,
    )
    candidates = [item for item in old if now - item.last_modified >= STRANDED_GRACE]
    exact = held == 0
    return {
        "at_least": max(0, len(candidates) - held),
        "exact": exact,
        "older_than_minutes": int(STRANDED_GRACE.total_seconds() // 60),
        "messages_held": held,
        "keys": [item.key for item in candidates][:20] if exact else [],
    }


def index_freshness(store: ObjectStore) -> list[dict[str, Any]]:
    """Per index (model, dimension): its pointer's LastModified against the newest gallery/ object's.

    lag_seconds > 0: gallery/ changed after the index was last published. Deletions leave no object
    to list, so a delete that was not applied does not show here (the index's vector count does).
    """
    newest = None
    for item in store.list_objects(GALLERY_PREFIX):
        if not is_folder_marker(item.key) and (newest is None or item.last_modified > newest):
            newest = item.last_modified
    found = []
    for item in store.list_objects(INDEX_PREFIX):
        if not item.key.endswith("/CURRENT.json"):
            continue
        obj = store.get(item.key)
        doc = json.loads(obj.body) if obj is not None and obj.body else {}
        lag = max(0.0, (newest - item.last_modified).total_seconds()) if newest else 0.0
        found.append(
            {
                "model_id": doc.get("model_id"),
                "dimension": doc.get("dimension"),
                "published": item.last_modified.isoformat(),
                "newest_gallery_change": newest.isoformat() if newest else None,
                "lag_seconds": int(lag),
                "stale": lag > STALE_AFTER.total_seconds(),
            }
        )
    return found


def format_health(status: dict[str, Any]) -> str:
    """format_status, then the operator's lines."""
    lines = [format_status(status)]
    alarms = status["alarms"]
    if not alarms["available"]:
        lines.append(f"alarms        none ({alarms['note']})")
    elif not alarms["in_alarm"]:
        lines.append("alarms        none in ALARM")
    else:
        lines.append(f"alarms        {len(alarms['in_alarm'])} in ALARM")
        lines.extend(f"  {a['name']}  since {a['since']}: {a['reason']}" for a in alarms["in_alarm"])
    lines.append("oldest message")
    for name, age in status["oldest_message_age"].items():
        text = (
            "empty"
            if age is None
            else ("n/a (not peeked: a receive counts toward retries)" if age == "n/a" else _age(age))
        )
        lines.append(f"  {name:<40}{text}")
    stranded = status["stranded"]
    if stranded["at_least"]:
        how = "" if stranded["exact"] else f"at least (queues hold {stranded['messages_held']} messages) "
        lines.append(
            f"stranded      {how}{stranded['at_least']} in inbox/ for over {stranded['older_than_minutes']} min "
            "with no message in any queue: copy them onto themselves to send their event again"
        )
        lines.extend(f"  {key}" for key in stranded["keys"])
    else:
        lines.append("stranded      0")
    for index in status["freshness"]:
        state = "STALE" if index["stale"] else "fresh"
        lag = f", {_age(index['lag_seconds'])} behind gallery/" if index["lag_seconds"] else ""
        lines.append(
            f"index {index['model_id']}/{index['dimension']}: {state} (published {index['published']}{lag})"
        )
    return "\n".join(lines)


def _age(seconds: int) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"
