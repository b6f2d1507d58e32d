"""The event adapter: both event shapes, URL-decoded keys, test events, batch item failures."""

from __future__ import annotations

import json

import pytest

from conftest import load_event
from docclass.events import S3Change, iter_changes, parse_s3_notification, process_event


@pytest.mark.parametrize("name", ["s3-inbox-put.json", "sqs-inbox-put.json"])
def test_both_shapes_yield_the_decoded_key(name):
    (change,) = list(iter_changes(load_event(name)))
    assert change.key == "inbox/scans/March 2026+urgent.png"
    assert change.is_created and not change.is_removed
    assert change.sequencer == "0062E99A88DC407480"
    assert change.bucket == "docclass-local"


@pytest.mark.parametrize("name", ["s3-gallery-delete.json", "sqs-gallery-delete.json"])
def test_delete_events_are_removals(name):
    (change,) = list(iter_changes(load_event(name)))
    assert change.is_removed
    assert change.key == "gallery/invoice/invoice-001.png"


def test_s3_test_event_yields_nothing():
    assert parse_s3_notification({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}) == []


def test_only_failed_messages_are_reported(lambda_context):
    event = load_event("sqs-inbox-put.json")
    ok = dict(event["Records"][0], messageId="ok-1")
    bad_body = json.loads(ok["body"])
    bad_body["Records"][0]["s3"]["object"]["key"] = "inbox/bad.png"
    bad = dict(ok, messageId="bad-1", body=json.dumps(bad_body))

    def handle(change: S3Change) -> str:
        if change.key == "inbox/bad.png":
            raise RuntimeError("boom")
        return change.key

    outcome = process_event({"Records": [ok, bad]}, lambda_context, handle)
    assert outcome.response == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    assert outcome.results == ["inbox/scans/March 2026+urgent.png"]


def test_all_failed_batch_is_reported_not_raised(lambda_context):
    def handle(change: S3Change) -> None:
        raise RuntimeError("boom")

    outcome = process_event(load_event("sqs-inbox-put.json"), lambda_context, handle)
    assert (
        outcome.response["batchItemFailures"][0]["itemIdentifier"] == "a4f2d9c1-7e3b-4c8a-9f1d-3b2e6a5c4d33"
    )


def test_plain_s3_event_raises_after_trying_every_record(lambda_context):
    event = load_event("s3-inbox-put.json")
    event["Records"].append(event["Records"][0])
    seen = []

    def handle(change: S3Change) -> None:
        seen.append(change.key)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        process_event(event, lambda_context, handle)
    assert len(seen) == 2


def test_version_id_is_carried_and_a_permanent_version_delete_is_told_from_a_delete_marker():
    def change(event_name: str, version: str | None) -> S3Change:
        obj = {"key": "gallery/a/x.png", "sequencer": "0A"}
        if version is not None:
            obj["versionId"] = version
        body = {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": event_name,
                    "s3": {"bucket": {"name": "b"}, "object": obj},
                }
            ]
        }
        (parsed,) = parse_s3_notification(body)
        return parsed

    assert change("ObjectRemoved:Delete", "v1").version_id == "v1"
    assert change("ObjectRemoved:Delete", "v1").removes_one_version
    assert not change("ObjectRemoved:DeleteMarkerCreated", "m1").removes_one_version
    assert not change("ObjectRemoved:Delete", None).removes_one_version  # unversioned bucket
    assert not change("ObjectCreated:Put", "v2").removes_one_version


@pytest.mark.parametrize("name", ["s3-gallery-put.json", "sqs-gallery-put.json"])
def test_the_time_s3_made_the_change_is_carried_in_seconds_since_the_epoch(name):
    # given an event whose eventTime is 2026-11-24T10:00:00.000Z, then its change carries that instant
    (change,) = list(iter_changes(load_event(name)))
    assert change.event_time == 1795514400.0


@pytest.mark.parametrize("stamp", [None, "", "yesterday", "2026-11-24T10:00:00"])
def test_a_missing_unreadable_or_zoneless_event_time_is_none_not_a_guess(stamp):
    # given an S3 record whose eventTime is absent, not a timestamp, or without its time zone
    record = json.loads(load_event("sqs-gallery-put.json")["Records"][0]["body"])
    if stamp is None:
        del record["Records"][0]["eventTime"]
    else:
        record["Records"][0]["eventTime"] = stamp
    # then the change has no event time (no lag is measured from it) and is otherwise read as ever
    (change,) = parse_s3_notification(record)
    assert change.event_time is None
    assert change.key == "gallery/invoice/invoice-001.png"
