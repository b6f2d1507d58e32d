"""moto after docclass_local.moto_fixes: SQS's faster paths answer as before; S3 requests on one key
take turns as S3 applies them, and requests on different keys do not wait for each other."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def sqs() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def test_standard_queue_counts_and_delivers_every_message(sqs):
    url = sqs.create_queue(QueueName="plain")["QueueUrl"]
    for i in range(25):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "25"
    assert "ContentBasedDeduplication" not in counts
    received = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        received += [m["Body"] for m in batch]
    assert sorted(received) == sorted(f"m{i}" for i in range(25))


def test_fifo_content_based_deduplication_still_drops_a_duplicate(sqs):
    url = sqs.create_queue(
        QueueName="dedupe.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    for body in ("same", "same", "other"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "2"
    assert counts["ContentBasedDeduplication"] == "true"


def test_fifo_without_content_deduplication_still_requires_a_deduplication_id(sqs):
    url = sqs.create_queue(QueueName="strict.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(sqs.exceptions.ClientError, match="MessageDeduplicationId"):
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")


def test_messages_older_than_the_retention_period_are_not_delivered(sqs, monkeypatch):
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    import moto.sqs.models

    later = moto.sqs.models.unix_time() + 120
    monkeypatch.setattr("moto.core.utils.unix_time", lambda *_: later)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


# -- S3 conditions docclass relies on, as S3 documents them -----------------------------------


def _s3_with_object():
    import boto3

    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="pin-s3")
    etag = client.put_object(Bucket="pin-s3", Key="src", Body=b"source")["ETag"]
    return client, etag


def _code(error) -> str:
    return error.value.response["Error"]["Code"]


def test_copy_with_if_none_match_refuses_an_existing_destination(s3):
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html, If-None-Match: "Copies the
    # object only if the object key name at the destination does not already exist ... Otherwise,
    # Amazon S3 returns a 412 Precondition Failed error."
    from botocore.exceptions import ClientError

    client, _ = _s3_with_object()
    client.put_object(Bucket="pin-s3", Key="dst", Body=b"someone else's")
    with pytest.raises(ClientError) as error:
        client.copy_object(
            Bucket="pin-s3", Key="dst", CopySource={"Bucket": "pin-s3", "Key": "src"}, IfNoneMatch="*"
        )
    assert _code(error) == "PreconditionFailed"
    assert client.get_object(Bucket="pin-s3", Key="dst")["Body"].read() == b"someone else's"
    # and a free destination is written
    client.copy_object(
        Bucket="pin-s3", Key="free", CopySource={"Bucket": "pin-s3", "Key": "src"}, IfNoneMatch="*"
    )
    assert client.get_object(Bucket="pin-s3", Key="free")["Body"].read() == b"source"


def test_delete_with_if_match_removes_only_that_version(s3):
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html: another ETag
    # answers 412 Precondition Failed; a key that no longer exists answers 404.
    from botocore.exceptions import ClientError

    client, etag = _s3_with_object()
    newer = client.put_object(Bucket="pin-s3", Key="src", Body=b"newer upload")["ETag"]
    with pytest.raises(ClientError) as error:
        client.delete_object(Bucket="pin-s3", Key="src", IfMatch=etag)
    assert _code(error) == "PreconditionFailed"
    client.delete_object(Bucket="pin-s3", Key="src", IfMatch=newer)
    with pytest.raises(ClientError) as error:
        client.delete_object(Bucket="pin-s3", Key="src", IfMatch=newer)
    assert _code(error) in {"NoSuchKey", "404"}


# S3 in a versioned bucket (docclass_local.moto_fixes; the S3 docs on event types and the event
# message structure): a delete without a version id writes a delete marker and notifies
# ObjectRemoved:DeleteMarkerCreated; deleting a version notifies ObjectRemoved:Delete with that
# versionId even while a newer version stays current; every record names its object version.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-event-types-and-destinations.html


def _bucket_events(bucket: str, *, versioned: bool) -> Iterator[tuple[Any, Any]]:
    """(s3 client, read_events()) for a bucket that notifies a queue of every change."""
    import json

    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName=f"{bucket}-changes")["QueueUrl"]
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": f"arn:aws:sqs:us-east-1:123456789012:{bucket}-changes",
                        "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    }
                ]
            },
        )

        def read_events() -> list[tuple[str, str]]:
            """(event name, versionId or "") of every record queued since the last call."""
            found = []
            while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                for message in batch:
                    for record in json.loads(message["Body"]).get("Records", []):
                        found.append((record["eventName"], record["s3"]["object"].get("versionId", "")))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return found

        read_events()  # the s3:TestEvent
        yield s3, read_events


@pytest.fixture
def versioned_events() -> Iterator[tuple[Any, Any]]:
    yield from _bucket_events("versioned-bucket", versioned=True)


@pytest.fixture
def unversioned_events() -> Iterator[tuple[Any, Any]]:
    yield from _bucket_events("plain-bucket", versioned=False)


def test_versioned_put_event_names_the_version_it_created(versioned_events):
    s3, read_events = versioned_events
    version = s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"one")["VersionId"]
    assert read_events() == [("ObjectCreated:Put", version)]


def test_deleting_an_old_version_notifies_delete_with_its_version_id_while_a_newer_one_is_current(
    versioned_events,
):
    # given two versions of a key
    s3, read_events = versioned_events
    old = s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"one")["VersionId"]
    s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"two")
    read_events()
    # when the old version is deleted for good
    s3.delete_object(Bucket="versioned-bucket", Key="k", VersionId=old)
    # then S3 notifies its removal (moto sent nothing: another version remained)
    assert read_events() == [("ObjectRemoved:Delete", old)]
    assert s3.get_object(Bucket="versioned-bucket", Key="k")["Body"].read() == b"two"


def test_deleting_without_a_version_id_notifies_the_delete_marker(versioned_events):
    s3, read_events = versioned_events
    s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"one")
    read_events()
    marker = s3.delete_object(Bucket="versioned-bucket", Key="k")
    assert marker["DeleteMarker"] is True
    assert read_events() == [("ObjectRemoved:DeleteMarkerCreated", marker["VersionId"])]


def test_deleting_the_current_version_notifies_delete_and_the_previous_version_is_current_again(
    versioned_events,
):
    s3, read_events = versioned_events
    s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"one")
    current = s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"two")["VersionId"]
    read_events()
    s3.delete_object(Bucket="versioned-bucket", Key="k", VersionId=current)
    # S3 sends no ObjectCreated for the version that became current again
    assert read_events() == [("ObjectRemoved:Delete", current)]
    assert s3.get_object(Bucket="versioned-bucket", Key="k")["Body"].read() == b"one"


def test_unversioned_delete_still_notifies_delete_without_a_version(unversioned_events):
    s3, read_events = unversioned_events
    s3.put_object(Bucket="plain-bucket", Key="k", Body=b"one")
    s3.delete_object(Bucket="plain-bucket", Key="k")
    assert read_events() == [("ObjectCreated:Put", ""), ("ObjectRemoved:Delete", "")]


# -- requests on one key take turns (docclass_local.moto_fixes.KEY_LOCKS); SQS keeps what is sent ---
# Each test holds a first request at a chosen point inside moto, starts a second request, and lets
# the first go on once the second either waits for the key's lock or has run to its end. Without
# the per-key lock the second runs to its end in the middle of the first: the interleaving S3 never
# shows, which each test then detects.


class Interleaving:
    """Two requests, the first held inside moto until the second waits for a lock or ends."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from docclass_local import moto_fixes

        self.monkeypatch = monkeypatch
        self.first_held = threading.Event()
        self.go_on = threading.Event()
        self.second_waited = False
        self._in_first = threading.local()
        lock_of = moto_fixes.KEY_LOCKS.of
        monkeypatch.setattr(
            moto_fixes.KEY_LOCKS, "of", lambda bucket, key: self.noticing(lock_of(bucket, key))
        )

    def noticing(self, lock: Any) -> Any:
        """The lock (or Condition), telling the interleaving when a request has to wait for it."""
        interleaving = self

        class Noticing:
            def __getattr__(self, name: str) -> Any:
                return getattr(lock, name)

            def acquire(self) -> bool:
                if not lock.acquire(blocking=False):
                    interleaving.second_waited = True
                    interleaving.go_on.set()
                    lock.acquire()
                return True

            def release(self) -> None:
                lock.release()

            def __enter__(self) -> bool:
                return self.acquire()

            def __exit__(self, *exc: object) -> None:
                self.release()

        return Noticing()

    def _hold_first(self) -> None:
        if getattr(self._in_first, "hold", False):
            self._in_first.hold = False  # once
            self.first_held.set()
            assert self.go_on.wait(30), "the second request neither waited nor ended"

    def hold_before(self, owner: Any, name: str) -> None:
        """Hold the first request when it calls owner.name (a method, or a property's getter)."""
        original = owner.__dict__[name]
        if isinstance(original, property):

            def getter(obj: Any) -> Any:
                self._hold_first()
                return original.fget(obj)  # type: ignore[misc]

            self.monkeypatch.setattr(owner, name, property(getter, original.fset))
            return

        def held(*args: Any, **kwargs: Any) -> Any:
            self._hold_first()
            return original(*args, **kwargs)

        self.monkeypatch.setattr(owner, name, held)

    def hold_before_setting(self, owner: Any, name: str) -> None:
        """Hold the first request when it assigns obj.name on an instance of owner."""

        def get(obj: Any) -> Any:
            return obj.__dict__[name]

        def set_(obj: Any, value: Any) -> None:
            self._hold_first()
            obj.__dict__[name] = value

        self.monkeypatch.setattr(owner, name, property(get, set_), raising=False)

    def hold_after(self, owner: Any, name: str) -> None:
        """Hold the first request when a call of owner.name (a method) has returned."""
        original = owner.__dict__[name]

        def held(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            self._hold_first()
            return result

        self.monkeypatch.setattr(owner, name, held)

    def run(self, first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
        """Each request's answer, or the exception it raised."""
        results: list[Any] = [None, None]

        def run_first() -> None:
            self._in_first.hold = True
            try:
                results[0] = first()
            except Exception as exc:
                results[0] = exc

        def run_second() -> None:
            try:
                results[1] = second()
            except Exception as exc:
                results[1] = exc
            finally:
                self.go_on.set()

        first_thread = threading.Thread(target=run_first)
        first_thread.start()
        assert self.first_held.wait(30), "the first request never reached its hold point"
        second_thread = threading.Thread(target=run_second)
        second_thread.start()
        first_thread.join(30)
        second_thread.join(30)
        assert not first_thread.is_alive() and not second_thread.is_alive()
        return results[0], results[1]


def _outcome(result: Any) -> str:
    from botocore.exceptions import ClientError

    if isinstance(result, ClientError):
        return str(result.response["Error"]["Code"])
    if isinstance(result, Exception):
        return repr(result)
    return "written"


@pytest.mark.parametrize("condition", ["IfNoneMatch", "IfMatch"])
def test_of_two_conditional_writes_racing_on_one_key_exactly_one_wins(s3, monkeypatch, condition):
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html: of two
    # conditional writes of one key in flight at once, one wins; the other gets 412 (or 409).
    from moto.s3.models import S3Backend

    # given two writers that both hold the same condition for the index pointer
    key = "index/CURRENT.json"
    headers = {"IfNoneMatch": "*"}
    if condition == "IfMatch":
        headers = {"IfMatch": s3.put_object(Bucket="docclass-local", Key=key, Body=b"v0")["ETag"]}
    race = Interleaving(monkeypatch)
    # when the first has passed moto's check and is held just before it writes
    race.hold_before(S3Backend, "put_object")
    first, second = race.run(
        lambda: s3.put_object(Bucket="docclass-local", Key=key, Body=b"first", **headers),
        lambda: s3.put_object(Bucket="docclass-local", Key=key, Body=b"second", **headers),
    )
    # then the second waited for the first, found the condition false and changed nothing
    assert (_outcome(first), _outcome(second)) == ("written", "PreconditionFailed")
    assert race.second_waited
    assert s3.get_object(Bucket="docclass-local", Key=key)["Body"].read() == b"first"


@pytest.mark.parametrize("reader", ["GetObject", "CopyObject"])
def test_an_object_read_while_it_is_overwritten_is_read_whole(s3, monkeypatch, reader):
    # moto closes the buffer of the object an overwrite replaces; a read that found the old
    # object must finish before that, as S3 answers a GET with one whole version or the other.
    from moto.s3.models import FakeKey

    # given an object, and a read of it held once moto has found the object, before its bytes
    s3.put_object(Bucket="docclass-local", Key="inbox/a.png", Body=b"old bytes")
    race = Interleaving(monkeypatch)
    race.hold_before(FakeKey, "value")

    def read() -> bytes:
        if reader == "GetObject":
            return s3.get_object(Bucket="docclass-local", Key="inbox/a.png")["Body"].read()
        s3.copy_object(
            Bucket="docclass-local",
            Key="classified/x/a.png",
            CopySource={"Bucket": "docclass-local", "Key": "inbox/a.png"},
        )
        return s3.get_object(Bucket="docclass-local", Key="classified/x/a.png")["Body"].read()

    # when the object is overwritten meanwhile
    first, second = race.run(
        read, lambda: s3.put_object(Bucket="docclass-local", Key="inbox/a.png", Body=b"new bytes")
    )
    # then the read got the old bytes whole, and the overwrite happened after it
    assert first == b"old bytes"
    assert _outcome(second) == "written"
    assert race.second_waited
    assert s3.get_object(Bucket="docclass-local", Key="inbox/a.png")["Body"].read() == b"new bytes"


def test_an_object_is_never_seen_without_its_metadata(s3, monkeypatch):
    # moto 5.2 stores a new object, then sets its metadata: S3 shows an object whole or not at all.
    from moto.s3.models import S3Backend

    # given an upload with a label held where moto has stored it but not yet its metadata
    race = Interleaving(monkeypatch)
    race.hold_after(S3Backend, "put_object")

    def head() -> dict[str, str] | str:
        try:
            return dict(s3.head_object(Bucket="docclass-local", Key="gallery/x.png")["Metadata"])
        except Exception as exc:
            return _outcome(exc)

    # when the object is read meanwhile
    first, second = race.run(
        lambda: s3.put_object(
            Bucket="docclass-local", Key="gallery/x.png", Body=b"x", Metadata={"label": "a"}
        ),
        head,
    )
    # then the read saw the object with its metadata (it waited for the upload)
    assert _outcome(first) == "written"
    assert second == {"label": "a"}
    assert race.second_waited


def test_sequencers_of_one_key_increase_in_the_order_its_writes_happen(s3, monkeypatch):
    # S3's sequencer orders the events of one key; the newest event must name the current object.
    import json

    import boto3
    from moto.s3 import notifications

    # given a bucket that notifies a queue, and a write held after it replaced the object but
    # before its event (and sequencer) was made
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="ordered")["QueueUrl"]
    s3.put_bucket_notification_configuration(
        Bucket="docclass-local",
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:ordered", "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    race = Interleaving(monkeypatch)
    race.hold_before(notifications, "send_event")
    # when the key is written again meanwhile
    first, second = race.run(
        lambda: s3.put_object(Bucket="docclass-local", Key="gallery/a.png", Body=b"first"),
        lambda: s3.put_object(Bucket="docclass-local", Key="gallery/a.png", Body=b"second"),
    )
    # then both writes were made, and the event with the highest sequencer names the object the key holds
    assert (_outcome(first), _outcome(second)) == ("written", "written")
    records = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            records += json.loads(message["Body"]).get("Records", [])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    newest = max(records, key=lambda r: r["s3"]["object"]["sequencer"])
    current = s3.head_object(Bucket="docclass-local", Key="gallery/a.png")["ETag"].strip('"')
    assert len(records) == 2
    assert newest["s3"]["object"]["eTag"].strip('"') == current
    assert race.second_waited


def test_requests_on_different_keys_do_not_wait_for_each_other(s3, monkeypatch):
    from moto.s3.models import S3Backend

    # given a write held inside moto
    race = Interleaving(monkeypatch)
    race.hold_before(S3Backend, "put_object")
    # when another key is written and read meanwhile
    first, second = race.run(
        lambda: s3.put_object(Bucket="docclass-local", Key="gallery/a.png", Body=b"a"),
        lambda: (
            s3.put_object(Bucket="docclass-local", Key="gallery/b.png", Body=b"b")
            and s3.get_object(Bucket="docclass-local", Key="gallery/b.png")["Body"].read()
        ),
    )
    # then that ran to its end while the first was held
    assert (_outcome(first), second) == ("written", b"b")
    assert not race.second_waited


def test_an_objects_etag_is_read_from_its_bytes_under_the_objects_lock(s3):
    # A listing can compute the ETag of an object its PUT is computing too: two seek-and-read loops
    # on one buffer at once would cache the digest of part of the bytes.
    import hashlib

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    # given an object whose ETag is not computed yet
    s3.put_object(Bucket="docclass-local", Key="gallery/x.png", Body=b"some bytes")
    obj = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object("docclass-local", "gallery/x.png")
    obj._etag = None
    buffer, locked_while_reading = obj._value_buffer, []

    class Watched:
        def __getattr__(self, name: str) -> Any:
            return getattr(buffer, name)

        def read(self, *args: Any) -> bytes:
            locked_while_reading.append(obj.lock.locked())
            return buffer.read(*args)

    obj._value_buffer = Watched()
    # when it is computed
    etag = obj.etag
    obj._value_buffer = buffer
    # then every read of the bytes held the lock that FakeKey.value takes
    assert etag == f'"{hashlib.md5(b"some bytes").hexdigest()}"'
    assert locked_while_reading and all(locked_while_reading)


@pytest.mark.parametrize("meanwhile", ["SendMessage", "DeleteMessage"])
def test_a_delete_neither_drops_a_message_sent_meanwhile_nor_brings_back_one_deleted(
    sqs, monkeypatch, meanwhile
):
    # SQS keeps a message from its send until its delete, and a deleted message never comes back.
    # moto's delete rebuilds the queue's message list and assigns it: a send, or another delete,
    # in between was lost (a deleted message came back in flight, 30 minutes away from its next
    # delivery: the local stack's drain then waits for it in vain).
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import Queue, sqs_backends

    # given two received messages, and the delete of one held just before moto replaces the list
    race = Interleaving(monkeypatch)
    race.hold_before_setting(Queue, "_messages")
    url = sqs.create_queue(QueueName="changes")["QueueUrl"]
    for body in ("handled", "also handled"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    first, other = (
        m["ReceiptHandle"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    )
    queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues["changes"]
    queue._messages_lock = race.noticing(queue._messages_lock)

    # when a message is sent, or the other deleted, meanwhile
    def second() -> Any:
        if meanwhile == "SendMessage":
            return sqs.send_message(QueueUrl=url, MessageBody="new")
        return sqs.delete_message(QueueUrl=url, ReceiptHandle=other)

    race.run(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=first), second)
    # then the queue holds exactly what it should: the second request waited for the delete
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    in_flight = int(counts["ApproximateNumberOfMessagesNotVisible"])
    received = [
        m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ]
    if meanwhile == "SendMessage":
        assert (received, in_flight) == (["new"], 1)  # "also handled" is still in flight
    else:
        assert (received, in_flight) == ([], 0)
    assert race.second_waited


@pytest.mark.parametrize("listing", ["ListObjectsV2", "ListObjectVersions"])
def test_a_listing_while_a_key_is_deleted_answers_without_that_key(s3, monkeypatch, listing):
    # moto lists from a copy of the bucket's key names, then looks each one up: a key deleted in
    # between raised KeyError out of the listing (a 500 from the local stack). S3 answers a listing
    # whatever is deleted meanwhile; the key deleted is in it or not.
    from moto.s3.utils import _VersionedKeyStore

    # given three objects, and a listing held once it has copied the key names
    for name in ("a", "b", "c"):
        s3.put_object(Bucket="docclass-local", Key=f"inbox/{name}.png", Body=name.encode())
    race = Interleaving(monkeypatch)
    race.hold_after(_VersionedKeyStore, "_self_iterable")

    def list_keys() -> list[str]:
        if listing == "ListObjectsV2":
            contents = s3.list_objects_v2(Bucket="docclass-local", Prefix="inbox/").get("Contents", [])
        else:
            contents = s3.list_object_versions(Bucket="docclass-local", Prefix="inbox/").get("Versions", [])
        return sorted(item["Key"] for item in contents)

    # when one of them is deleted meanwhile
    first, second = race.run(list_keys, lambda: s3.delete_object(Bucket="docclass-local", Key="inbox/b.png"))
    # then the listing answered, without the key deleted, and the delete was applied
    assert first == ["inbox/a.png", "inbox/c.png"]
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert list_keys() == ["inbox/a.png", "inbox/c.png"]
