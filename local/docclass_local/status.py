"""`docclass status`: what the bucket and the queues hold, read through the S3 and SQS APIs only."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import unquote

from docclass.config import CLASSIFIED_PREFIX, FAILED_PREFIX, INBOX_PREFIX, INDEX_PREFIX, UNCLASSIFIED_PREFIX
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


def collect_status(s3: Any, sqs: Any, bucket: str) -> dict[str, Any]:
    """One JSON-able dict: index, pending, classified, unclassified, failed, dead_letters."""
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
    urls = queue_urls(sqs, bucket)
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
    inbox = len(documents(INBOX_PREFIX))
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
        "unclassified": len(documents(UNCLASSIFIED_PREFIX)),
        "failed": len(documents(FAILED_PREFIX)),
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
    lines.append(f"unclassified  {status['unclassified']}")
    lines.append(f"failed        {status['failed']}")
    lines.append(
        "dead letters  " + (", ".join(f"{q}: {n}" for q, n in status["dead_letters"].items()) or "-")
    )
    return "\n".join(lines)


def locate(s3: Any, bucket: str, inbox_key: str) -> tuple[str, dict[str, str]] | None:
    """Where an inbox document was routed, with its docclass metadata; None if not routed (yet)."""
    store = ObjectStore(bucket, s3)
    path = inbox_path(inbox_key)
    for key in possible_destinations(path, store.list_folders(CLASSIFIED_PREFIX)):
        head = store.head(key)
        if head is not None:
            return key, {k: unquote(v) for k, v in head.metadata.items() if k.startswith("docclass-")}
    return None
