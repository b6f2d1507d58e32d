"""Documents uploaded with SSE-KMS under a customer managed key: read when KmsKeyArn grants the key,
otherwise left where they are, counted and explained once, never retried into the dead-letter queue.

moto enforces no KMS permission; docclass_local.kms answers the functions' GetObject / CopyObject
as S3 does (403 AccessDenied naming kms:Decrypt and the key) for any key but the granted one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import BUCKET, QUICK_STACK, draw_page, load_event, load_handler
from docclass import observability
from docclass.index_store import IndexRepository
from docclass.local_embedder import MODEL_ID as LOCAL_MODEL
from docclass.store import ObjectStore
from docclass_local.kms import KmsAccessCheck
from docclass_local.stack import LocalStack
from docclass_local.status import format_status

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = "arn:aws:kms:us-east-1:123456789012:key/0000aaaa-12ab-34cd-56ef-1234567890ab"
INBOX_KEY = "inbox/scans/March 2026+urgent.png"  # the key events/sqs-inbox-put.json names
REMEDY = "objects encrypted with the KMS key"


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a new container: no KMS key explained yet."""
    monkeypatch.setattr(observability, "_LOGGED_ONCE", set())


def kms_check(s3: Any, granted: list[str]) -> KmsAccessCheck:
    """S3's SSE-KMS check on the session the functions' clients come from (moto's in-process S3)."""
    import boto3

    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    check = KmsAccessCheck(granted)
    check.install(boto3.DEFAULT_SESSION.events)
    return check


@pytest.fixture
def handler(service_env, s3, lambda_context) -> Iterator[Callable[[str, dict[str, Any]], dict[str, Any]]]:
    import boto3

    yield lambda function, event: load_handler(function).lambda_handler(event, lambda_context)
    boto3.DEFAULT_SESSION = None


def keys(s3, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def put_encrypted(s3, key: str, body: bytes, kms_key: str = KEY) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key)


def metric_values(output: str, name: str) -> list[float]:
    """Every value of a metric in the EMF lines Powertools printed."""
    values: list[float] = []
    for line in output.splitlines():
        if line.startswith('{"_aws"'):
            value = json.loads(line).get(name)
            values += value if isinstance(value, list) else [] if value is None else [value]
    return values


def inbox_event(*paths: str) -> dict[str, Any]:
    """An SQS batch of inbox put events (events/sqs-inbox-put.json's message, one per key)."""
    template = load_event("sqs-inbox-put.json")["Records"][0]
    records = []
    for i, key in enumerate(paths):
        body = json.loads(template["body"])
        body["Records"][0]["s3"]["object"]["key"] = key.replace(" ", "+")
        records.append(dict(template, messageId=f"m-{i}", body=json.dumps(body)))
    return {"Records": records}


def test_sse_kms_document_without_the_key_stays_in_inbox_and_its_message_is_consumed(
    s3, handler, capsys, caplog
):
    # given a document encrypted with a customer managed key the function is not granted
    kms_check(s3, granted=[])
    put_encrypted(s3, INBOX_KEY, draw_page("letter", 1))
    # when its event is handled
    with caplog.at_level(logging.INFO):
        response = handler("classify", load_event("sqs-inbox-put.json"))
    # then the message is consumed (no retry can help, and it must not sit in the DLQ unexplained)
    assert response == {"batchItemFailures": []}
    # and the document stays where it is: S3 would not copy it to failed/ either
    assert keys(s3) == [INBOX_KEY]
    # and it is counted, and the log says which key to grant and how
    assert metric_values(capsys.readouterr().out, "DocumentsUnreadable") == [1.0]
    [explained] = [r for r in caplog.records if r.getMessage().startswith(REMEDY)]
    assert explained.levelno == logging.ERROR
    assert f"KmsKeyArn={KEY}" in explained.remedy  # type: ignore[attr-defined]


def test_the_remedy_is_logged_once_per_container_and_key_and_every_document_is_counted(
    s3, handler, capsys, caplog
):
    kms_check(s3, granted=[])
    paths = ["inbox/a.png", "inbox/b.png", "inbox/c.png"]
    put_encrypted(s3, paths[0], draw_page("letter", 1))
    put_encrypted(s3, paths[1], draw_page("form", 1))
    put_encrypted(s3, paths[2], draw_page("form", 2), kms_key=OTHER_KEY)
    with caplog.at_level(logging.INFO):
        assert handler("classify", inbox_event(*paths)) == {"batchItemFailures": []}
        assert handler("classify", inbox_event(paths[0])) == {"batchItemFailures": []}
    # one explanation per KMS key, however many documents and invocations
    explained = [r for r in caplog.records if r.getMessage().startswith(REMEDY)]
    assert sorted(r.kms_key for r in explained) == sorted([KEY, OTHER_KEY])  # type: ignore[attr-defined]
    assert sum(metric_values(capsys.readouterr().out, "DocumentsUnreadable")) == 4
    assert keys(s3) == paths


def test_with_the_key_granted_the_document_is_classified_and_stays_encrypted_with_it(s3, handler):
    # given a gallery and a document encrypted with the granted key
    s3.put_object(Bucket=BUCKET, Key="gallery/letter/l.png", Body=draw_page("letter", 1))
    s3.put_object(Bucket=BUCKET, Key="gallery/form/f.png", Body=draw_page("form", 1))
    kms_check(s3, granted=[KEY])
    handler("gallery", gallery_event("gallery/letter/l.png", "gallery/form/f.png"))
    put_encrypted(s3, INBOX_KEY, draw_page("letter", 7))
    # when it is handled
    assert handler("classify", load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}
    # then it is routed, and its copy is encrypted with the owner's key, not the bucket default
    destination = "classified/letter/scans/March 2026+urgent.png"
    assert keys(s3, "inbox/") == [] and keys(s3, "classified/") == [destination]
    head = s3.head_object(Bucket=BUCKET, Key=destination)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KEY)


def test_an_aws_managed_key_document_is_readable_without_any_grant(s3, handler):
    # aws:kms without a key id of its own: S3 uses aws/s3, which any principal of the account may use via S3
    kms_check(s3, granted=[])
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=draw_page("letter", 1), ServerSideEncryption="aws:kms")
    assert handler("classify", load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}
    assert keys(s3, "inbox/") == []


def gallery_event(*paths: str, sequencer: str = "01") -> dict[str, Any]:
    template = load_event("sqs-gallery-put.json")["Records"][0]
    records = []
    for i, key in enumerate(paths):
        body = json.loads(template["body"])
        body["Records"][0]["s3"]["object"].update(key=key, sequencer=sequencer)
        records.append(dict(template, messageId=f"g-{i}", body=json.dumps(body)))
    return {"Records": records}


def test_an_unreadable_gallery_image_is_not_indexed_and_not_retried(s3, handler, capsys):
    # given a readable example and one encrypted with a key the function is not granted
    kms_check(s3, granted=[])
    s3.put_object(Bucket=BUCKET, Key="gallery/letter/l.png", Body=draw_page("letter", 1))
    put_encrypted(s3, "gallery/form/f.png", draw_page("form", 1))
    # when both are handled
    response = handler("gallery", gallery_event("gallery/letter/l.png", "gallery/form/f.png"))
    # then the batch succeeds, only the readable one is indexed, and the other is counted
    assert response == {"batchItemFailures": []}
    index, _ = IndexRepository(ObjectStore(BUCKET, s3), LOCAL_MODEL, 1024).load()
    assert [e.key for e in index.entries()] == ["gallery/letter/l.png"]
    assert metric_values(capsys.readouterr().out, "DocumentsUnreadable") == [1.0]


# -- through the local stack: KmsKeyArn from the template parameters ------------------------------


@pytest.mark.parametrize("granted", [False, True], ids=["no-KmsKeyArn", "KmsKeyArn-set"])
def test_local_stack_leaves_unreadable_documents_in_inbox_and_status_shows_them(granted):
    parameters = {"KmsKeyArn": KEY} if granted else {}
    with LocalStack(
        port=None, **QUICK_STACK, bucket=f"docclass-kms-{int(granted)}", parameters=parameters
    ) as stack:
        s3 = stack.client("s3")
        for kind in ("letter", "form"):
            s3.put_object(Bucket=stack.bucket, Key=f"gallery/{kind}/{kind}.png", Body=draw_page(kind, 1))
        stack.wait_until_idle(timeout=60)
        s3.put_object(
            Bucket=stack.bucket,
            Key="inbox/secret.png",
            Body=draw_page("letter", 5),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=KEY,
        )
        s3.put_object(Bucket=stack.bucket, Key="inbox/plain.png", Body=draw_page("form", 5))
        status = stack.wait_until_idle(timeout=60)
        left = sorted(
            o["Key"] for o in s3.list_objects_v2(Bucket=stack.bucket, Prefix="inbox/").get("Contents", [])
        )
    # never dead-lettered, never retried: every message of the stack succeeded
    assert sum(status["dead_letters"].values()) == 0
    assert not [r for r in stack.batches if r.failed]
    if granted:
        assert left == [] and status["classified"] == {"form": 1, "letter": 1}
        assert status["unreadable_sse_kms"] == []
    else:
        assert left == ["inbox/secret.png"] and status["classified"] == {"form": 1}
        assert status["unreadable_sse_kms"] == ["inbox/secret.png"]
        assert status["pending"] == 0  # it is not waiting for anything
        table = format_status(status)
        assert "unreadable (SSE-KMS): 1" in table and "KmsKeyArn" in table and "  inbox/secret.png" in table
        assert stack.kms.refused == ["inbox/secret.png"]


def test_the_sections_of_an_encrypted_packet_stay_encrypted_with_its_key(s3, handler, monkeypatch):
    # given a gallery, and a packet PDF encrypted with the granted key
    from conftest import draw_document

    for kind in ("form", "invoice", "letter"):
        s3.put_object(Bucket=BUCKET, Key=f"gallery/{kind}/{kind}.png", Body=draw_page(kind, 1))
    kms_check(s3, granted=[KEY])
    handler(
        "gallery", gallery_event(*(f"gallery/{kind}/{kind}.png" for kind in ("form", "invoice", "letter")))
    )
    monkeypatch.setenv("SPLIT_PACKETS", "true")
    pages = ["form", "form", None, "invoice", "letter", "letter"]
    put_encrypted(s3, "inbox/scans/loan-application.pdf", draw_document(pages, seed=11))
    # when it is split
    assert handler("classify", load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    # then every section is encrypted with the packet's key, as the packet's own copy is (not with
    # the bucket's default: anyone allowed to read the bucket could read a page of it)
    sections = keys(s3, "classified/")
    assert len(sections) == 3
    for key in [*sections, "packets/scans/loan-application.pdf"]:
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert (head["ServerSideEncryption"], head.get("SSEKMSKeyId")) == ("aws:kms", KEY), key
