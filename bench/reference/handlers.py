"""The reference pipeline as two Lambda handlers with docclass's signature (SQS event -> batchItemFailures).

Gallery: for every gallery image, one read-modify-write of the whole persisted index (GET
`reference/index.faiss` and `reference/labels.json`, add one vector, PUT both back). There is no
concurrency control, as in the method: two concurrent writers can lose each other's vectors (the
ingest benchmark reports how many). Deletions are not handled (the method has no notion of them).

Classify: the index is loaded on the first invocation of a container and kept in memory after
that (the usual notebook-to-Lambda port: load in the init phase). This is the reference's cheapest
choice; it never sees later gallery changes. Routing is the same as docclass's: copy to
classified/<label>/<path>, then delete the inbox object.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import boto3
from botocore.exceptions import ClientError

from .method import FlatIndex, ReferenceEmbedder

INDEX_KEY = "reference/index.faiss"
LABELS_KEY = "reference/labels.json"


def _changes(body: str) -> Iterator[tuple[str, str]]:
    """(event name, key) of every S3 record in one SQS message body."""
    doc = json.loads(body)
    for record in doc.get("Records", []):
        if record.get("eventSource") == "aws:s3":
            yield record["eventName"], unquote_plus(record["s3"]["object"]["key"])


class ReferenceFunctions:
    """The two handlers, sharing one S3 client (created on first use) and one embedder."""

    def __init__(self, bedrock_client: Any, dimension: int = 1024) -> None:
        self.embedder = ReferenceEmbedder(bedrock_client, dimension)
        self.dimension = dimension
        self._s3: Any = None
        self._index: FlatIndex | None = None
        self._lock = threading.Lock()
        self.index_loads = 0

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = boto3.client("s3")  # the function's default session and AWS_ENDPOINT_URL
        return self._s3

    @property
    def bucket(self) -> str:
        return os.environ["BUCKET_NAME"]

    def _each(self, event: dict[str, Any], handle: Any) -> dict[str, Any]:
        failures = []
        for record in event.get("Records", []):
            try:
                for name, key in _changes(record["body"]):
                    handle(name, key)
            except Exception:
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    # -- gallery ------------------------------------------------------------------------------

    def gallery_handler(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        return self._each(event, self._add_to_gallery)

    def _add_to_gallery(self, event_name: str, key: str) -> None:
        if not event_name.startswith("ObjectCreated:") or not key.startswith("gallery/") or key.endswith("/"):
            return
        label = key.split("/")[1]
        data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        vector = self.embedder.embed(data)
        index = self._read_index() or FlatIndex(self.dimension)
        index.add(vector, label, key)
        index_bytes, labels = index.to_objects()
        self.s3.put_object(Bucket=self.bucket, Key=INDEX_KEY, Body=index_bytes)
        self.s3.put_object(Bucket=self.bucket, Key=LABELS_KEY, Body=labels)

    def _read_index(self) -> FlatIndex | None:
        try:
            index_bytes = self.s3.get_object(Bucket=self.bucket, Key=INDEX_KEY)["Body"].read()
            labels = self.s3.get_object(Bucket=self.bucket, Key=LABELS_KEY)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return FlatIndex.from_objects(index_bytes, labels)

    # -- classify -----------------------------------------------------------------------------

    def classify_handler(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        return self._each(event, self._classify)

    def loaded_index(self) -> FlatIndex | None:
        """The index as of the container's first invocation."""
        with self._lock:
            if self._index is None:
                self._index = self._read_index()
                self.index_loads += 1
            return self._index

    def _classify(self, event_name: str, key: str) -> None:
        if not event_name.startswith("ObjectCreated:") or not key.startswith("inbox/") or key.endswith("/"):
            return
        data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        vector = self.embedder.embed(data)
        index = self.loaded_index()
        hit = index.nearest(vector) if index is not None else None
        path = key.removeprefix("inbox/")
        destination = f"classified/{hit[0]}/{path}" if hit else f"unclassified/{path}"
        self.s3.copy_object(
            Bucket=self.bucket, Key=destination, CopySource={"Bucket": self.bucket, "Key": key}
        )
        self.s3.delete_object(Bucket=self.bucket, Key=key)
