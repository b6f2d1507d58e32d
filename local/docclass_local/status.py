"""`docclass status`: what the bucket and the queues hold, read through the S3 and SQS APIs only."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from docclass.config import (
    CLASSIFIED_PREFIX,
    FAILED_PREFIX,
    INBOX_PREFIX,
    INDEX_PREFIX,
    PACKETS_PREFIX,
    REVIEW_PREFIX,
    UNCLASSIFIED_PREFIX,
)
from docclass.routing import inbox_path, is_folder_marker, possible_destinations
from docclass.store import ObjectStore

QUEUE_COUNTS = (  # an SQS queue's messages: waiting, in flight, delayed
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def queue_urls(sqs: Any, bucket: str) -> dict[str, str]:
    """The stack's queues, by name: the local stack names them `<bucket>-<LogicalId>`."""
    urls = sqs.list_queues(QueueNamePrefix=f"{bucket}-").get("QueueUrls", [])
    return {url.rsplit("/", 1)[-1]: url for url in urls}


def unreadable_sse_kms(store: ObjectStore, keys: Iterable[str], granted: Iterable[str] = ()) -> list[str]:
    """The objects among keys encrypted (SSE-KMS) with a customer managed key the functions are not
    granted: they stay in inbox/ for good, since S3 will not decrypt them for the functions.

    One HeadObject per key (inbox/ normally holds only documents in flight). An object encrypted
    with `aws:kms` and no key id of its own (the AWS managed key aws/s3, which every principal of
    the account may use through S3) counts as readable; so does a key in `granted` (KmsKeyArn).
    """
    allowed = {key for key in granted if key}
    stuck = []
    for key in keys:
        head = store.head(key)
        if head is not None and head.kms_key_id and head.kms_key_id not in allowed:
            stuck.append(key)
    return stuck


def collect_status(
    s3: Any,
    sqs: Any,
    bucket: str,
    *,
    granted_kms_keys: Iterable[str] = (),
    queues: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One JSON-able dict: index, pending, classified, review, unclassified, failed, unreadable_sse_kms,
    dead_letters. granted_kms_keys: the KMS key the functions may use (template KmsKeyArn).
    queues: name -> URL of the stack's queues (a deployed stack's, from its outputs); by default
    the local stack's, found by their names."""
    store = ObjectStore(bucket, s3)
    pointers = []
    for key in store.list_keys(INDEX_PREFIX):
        if key.endswith("/CURRENT.json"):
            obj = store.get(key)
            assert obj is not None and obj.body is not None
            doc = json.loads(obj.body)
            pointers.append(
                {
                    "model_id": doc.get("model_id"),
                    "dimension": doc.get("dimension"),
                    "vectors": doc.get("vectors", 0),
                    "labels": doc.get("labels", {}),
                    "updated": doc.get("updated", ""),
                }
            )
    pointers.sort(key=lambda p: p["updated"], reverse=True)
    index = pointers[0] if pointers else {"model_id": None, "dimension": None, "vectors": 0, "labels": {}}

    def documents(prefix: str) -> list[str]:
        return [k for k in store.list_keys(prefix) if not is_folder_marker(k)]

    classified = Counter(k[len(CLASSIFIED_PREFIX) :].split("/", 1)[0] for k in documents(CLASSIFIED_PREFIX))
    review = Counter(k[len(REVIEW_PREFIX) :].split("/", 1)[0] for k in documents(REVIEW_PREFIX))
    urls = dict(queues) if queues is not None else queue_urls(sqs, bucket)
    attributes = {
        name: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for name, url in urls.items()
    }
    dlq_arns = {
        json.loads(a["RedrivePolicy"])["deadLetterTargetArn"]
        for a in attributes.values()
        if "RedrivePolicy" in a
    }
    messages = {name: sum(int(a.get(c, 0)) for c in QUEUE_COUNTS) for name, a in attributes.items()}
    dead_letters = {name: messages[name] for name, a in attributes.items() if a.get("QueueArn") in dlq_arns}
    in_queues = sum(n for name, n in messages.items() if name not in dead_letters)
    inbox_keys = documents(INBOX_PREFIX)
    unreadable = unreadable_sse_kms(store, inbox_keys, granted_kms_keys)
    inbox = len(inbox_keys) - len(unreadable)  # an unreadable document is not pending: it stays
    return {
        "bucket": bucket,
        "index": {
            "vectors": index["vectors"],
            "labels": index["labels"],
            "model_id": index["model_id"],
            "dimension": index["dimension"],
        },
        "indexes": pointers,
        "pending": inbox + in_queues,
        "pending_detail": {"inbox_objects": inbox, "queued_messages": in_queues},
        "classified": dict(sorted(classified.items())),
        "review": dict(sorted(review.items())),
        "unclassified": len(documents(UNCLASSIFIED_PREFIX)),
        "failed": len(documents(FAILED_PREFIX)),
        "packets": len(documents(PACKETS_PREFIX)),
        "unreadable_sse_kms": unreadable,
        "dead_letters": dead_letters,
    }


def format_status(status: dict[str, Any]) -> str:
    """The status as a readable table."""
    index = status["index"]
    lines = [
        f"bucket        {status['bucket']}",
        f"index         {index['vectors']} vectors, model {index['model_id'] or '-'}"
        f" (dimension {index['dimension'] or '-'})",
    ]
    for label, count in index["labels"].items():
        lines.append(f"  {label:<24}{count:>6}")
    detail = status["pending_detail"]
    lines.append(
        f"pending       {status['pending']} ({detail['inbox_objects']} in inbox/, "
        f"{detail['queued_messages']} queued messages)"
    )
    lines.append(f"classified    {sum(status['classified'].values())}")
    for label, count in status["classified"].items():
        lines.append(f"  {label:<24}{count:>6}")
    review = status.get("review", {})
    lines.append(
        f"for review    {sum(review.values())} (under review/<label>/: too close to call, ReviewMargin)"
    )
    for label, count in review.items():
        lines.append(f"  {label:<24}{count:>6}")
    lines.append(f"unclassified  {status['unclassified']}")
    lines.append(f"failed        {status['failed']}")
    lines.append(
        f"packets       {status.get('packets', 0)} split (originals under packets/, sections counted above)"
    )
    unreadable = status.get("unreadable_sse_kms", [])
    if unreadable:
        lines.append(
            f"unreadable (SSE-KMS): {len(unreadable)} left in inbox/, encrypted with a KMS key the "
            "functions are not granted (set the KmsKeyArn parameter, then upload them again)"
        )
        lines.extend(f"  {key}" for key in unreadable)
    lines.append(
        "dead letters  " + (", ".join(f"{q}: {n}" for q, n in status["dead_letters"].items()) or "-")
    )
    return "\n".join(lines)


def locate(s3: Any, bucket: str, inbox_key: str) -> tuple[str, dict[str, str]] | None:
    """Where an inbox document was routed, with its docclass metadata; None if not routed (yet)."""
    store = ObjectStore(bucket, s3)
    path = inbox_path(inbox_key)
    for key in possible_destinations(
        path, store.list_folders(CLASSIFIED_PREFIX), review_labels=store.list_folders(REVIEW_PREFIX)
    ):
        head = store.head(key)
        if head is not None:
            return key, {k: unquote(v) for k, v in head.metadata.items() if k.startswith("docclass-")}
    return None
