"""Make moto behave like S3 where docclass depends on it, for the local stack and the tests.

moto 5 checks If-Match / If-None-Match and then writes, with nothing between the two: two
threads holding the same ETag can both "win" the index pointer swap, which real S3 never allows:
of two conditional writes of one key, one wins and the other gets 412 Precondition Failed (or 409
ConditionalRequestConflict while the first is still in flight), per
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html. moto 5.2 also
makes an object visible (and notifies) before it sets the object's metadata, and an overwrite or
delete closes the replaced object's buffer at once (`_VersionedKeyStore.setlist` / `pop` call
`FakeKey.dispose`), so a GET or a CopyObject source read racing with it fails with "I/O operation on
closed file". So each object-level request holds a lock of the key it names (and of a CopyObject's
source) while it runs: requests on one key take turns, as S3 applies them one at a time; requests on
different keys run in parallel, and nothing spans two requests, so a writer's read-modify-write
(load the pointer, then swap it) still races as it does on S3. `FakeKey.etag` is computed lazily by
reading the object's buffer without the key's own lock: a listing and the PUT that made the object
could read it at once and cache a digest of part of the bytes; it now takes that lock.

moto also ignores CopyObject's `x-amz-copy-source-if-match`, which S3 answers with 412 when the
source has changed; docclass relies on it to never route bytes it did not classify. And it ignores
CopyObject's `If-None-Match: *`, which S3 answers with 412 when the destination key exists
("Copies the object only if the object key name at the destination does not already exist",
https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html); docclass relies on it to
never overwrite a routed document. (moto 5.2 does honour DeleteObject's If-Match: 412 on another
ETag, 404 when the key has no current version, as S3 does.)

And moto's S3 event notifications carry no `sequencer`, which S3 always sets on PUT and DELETE
events and docclass uses to order changes of one key: add one from a counter, drawn while the write
holds its key's lock, so that it increases in the order the writes of one key happen, as S3's do.

In a versioned bucket moto sends no event for a delete that writes a delete marker, and for a
delete of one version only when it was the key's last version; its records carry no `versionId`.
S3 sends `ObjectRemoved:DeleteMarkerCreated` for the first and `ObjectRemoved:Delete` for every
permanent delete of a version, even while a newer version stays current, and every record of a
versioned bucket names its object version:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-event-types-and-destinations.html
https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html

A listing reads a copy of the bucket's key names, then looks each name up (`_VersionedKeyStore`
`items`, `values`, `lists`): a key deleted in between made ListObjectsV2 raise KeyError and
ListObjectVersions a TypeError (the local stack answered 500). S3 answers a listing whatever is
deleted meanwhile; a key deleted in between is now left out, as if the listing had come after it.

One fix is for SQS's guarantee that a message stays from its send to its delete, and no longer:
moto's `Queue.delete_message` copies the queue's message list without the deleted message and
assigns the copy, without the lock `send_message` appends under. A message sent meanwhile landed in
the list being replaced and was lost; of two deletes at once, the later assignment brought back the
message the other had deleted, in flight for the visibility timeout (the local stack's drain then
waited for it in vain). The delete now holds that lock; sends and receives stay as they were.

Two fixes are for speed only. moto builds a queue's whole attribute dict, which counts every
message in the queue, where it needs one attribute: ReceiveMessage for each message it returns (its
retention check), SendMessage for each message it accepts (ContentBasedDeduplication). Sending or
receiving n messages through a queue is then O(n^2): with 2,000 gallery uploads queued, the two
took half of the local stack's CPU (py-spy --gil on bench/ingest.py). The patched paths read the
one attribute they need, with the same result.
"""

from __future__ import annotations

import functools
import itertools
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


class KeyLocks:
    """One re-entrant lock per (bucket, key), made on first use and gone once no request holds it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakValueDictionary[tuple[str, str], Any] = weakref.WeakValueDictionary()

    def of(self, bucket: str, key: str) -> Any:
        """The lock of one key."""
        with self._guard:
            lock = self._locks.get((bucket, key))
            if lock is None:
                lock = self._locks[(bucket, key)] = threading.RLock()
            return lock

    @contextmanager
    def holding(self, *names: tuple[str, str]) -> Iterator[None]:
        """Hold the locks of these keys, taken in one global order so two requests never deadlock."""
        locks = [self.of(bucket, key) for bucket, key in sorted(set(names))]
        for lock in locks:
            lock.acquire()
        try:
            yield
        finally:
            for lock in reversed(locks):
                lock.release()


KEY_LOCKS = KeyLocks()


def _source_of_copy(headers: Any) -> tuple[str, str] | None:
    """(bucket, key) named by x-amz-copy-source, None when the request is no copy."""
    from urllib.parse import unquote, urlparse

    source = headers.get("x-amz-copy-source")
    if not source:
        return None
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    bucket, _, key = unquote(urlparse(source).path).lstrip("/").partition("/")
    return bucket, key


def _one_request_per_key(original: Any) -> Any:
    def key_response(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Runs after setup_class: the bucket and key are parsed as moto's own handler parses them.
        names = [(self.bucket_name, self.parse_key_name())]
        source = _source_of_copy(self.headers)
        if source is not None:
            names.append(source)
        with KEY_LOCKS.holding(*names):
            return original(self, *args, **kwargs)

    wrapped: Any = functools.wraps(original)(key_response)
    wrapped._docclass_atomic = True
    return wrapped


def _etag_under_the_objects_lock(original: property) -> property:
    def etag(key: Any) -> str:
        with key.lock:  # the lock FakeKey.value takes around its own seek and read
            return original.fget(key)  # type: ignore[misc]

    wrapped = property(functools.wraps(original.fget)(etag))  # type: ignore[arg-type]
    wrapped.fget._docclass_atomic = True  # type: ignore[union-attr]
    return wrapped


def _copy_source_if_match(original: Any) -> Any:
    from moto.s3.exceptions import PreconditionFailed

    def copy_object(self: Any) -> Any:
        expected = self.headers.get("x-amz-copy-source-if-match")
        source = _source_of_copy(self.headers)
        if expected and source is not None:
            bucket, key = source
            current = self.backend.get_object(bucket, key)
            if current is not None and current.etag.strip('"') != expected.strip('"'):
                raise PreconditionFailed("x-amz-copy-source-If-Match")
        # get_object answers None for a key whose current version is a delete marker, as S3 counts
        # such a key as absent for If-None-Match.
        destination_exists = self.backend.get_object(self.bucket_name, self.parse_key_name()) is not None
        if self.headers.get("If-None-Match") == "*" and destination_exists:
            raise PreconditionFailed("If-None-Match")
        return original(self)

    wrapped: Any = functools.wraps(original)(copy_object)
    wrapped._docclass_atomic = True
    return wrapped


_SEQUENCE = itertools.count(1)


@dataclass(frozen=True)
class _RemovedVersion:
    """What a removal event names: the key and the version removed (or the delete marker written)."""

    name: str
    version_id: str
    etag: str = ""
    size: int = 0


def _with_sequencer(original: Any) -> Any:
    def get_s3_event(event_name: str, bucket: Any, key: Any, *args: Any, **kwargs: Any) -> Any:
        event = original(event_name, bucket, key, *args, **kwargs)
        for record in event.get("Records", []):
            obj = record["s3"]["object"]
            obj.setdefault("sequencer", f"{next(_SEQUENCE):018X}")
            if getattr(bucket, "is_versioned", False) or isinstance(key, _RemovedVersion):
                obj.setdefault("versionId", str(key.version_id))
        return event

    wrapped: Any = functools.wraps(original)(get_s3_event)
    wrapped._docclass_atomic = True
    return wrapped


_DELETING = threading.local()


def _without_moto_removal_events(original: Any) -> Any:
    def send_event(account_id: str, event_name: Any, *args: Any, **kwargs: Any) -> None:
        if getattr(_DELETING, "versioned", False) and str(event_name).startswith("s3:ObjectRemoved:"):
            return  # versioned_delete sends S3's event instead
        original(account_id, event_name, *args, **kwargs)

    wrapped: Any = functools.wraps(original)(send_event)
    wrapped._docclass_atomic = True
    return wrapped


def _versioned_delete_events(original: Any) -> Any:
    from moto.s3 import notifications

    def delete_object(
        self: Any, bucket_name: str, key_name: str, version_id: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        # DeleteObjects (a bucket-level request) deletes key after key through here: each holds its
        # key's lock as a DeleteObject does (re-entrant: a DeleteObject holds it already).
        with KEY_LOCKS.holding((bucket_name, key_name)):
            return _delete(self, bucket_name, key_name, version_id, *args, **kwargs)

    def _delete(
        self: Any, bucket_name: str, key_name: str, version_id: str | None, *args: Any, **kwargs: Any
    ) -> Any:
        bucket = self.get_bucket(bucket_name)
        if not bucket.is_versioned:
            return original(self, bucket_name, key_name, version_id, *args, **kwargs)
        _DELETING.versioned = True
        try:
            success, meta = original(self, bucket_name, key_name, version_id, *args, **kwargs)
        finally:
            _DELETING.versioned = False
        if success:
            removed = _RemovedVersion(key_name, str(meta.get("version-id") or version_id or ""))
            if version_id is None:
                event = notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT
            else:
                event = notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_EVENT
            notifications.send_event(self.account_id, event, bucket, removed)
        return success, meta

    wrapped: Any = functools.wraps(original)(delete_object)
    wrapped._docclass_atomic = True
    return wrapped


def _listing_without_keys_deleted_meanwhile() -> dict[str, Any]:
    """items / values / lists of a _VersionedKeyStore that skip a name deleted after the copy."""

    def items(store: Any) -> Iterator[tuple[str, Any]]:
        for name in store._self_iterable():
            versions = store.getlist(name)
            if versions is not None:
                yield name, versions[-1]

    def values(store: Any) -> Iterator[Any]:
        for _, current in items(store):
            yield current

    def lists(store: Any) -> Iterator[tuple[str, list[Any]]]:
        for name in store._self_iterable():
            versions = store.getlist(name)
            if versions is not None:
                yield name, versions

    methods: tuple[Any, ...] = (items, values, lists)
    for method in methods:
        method._docclass_atomic = True
    return {
        "items": items,
        "iteritems": items,
        "values": values,
        "itervalues": values,
        "lists": lists,
        "iterlists": lists,
    }


def _delete_under_the_queues_lock(original: Any) -> Any:
    def delete_message(queue: Any, *args: Any, **kwargs: Any) -> Any:
        with queue._messages_lock:  # what send_message appends under (a Condition on an RLock)
            return original(queue, *args, **kwargs)

    wrapped: Any = functools.wraps(original)(delete_message)
    wrapped._docclass_atomic = True
    return wrapped


def _retention_check_in_constant_time(original: Any) -> Any:
    from moto.core import utils

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention_period + message.sent_timestamp / 1000 > utils.unix_time())

    wrapped: Any = functools.wraps(original)(is_message_valid_based_on_retention_period)
    wrapped._docclass_atomic = True
    return wrapped


_SENDING = threading.local()


def _sending_without_counting(original: Any) -> Any:
    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        _SENDING.active = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _SENDING.active = False

    wrapped: Any = functools.wraps(original)(send_message)
    wrapped._docclass_atomic = True
    return wrapped


def _attributes_while_sending(original: property) -> property:
    def attributes(queue: Any) -> dict[str, Any]:
        if not getattr(_SENDING, "active", False):
            return original.fget(queue)  # type: ignore[misc]
        # All that SendMessage reads (moto 5.2); absent on standard queues, as in the full dict.
        if not queue.fifo_queue:
            return {}
        return {"ContentBasedDeduplication": str(bool(queue.content_based_deduplication)).lower()}

    wrapped = property(functools.wraps(original.fget)(attributes))  # type: ignore[arg-type]
    wrapped.fget._docclass_atomic = True  # type: ignore[union-attr]
    return wrapped


def make_moto_behave_like_s3() -> None:
    """Patch moto's S3 object requests to take turns per key, CopyObject to honour
    x-amz-copy-source-if-match, versioned deletes to notify as S3 does, listings to skip a key
    deleted meanwhile, SQS's delete to keep a
    message sent meanwhile, and SQS's send and receive to stop counting the queue (idempotent)."""
    from moto.s3 import notifications
    from moto.s3.models import FakeKey, S3Backend
    from moto.s3.responses import S3Response
    from moto.s3.utils import _VersionedKeyStore
    from moto.sqs.models import Queue, SQSBackend

    check = SQSBackend.is_message_valid_based_on_retention_period
    if not getattr(check, "_docclass_atomic", False):
        SQSBackend.is_message_valid_based_on_retention_period = _retention_check_in_constant_time(check)  # type: ignore[method-assign]
    if not getattr(SQSBackend.send_message, "_docclass_atomic", False):
        SQSBackend.send_message = _sending_without_counting(SQSBackend.send_message)  # type: ignore[method-assign]
    if not getattr(Queue.delete_message, "_docclass_atomic", False):
        Queue.delete_message = _delete_under_the_queues_lock(Queue.delete_message)  # type: ignore[method-assign]
    if not getattr(Queue.attributes.fget, "_docclass_atomic", False):  # type: ignore[attr-defined]
        Queue.attributes = _attributes_while_sending(Queue.attributes)  # type: ignore[assignment,method-assign,arg-type]

    if not getattr(notifications._get_s3_event, "_docclass_atomic", False):
        notifications._get_s3_event = _with_sequencer(notifications._get_s3_event)
    if not getattr(notifications.send_event, "_docclass_atomic", False):
        notifications.send_event = _without_moto_removal_events(notifications.send_event)
    if not getattr(S3Backend.delete_object, "_docclass_atomic", False):
        S3Backend.delete_object = _versioned_delete_events(S3Backend.delete_object)  # type: ignore[method-assign]

    if not getattr(_VersionedKeyStore.items, "_docclass_atomic", False):
        for name, method in _listing_without_keys_deleted_meanwhile().items():
            setattr(_VersionedKeyStore, name, method)

    if not getattr(S3Response.copy_object, "_docclass_atomic", False):
        S3Response.copy_object = _copy_source_if_match(S3Response.copy_object)  # type: ignore[method-assign]

    if not getattr(S3Response._key_response, "_docclass_atomic", False):
        S3Response._key_response = _one_request_per_key(S3Response._key_response)  # type: ignore[method-assign]
    if not getattr(FakeKey.etag.fget, "_docclass_atomic", False):  # type: ignore[attr-defined]
        FakeKey.etag = _etag_under_the_objects_lock(FakeKey.etag)  # type: ignore[assignment,method-assign,arg-type]
