"""`docclass backfill s3://OTHER-BUCKET/prefix/`: classify an existing archive by copying it,
server-side and at a bounded rate, into the stack's inbox/.

Each object is copied at most once into inbox/, across interruptions and reruns:
- the copy is conditional (CopyObject with If-None-Match: *), so an object whose copy still waits
  in inbox/ is never copied over (S3 answers 412; it counts as already copied);
- a local checkpoint file (JSON lines, flushed and fsync'd) records each object before its copy
  ("copying") and after it ("copied", "pending", "routed", "skipped"). A rerun skips what the
  checkpoint says is done, without a request. An object whose last line is "copying" (the run
  stopped between the copy and its record) is looked for first: in inbox/ (pending) or at any
  destination it may have been routed to (classified/<label>/, unclassified/, failed/,
  packets/); only when it is nowhere is it copied again, since then the copy never happened.
The checkpoint is the record of what was done: keep it until the backfill is over. Without it,
a rerun copies again every object already routed out of inbox/ (the conditional copy only
protects what is still there).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from docclass.config import INBOX_PREFIX, REVIEW_PREFIX
from docclass.routing import SOURCE_ETAG_METADATA, is_folder_marker, possible_destinations
from docclass.store import ObjectStore
from docclass_local.progress import Progress
from docclass_local.target import CommandError, Target

# CopyObject copies at most 5 GB in one request; larger objects need a multipart copy, and no
# document that large fits a ClassifyFunction anyway (docclass/memory.py).
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
MAX_COPY_BYTES = 5 * 1024**3
# Stop early when this many copies in a row fail: it is the access or the bucket, not the objects.
FAILURES_IN_A_ROW = 10
DONE_STATES = {"copied", "pending", "routed", "skipped"}


@dataclass(frozen=True)
class Source:
    """s3://bucket/prefix/ split."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> Source:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise CommandError(f"not an s3://BUCKET/prefix/ URI: {uri}")
        prefix = parsed.path.lstrip("/")
        return cls(parsed.netloc, prefix)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class SourceObject:
    """One object of the archive and the inbox key it is copied to."""

    key: str
    etag: str
    size: int
    destination: str


@dataclass
class BackfillReport:
    """What a run did, by outcome."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("copied", "pending", "routed", "skipped", "done before", "failed"), 0
        )
    )
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in self.counts.items())


def default_checkpoint(source: Source, bucket: str) -> Path:
    """A checkpoint file named after the source and the target, in the current directory."""
    digest = hashlib.sha256(f"{source.uri}\n{bucket}".encode()).hexdigest()[:10]
    return Path(f".docclass-backfill-{source.bucket}-{digest}.jsonl")


def list_sources(s3: Any, source: Source) -> Iterator[SourceObject]:
    """Every object under the prefix (folder markers aside) with its inbox/ destination."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=source.bucket, Prefix=source.prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            relative = key[len(source.prefix) :].lstrip("/")
            if is_folder_marker(key) or not relative:
                continue
            yield SourceObject(key, str(item["ETag"]), int(item["Size"]), f"{INBOX_PREFIX}{relative}")


class Checkpoint:
    """The JSON-lines record of a backfill: the last state of each source key wins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.states: dict[str, str] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash: that object was not recorded
                self.states[entry["key"]] = entry["state"]
        self._file: TextIO | None = None

    def done(self, key: str) -> bool:
        return self.states.get(key) in DONE_STATES

    def uncertain(self, key: str) -> bool:
        """The run stopped after announcing this copy and before recording its result."""
        return self.states.get(key) == "copying"

    def record(self, key: str, state: str, **extra: Any) -> None:
        """Append one line and push it to disk before the next step."""
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps({"key": key, "state": state, **extra}) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.states[key] = state

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class RateLimiter:
    """At most `rate` starts per second, evenly spaced (no bursts after a pause)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = clock()

    def wait(self) -> None:
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


def default_rate(target: Target) -> int:
    """One document per second per ClassifyFunction instance the stack allows (ClassifyMaxConcurrency).

    A document takes ClassifyFunction about a second (a Titan call of a few hundred ms, S3 reads
    and the copy), so the functions keep up, the inbox queue does not grow (its age alarm stays
    quiet) and Bedrock sees at most ClassifyMaxConcurrency requests at once: a few hundred a
    minute at the defaults, inside the on-demand quota of an account (check yours in Service Quotas).
    """
    try:
        return max(1, int(target.parameters.get("ClassifyMaxConcurrency", "5")))
    except ValueError:
        return 5


def run_backfill(
    target: Target,
    source: Source,
    objects: list[SourceObject],
    checkpoint: Checkpoint,
    *,
    rate: float,
    stream: TextIO | None = None,
    limiter: RateLimiter | None = None,
    after_copy: Callable[[SourceObject], None] | None = None,
) -> BackfillReport:
    """Copy each object not done yet into inbox/, at most `rate` per second; see the module doc.

    after_copy runs between a copy and its record (tests use it to simulate a crash there).
    """
    report = BackfillReport()
    store = ObjectStore(target.bucket, target.s3)
    labels: list[str] | None = None
    review_labels: list[str] = []
    limiter = limiter or RateLimiter(rate)
    failures_in_a_row = 0
    with Progress(len(objects), "backfill", stream=stream) as progress:
        for obj in objects:
            progress.advance()
            if checkpoint.done(obj.key):
                report.counts["done before"] += 1
                continue
            if obj.size > MAX_COPY_BYTES:
                checkpoint.record(obj.key, "skipped", reason="larger than 5 GB")
                report.counts["skipped"] += 1
                continue
            if checkpoint.uncertain(obj.key):
                if labels is None:
                    labels = store.list_folders("classified/")
                    review_labels = store.list_folders(REVIEW_PREFIX)
                found = _already_there(store, obj, labels, review_labels)
                if found is not None:
                    state = "pending" if found == obj.destination else "routed"
                    checkpoint.record(obj.key, state, at=found)
                    report.counts[state] += 1
                    continue
            limiter.wait()
            checkpoint.record(obj.key, "copying", etag=obj.etag)
            try:
                state = _copy(target.s3, source.bucket, obj, target.bucket)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                message = f"{obj.key}: {error.get('Code', '')} {error.get('Message', '')}".strip()
                report.counts["failed"] += 1
                report.errors.append(message)
                failures_in_a_row += 1
                if failures_in_a_row >= FAILURES_IN_A_ROW:
                    raise CommandError(
                        f"{FAILURES_IN_A_ROW} copies in a row failed, the last: {message}"
                    ) from exc
                continue
            failures_in_a_row = 0
            if after_copy is not None:
                after_copy(obj)
            checkpoint.record(obj.key, state)
            report.counts[state] += 1
    return report


def _copy(s3: Any, source_bucket: str, obj: SourceObject, bucket: str) -> str:
    """CopyObject into inbox/ only if nothing is there (412: a copy waits there already: "pending"),
    and only the version listed (CopySourceIfMatch). Metadata and content type are kept."""
    try:
        s3.copy_object(
            Bucket=bucket,
            Key=obj.destination,
            CopySource={"Bucket": source_bucket, "Key": obj.key},
            CopySourceIfMatch=obj.etag,
            IfNoneMatch="*",
        )
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        # If-None-Match lost: 412 PreconditionFailed, or 409 ConditionalRequestConflict when a
        # concurrent write of the key won. https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
        lost = code in {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
        if lost and _destination_exists(s3, bucket, obj.destination):
            return "pending"
        raise
    return "copied"


def _destination_exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False  # the 412 was the source's ETag (it changed since the listing): a real failure
    return True


def _already_there(
    store: ObjectStore, obj: SourceObject, labels: list[str], review_labels: Sequence[str] = ()
) -> str | None:
    """Where an earlier run's copy of obj is now, or None if it is nowhere (never copied).

    A routed document carries docclass-source-etag, its inbox object's ETag: a server-side copy of
    an object uploaded in one part keeps the source's ETag (its MD5), so that ETag identifies our
    copy. A multipart source's copy gets another ETag; then any document at that path counts as
    ours, erring on the side of never copying twice.
    """
    if store.head(obj.destination) is not None:
        return obj.destination
    etag = obj.etag.strip('"')
    multipart = "-" in etag
    path = obj.destination[len(INBOX_PREFIX) :]
    for key in possible_destinations(path, labels, etag, review_labels):
        head = store.head(key)
        if head is None:
            continue
        if multipart or head.metadata.get(SOURCE_ETAG_METADATA) == etag:
            return key
    return None
