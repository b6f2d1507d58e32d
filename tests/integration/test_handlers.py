"""Both Lambda handlers on the events/ files, against moto S3, with the offline embedder."""

from __future__ import annotations

import json

import pytest

from conftest import BUCKET, load_event, load_handler
from docclass import services
from docclass.classify import Classifier
from docclass.config import Settings
from docclass.errors import ConfigError
from docclass.index_store import IndexRepository
from docclass.local_embedder import MODEL_ID as LOCAL_MODEL
from docclass.store import ObjectStore

GALLERY_KEY = "gallery/invoice/invoice-001.png"
INBOX_KEY = "inbox/scans/March 2026+urgent.png"


def index_of(s3) -> dict[str, str]:
    """{gallery key: label} of the current index."""
    index, _ = IndexRepository(ObjectStore(BUCKET, s3), LOCAL_MODEL, 1024).load()
    return {e.key: e.label for e in index.entries()}


def keys(s3, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


@pytest.fixture
def gallery(service_env, s3, lambda_context):
    """The gallery handler, callable with an event file name."""
    module = load_handler("gallery")
    return lambda event: module.lambda_handler(event, lambda_context)


@pytest.fixture
def classify(service_env, s3, lambda_context):
    """The classify handler, callable with an event."""
    module = load_handler("classify")
    return lambda event: module.lambda_handler(event, lambda_context)


@pytest.mark.parametrize("shape", ["s3", "sqs"])
def test_gallery_put_then_delete_event_files_update_the_index(shape, s3, gallery, page):
    # given the object the event file describes
    s3.put_object(Bucket=BUCKET, Key=GALLERY_KEY, Body=page("invoice"))
    # when the put event is handled
    response = gallery(load_event(f"{shape}-gallery-put.json"))
    # then the key is indexed under the label of its folder
    assert response == {"batchItemFailures": []}
    assert index_of(s3) == {GALLERY_KEY: "invoice"}
    # when the (newer) delete event is handled
    s3.delete_object(Bucket=BUCKET, Key=GALLERY_KEY)
    assert gallery(load_event(f"{shape}-gallery-delete.json")) == {"batchItemFailures": []}
    assert index_of(s3) == {}


@pytest.mark.parametrize("shape", ["s3", "sqs"])
def test_inbox_put_event_file_moves_the_document_with_its_result(shape, s3, gallery, classify, page):
    # given a gallery of three classes
    for kind in ("invoice", "letter", "form"):
        key = f"gallery/{kind}/{kind}-1.png"
        s3.put_object(Bucket=BUCKET, Key=key, Body=page(kind, seed=1))
        gallery(
            {
                "Records": [
                    dict(
                        load_event("s3-gallery-put.json")["Records"][0],
                        s3={
                            "bucket": {"name": BUCKET},
                            "object": {"key": key.replace(" ", "+"), "sequencer": "01"},
                        },
                    )
                ]
            }
        )
    # and a letter uploaded with a space and a plus sign in its key, plus user metadata
    s3.put_object(
        Bucket=BUCKET,
        Key=INBOX_KEY,
        Body=page("letter", seed=7),
        ContentType="image/png",
        Metadata={"customer": "acme"},
    )
    # when the classify handler gets the event file
    response = classify(load_event(f"{shape}-inbox-put.json"))
    # then the document sits in classified/letter/ with the same path, and nowhere else
    assert response == {"batchItemFailures": []}
    destination = "classified/letter/scans/March 2026+urgent.png"
    assert keys(s3, "inbox/") == []
    assert keys(s3, "classified/") == [destination]
    head = s3.head_object(Bucket=BUCKET, Key=destination)
    meta = head["Metadata"]
    assert meta["docclass-label"] == "letter"
    assert meta["docclass-neighbor"] == "gallery/letter/letter-1.png"
    assert meta["docclass-model"] == LOCAL_MODEL
    assert 0.0 <= float(meta["docclass-distance"]) <= 2.0
    assert meta["customer"] == "acme"
    assert head["ContentType"] == "image/png"


def test_redelivered_inbox_message_is_a_success_not_a_duplicate(s3, gallery, classify, page):
    s3.put_object(Bucket=BUCKET, Key=GALLERY_KEY, Body=page("invoice"))
    gallery(load_event("sqs-gallery-put.json"))
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("invoice", seed=3))
    event = load_event("sqs-inbox-put.json")
    assert classify(event) == {"batchItemFailures": []}
    # when the same message arrives again (SQS delivers at least once)
    assert classify(event) == {"batchItemFailures": []}
    # then there is still exactly one copy
    assert keys(s3, "classified/") == ["classified/invoice/scans/March 2026+urgent.png"]
    assert keys(s3, "inbox/") == []


def test_unreadable_document_goes_to_failed_with_the_reason(s3, classify):
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=b"this is not an image at all\n")
    assert classify(load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}
    assert keys(s3, "inbox/") == []
    meta = s3.head_object(Bucket=BUCKET, Key="failed/scans/March 2026+urgent.png")["Metadata"]
    assert "not an image" in meta["docclass-error"]


def test_a_routed_document_keeps_the_uploaders_object_tags(s3, classify, page):
    # given a document its uploader tagged (the copy carries tags: GetObjectTagging on inbox/ and
    # PutObjectTagging at each destination, which test_iam.py checks the role grants)
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("form"), Tagging="project=apollo&retain=7y")
    # when it is classified (an empty gallery sends it to unclassified/)
    assert classify(load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}
    # then its copy has the same tags
    tags = s3.get_object_tagging(Bucket=BUCKET, Key="unclassified/scans/March 2026+urgent.png")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("project", "apollo"), ("retain", "7y")]


def test_empty_gallery_sends_documents_to_unclassified(s3, classify, page):
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("form"))
    assert classify(load_event("s3-inbox-put.json")) == {"batchItemFailures": []}
    assert [k for k in keys(s3) if not k.startswith("embeddings/")] == [
        "unclassified/scans/March 2026+urgent.png"
    ]
    meta = s3.head_object(Bucket=BUCKET, Key="unclassified/scans/March 2026+urgent.png")["Metadata"]
    assert meta["docclass-label"] == ""


def test_beyond_max_distance_goes_to_unclassified(s3, gallery, classify, page, monkeypatch):
    monkeypatch.setenv("MAX_DISTANCE", "0.0001")
    s3.put_object(Bucket=BUCKET, Key=GALLERY_KEY, Body=page("invoice"))
    gallery(load_event("sqs-gallery-put.json"))
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter"))
    classify(load_event("sqs-inbox-put.json"))
    meta = s3.head_object(Bucket=BUCKET, Key="unclassified/scans/March 2026+urgent.png")["Metadata"]
    assert float(meta["docclass-distance"]) > 0.0001
    assert meta["docclass-neighbor"] == GALLERY_KEY


def _gallery_batch(keys_and_seqs: list[tuple[str, str, str]]) -> dict:
    """An SQS batch of S3 gallery events: (event name, key, sequencer)."""
    template = load_event("sqs-gallery-put.json")["Records"][0]
    records = []
    for i, (name, key, seq) in enumerate(keys_and_seqs):
        body = json.loads(template["body"])
        body["Records"][0]["eventName"] = name
        body["Records"][0]["s3"]["object"] = {"key": key.replace(" ", "+"), "sequencer": seq}
        records.append(dict(template, messageId=f"m-{i}", body=json.dumps(body)))
    return {"Records": records}


def test_a_gallery_batch_is_written_with_one_snapshot_and_one_pointer_swap(s3, gallery, page):
    for i in range(6):
        s3.put_object(
            Bucket=BUCKET, Key=f"gallery/k{i % 3}/{i}.png", Body=page(("letter", "invoice", "form")[i % 3], i)
        )
    index_puts = []
    s3.meta.events.register(
        "provide-client-params.s3.PutObject",
        lambda params, **_: index_puts.append(params["Key"]) if params["Key"].startswith("index/") else None,
    )
    # the handler builds its own client, so count on it too
    services.gallery_indexer().store._client = s3
    batch = _gallery_batch(
        [("ObjectCreated:Put", f"gallery/k{i % 3}/{i}.png", f"{i + 1:02X}") for i in range(6)]
    )
    assert gallery(batch) == {"batchItemFailures": []}
    assert len(index_puts) == 2  # one snapshot + one pointer
    assert index_puts[1].endswith("CURRENT.json")
    assert len(index_of(s3)) == 6


def test_gallery_key_without_label_is_rejected_and_not_indexed(s3, gallery, page):
    s3.put_object(Bucket=BUCKET, Key="gallery/loose.png", Body=page("letter"))
    s3.put_object(Bucket=BUCKET, Key="gallery/letter/ok.png", Body=page("letter"))
    batch = _gallery_batch(
        [
            ("ObjectCreated:Put", "gallery/loose.png", "01"),
            ("ObjectCreated:Put", "gallery/letter/ok.png", "02"),
        ]
    )
    assert gallery(batch) == {"batchItemFailures": []}  # rejected, not retried forever
    assert index_of(s3) == {"gallery/letter/ok.png": "letter"}


def test_overwriting_a_gallery_example_with_garbage_removes_its_old_vector(s3, gallery, page):
    key = "gallery/letter/a.png"
    s3.put_object(Bucket=BUCKET, Key=key, Body=page("letter"))
    gallery(_gallery_batch([("ObjectCreated:Put", key, "10")]))
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"garbage")
    gallery(_gallery_batch([("ObjectCreated:Put", key, "11")]))
    assert index_of(s3) == {}


def test_delete_processed_before_its_create_leaves_the_key_out(s3, gallery, page):
    key = "gallery/letter/late.png"
    s3.put_object(Bucket=BUCKET, Key=key, Body=page("letter"))  # still there when the create is handled
    gallery(_gallery_batch([("ObjectRemoved:Delete", key, "20")]))
    gallery(_gallery_batch([("ObjectCreated:Put", key, "1F")]))
    assert index_of(s3) == {}


def test_relabelling_by_moving_between_prefixes(s3, gallery, page):
    s3.put_object(Bucket=BUCKET, Key="gallery/letter/x.png", Body=page("form"))
    gallery(_gallery_batch([("ObjectCreated:Put", "gallery/letter/x.png", "01")]))
    s3.copy_object(
        Bucket=BUCKET, Key="gallery/form/x.png", CopySource={"Bucket": BUCKET, "Key": "gallery/letter/x.png"}
    )
    s3.delete_object(Bucket=BUCKET, Key="gallery/letter/x.png")
    gallery(
        _gallery_batch(
            [
                ("ObjectCreated:Copy", "gallery/form/x.png", "02"),
                ("ObjectRemoved:Delete", "gallery/letter/x.png", "03"),
            ]
        )
    )
    assert index_of(s3) == {"gallery/form/x.png": "form"}


def test_classifier_rereads_the_index_only_when_the_pointer_changed_and_at_most_every_period(
    s3, service_env, page
):
    # given a classifier that checks the index pointer at most every 30 s (a clock we move by hand)
    settings = Settings.from_env()
    store = ObjectStore(BUCKET, s3)
    indexer = services.build_gallery_indexer(settings, store)
    now = [100.0]
    base = services.build_classifier(settings, store)
    classifier = Classifier(store, base.embedder, base.repository, refresh_seconds=30, clock=lambda: now[0])
    checks = []
    changed_since = classifier.repository.changed_since
    classifier.repository.changed_since = lambda pointer: checks.append(now[0]) or changed_since(pointer)

    def classify(i: int) -> str | None:
        s3.put_object(Bucket=BUCKET, Key=f"inbox/{i}.png", Body=page("invoice", i))
        return classifier.classify(f"inbox/{i}.png").label

    s3.put_object(Bucket=BUCKET, Key="gallery/letter/1.png", Body=page("letter"))
    indexer.handle_event(_gallery_batch([("ObjectCreated:Put", "gallery/letter/1.png", "01")]))
    assert [classify(i) for i in range(3)] == ["letter"] * 3
    assert classifier.index_loads == 1 and checks == []  # within the period: not even a check
    # when the gallery changes, the change is not seen before the period is over
    s3.put_object(Bucket=BUCKET, Key="gallery/invoice/1.png", Body=page("invoice"))
    indexer.handle_event(_gallery_batch([("ObjectCreated:Put", "gallery/invoice/1.png", "01")]))
    now[0] += 29
    assert classify(7) == "letter"
    # and after it, the pointer is checked, the index read again once, and used
    now[0] += 2
    assert classify(8) == "invoice"
    assert classify(9) == "invoice"
    assert classifier.index_loads == 2 and checks == [131.0]
    # an unchanged pointer costs a check, not a download
    now[0] += 31
    assert classify(10) == "invoice"
    assert classifier.index_loads == 2 and checks == [131.0, 162.0]


def test_a_reload_lets_go_of_the_old_index_before_reading_the_new(s3, service_env, page):
    # given a classifier holding an index, and a gallery change
    settings = Settings.from_env()
    store = ObjectStore(BUCKET, s3)
    indexer = services.build_gallery_indexer(settings, store)
    classifier = services.build_classifier(settings, store)
    classifier.refresh_seconds = 0
    s3.put_object(Bucket=BUCKET, Key="gallery/letter/1.png", Body=page("letter"))
    indexer.handle_event(_gallery_batch([("ObjectCreated:Put", "gallery/letter/1.png", "01")]))
    old = classifier.current_index()
    s3.put_object(Bucket=BUCKET, Key="gallery/invoice/1.png", Body=page("invoice"))
    indexer.handle_event(_gallery_batch([("ObjectCreated:Put", "gallery/invoice/1.png", "01")]))
    held_while_loading = []
    load = classifier.repository.load

    def spying_load():
        held_while_loading.append(classifier._index)
        return load()

    classifier.repository.load = spying_load
    # when it reloads, then it held no index while the new one was read
    new = classifier.current_index()
    assert held_while_loading == [None]
    assert new is not old and len(new) == 2


def test_redelivery_after_a_crash_between_copy_and_delete_finishes_that_move(s3, gallery, classify, page):
    # given a gallery, and a document that an earlier delivery copied to classified/form/ before dying
    s3.put_object(Bucket=BUCKET, Key=GALLERY_KEY, Body=page("invoice"))
    gallery(load_event("sqs-gallery-put.json"))
    etag = s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("invoice", seed=3))["ETag"].strip('"')
    earlier = "classified/form/scans/March 2026+urgent.png"
    s3.copy_object(
        Bucket=BUCKET,
        Key=earlier,
        CopySource={"Bucket": BUCKET, "Key": INBOX_KEY},
        MetadataDirective="REPLACE",
        Metadata={"docclass-label": "form", "docclass-source-etag": etag},
    )
    # when SQS delivers the message a second time
    event = load_event("sqs-inbox-put.json")
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    assert classify(event) == {"batchItemFailures": []}
    # then the move is finished where it started (no second copy under classified/invoice/)
    assert keys(s3, "classified/") == [earlier]
    assert keys(s3, "inbox/") == []


def test_first_delivery_classifies_even_if_an_old_copy_of_another_version_exists(s3, gallery, classify, page):
    s3.put_object(Bucket=BUCKET, Key=GALLERY_KEY, Body=page("invoice"))
    gallery(load_event("sqs-gallery-put.json"))
    s3.put_object(
        Bucket=BUCKET,
        Key="classified/form/scans/March 2026+urgent.png",
        Body=b"old",
        Metadata={"docclass-source-etag": "0123"},
    )
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("invoice", seed=3))
    event = load_event("sqs-inbox-put.json")
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "3"
    classify(event)
    assert "classified/invoice/scans/March 2026+urgent.png" in keys(s3, "classified/")
    assert keys(s3, "inbox/") == []


@pytest.mark.parametrize("order", [("10", "11"), ("11", "10")], ids=["in order", "newest first"])
def test_two_quick_uploads_of_a_gallery_key_leave_the_last_ones_bytes(s3, gallery, page, order):
    import hashlib

    key = "gallery/letter/twice.png"
    s3.put_object(Bucket=BUCKET, Key=key, Body=page("form"))  # first upload (event "10")
    last = page("letter")
    s3.put_object(Bucket=BUCKET, Key=key, Body=last, Metadata={"label": "memo"})  # second (event "11")
    for seq in order:
        gallery(_gallery_batch([("ObjectCreated:Put", key, seq)]))
    index, _ = IndexRepository(ObjectStore(BUCKET, s3), LOCAL_MODEL, 1024).load()
    (entry,) = list(index.entries())
    assert (entry.key, entry.label, entry.sequencer) == (key, "memo", "11")
    assert entry.content_hash == hashlib.sha256(last).hexdigest()


def test_two_quick_uploads_of_an_inbox_key_route_the_last_ones_bytes(s3, gallery, classify, page):
    for kind in ("letter", "invoice"):
        s3.put_object(Bucket=BUCKET, Key=f"gallery/{kind}/1.png", Body=page(kind))
        gallery(_gallery_batch([("ObjectCreated:Put", f"gallery/{kind}/1.png", "01")]))
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter", 5))
    last = page("invoice", 5)
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=last)
    # both events arrive; each is handled
    assert classify(load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}
    assert classify(load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}
    (destination,) = keys(s3, "classified/")
    assert destination == "classified/invoice/scans/March 2026+urgent.png"
    assert s3.get_object(Bucket=BUCKET, Key=destination)["Body"].read() == last
    assert keys(s3, "inbox/") == []


def test_source_replaced_while_being_classified_is_retried_not_misrouted(s3, gallery, classify, page):
    s3.put_object(Bucket=BUCKET, Key=GALLERY_KEY, Body=page("invoice"))
    gallery(load_event("sqs-gallery-put.json"))
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("invoice", 5))
    services.classifier().store._client = s3
    replaced = []

    def replace_source(params, **_):
        if not replaced:  # a new upload lands between our GET and our COPY
            replaced.append(True)
            s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=b"new bytes, not an image")

    s3.meta.events.register("before-call.s3.CopyObject", replace_source)
    # the copy is refused (412: the source is not the version we classified): the message is retried
    response = classify(load_event("sqs-inbox-put.json"))
    assert response == {"batchItemFailures": [{"itemIdentifier": "a4f2d9c1-7e3b-4c8a-9f1d-3b2e6a5c4d33"}]}
    assert keys(s3, "classified/") == [] and keys(s3, "inbox/") == [INBOX_KEY]
    # and the retry classifies the bytes that are there now
    assert classify(load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}
    assert keys(s3, "failed/") == ["failed/scans/March 2026+urgent.png"]


def test_document_over_the_size_limit_goes_to_failed(s3, classify, page, monkeypatch):
    from docclass import classify as classify_module

    monkeypatch.setattr(classify_module, "MAX_DOCUMENT_BYTES", 1000)  # the real limit is 100 MB
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter"))
    assert classify(load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}
    meta = s3.head_object(Bucket=BUCKET, Key="failed/scans/March 2026+urgent.png")["Metadata"]
    assert "the limit is 1000" in meta["docclass-error"]


def test_folder_markers_are_ignored(s3, classify):
    s3.put_object(Bucket=BUCKET, Key="inbox/2026/", Body=b"")
    event = load_event("sqs-inbox-put.json")
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["key"] = "inbox/2026/"
    event["Records"][0]["body"] = json.dumps(body)
    assert classify(event) == {"batchItemFailures": []}
    assert keys(s3) == ["inbox/2026/"]


# -- moves never lose or overwrite a document (issue 9, point 4) ------------------------------


def _inbox_event(etag: str, attempt: int = 1) -> dict:
    """The events/ inbox message, for the upload with this ETag, delivered for the attempt-th time."""
    event = load_event("sqs-inbox-put.json")
    record = event["Records"][0]
    body = json.loads(record["body"])
    body["Records"][0]["s3"]["object"]["eTag"] = etag.strip('"')
    record["body"] = json.dumps(body)
    record["attributes"]["ApproximateReceiveCount"] = str(attempt)
    return event


@pytest.fixture
def invoice_gallery(s3, gallery, page):
    s3.put_object(Bucket=BUCKET, Key=GALLERY_KEY, Body=page("invoice"))
    gallery(load_event("sqs-gallery-put.json"))


DESTINATION = "classified/invoice/scans/March 2026+urgent.png"


def test_a_newer_upload_during_the_move_survives_and_is_classified_by_its_own_event(
    s3, invoice_gallery, classify, page
):
    # given a document, and a second upload to the same key that lands while the first is moved
    first = page("invoice", 3)
    first_etag = s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=first)["ETag"]
    second = page("invoice", 4)
    services.classifier().store._client = s3
    uploaded = []

    def upload_during_move(**_):
        if not uploaded:
            uploaded.append(s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=second)["ETag"])

    s3.meta.events.register("after-call.s3.CopyObject", upload_during_move)
    # when the first upload's event is handled
    assert classify(_inbox_event(first_etag)) == {"batchItemFailures": []}
    # then the first is routed and the second is still in inbox/, untouched
    assert s3.get_object(Bucket=BUCKET, Key=DESTINATION)["Body"].read() == first
    assert s3.get_object(Bucket=BUCKET, Key=INBOX_KEY)["Body"].read() == second
    # and when the second upload's own event is handled, both documents are kept
    assert classify(_inbox_event(uploaded[0])) == {"batchItemFailures": []}
    second_name = f"classified/invoice/scans/March 2026+urgent~{uploaded[0].strip(chr(34))[:8]}.png"
    assert keys(s3, "classified/") == sorted([DESTINATION, second_name])
    assert s3.get_object(Bucket=BUCKET, Key=second_name)["Body"].read() == second
    assert keys(s3, "inbox/") == []


def test_two_documents_from_the_same_path_a_day_apart_are_both_kept(s3, invoice_gallery, classify, page):
    # given a document already routed from inbox/scans/...
    first = page("invoice", 3)
    classify(_inbox_event(s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=first)["ETag"]))
    # when another document is uploaded to the same path later and classified into the same class
    second = page("invoice", 8)
    etag = s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=second)["ETag"].strip('"')
    assert classify(_inbox_event(etag)) == {"batchItemFailures": []}
    # then the first is not overwritten, and the second has a name derived from its ETag
    second_name = f"classified/invoice/scans/March 2026+urgent~{etag[:8]}.png"
    assert keys(s3, "classified/") == sorted([DESTINATION, second_name])
    assert s3.get_object(Bucket=BUCKET, Key=DESTINATION)["Body"].read() == first
    assert s3.get_object(Bucket=BUCKET, Key=second_name)["Body"].read() == second
    # and a redelivery of the second's message makes no third copy
    assert classify(_inbox_event(etag, attempt=2)) == {"batchItemFailures": []}
    assert keys(s3, "classified/") == sorted([DESTINATION, second_name])


def test_a_redelivery_counts_as_routed_only_for_its_own_upload(s3, service_env, invoice_gallery, page):
    # given a document routed from a path, and a later upload to the same path that a user deleted
    classifier = services.build_classifier(Settings.from_env(), ObjectStore(BUCKET, s3))
    first_etag = s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("invoice", 3))["ETag"]
    assert classifier.classify(INBOX_KEY, event_etag=first_etag).status == "classified"
    later_etag = s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("invoice", 9))["ETag"]
    s3.delete_object(Bucket=BUCKET, Key=INBOX_KEY)
    # when the later upload's message comes, and then the first one's again
    later = classifier.classify(INBOX_KEY, attempt=1, event_etag=later_etag)
    again = classifier.classify(INBOX_KEY, attempt=2, event_etag=first_etag)
    # then only the first counts as routed; the later one is reported as vanished
    assert (later.status, later.destination) == ("vanished", None)
    assert (again.status, again.destination) == ("already-routed", DESTINATION)


def test_a_copy_whose_answer_was_lost_is_not_made_twice(s3, invoice_gallery, classify, page):
    # given a CopyObject that S3 applies and whose answer is lost (botocore sends it again: 412)
    from test_index_store import lose_answer_once

    services.classifier().store._client = s3
    lost_copy = lose_answer_once(s3, "CopyObject", ".png")
    lost_delete = lose_answer_once(s3, "DeleteObject", ".png")
    etag = s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("invoice", 3))["ETag"]
    # when the document is classified
    assert classify(_inbox_event(etag)) == {"batchItemFailures": []}
    # then both retries were seen, and the document sits in one place, once
    assert lost_copy == [1] and lost_delete == [1]
    assert keys(s3, "classified/") == [DESTINATION]
    assert keys(s3, "inbox/") == []


# -- an index that cannot be used (issue 9, point 9) ---------------------------------------------


@pytest.fixture
def fresh_container(monkeypatch):
    """A new Lambda container: nothing logged "once" yet; yields what the functions log."""
    import io

    from docclass import observability

    monkeypatch.setattr(observability, "_LOGGED_ONCE", set())
    handler = observability.logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


POINTER = f"index/{LOCAL_MODEL}/1024/CURRENT.json"


@pytest.mark.parametrize("function", ["classify", "gallery"])
def test_an_unusable_index_gives_every_message_back_and_is_logged_once(
    function, s3, gallery, classify, page, fresh_container, capsys
):  # capsys: the metrics (EMF lines); fresh_container: the log
    # given a pointer that is not what docclass writes, and a document for each function
    s3.put_object(Bucket=BUCKET, Key=POINTER, Body=b"not json")
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("invoice", 3))
    s3.put_object(Bucket=BUCKET, Key=GALLERY_KEY, Body=page("invoice"))
    handler, event = {
        "classify": (classify, "sqs-inbox-put.json"),
        "gallery": (gallery, "sqs-gallery-put.json"),
    }[function]
    message = load_event(event)["Records"][0]["messageId"]
    capsys.readouterr()
    # when two batches arrive in the same container
    responses = [handler(load_event(event)) for _ in range(2)]
    out, log = capsys.readouterr().out, fresh_container.getvalue()
    # then every message goes back to the queue (then the DLQ), nothing is routed or indexed,
    assert responses == [{"batchItemFailures": [{"itemIdentifier": message}]}] * 2
    assert keys(s3, "inbox/") == [INBOX_KEY] and keys(s3, "failed/") == [] and keys(s3, "classified/") == []
    # the reason is logged once with what to do, and counted each time
    assert log.count(f"delete {POINTER}") == 1
    assert out.count('"IndexUnusable":[1.0]') == 2


def test_a_broken_next_index_never_holds_back_the_live_one(s3, service_env, page, monkeypatch):
    # given a gallery function preparing a switch to 256 dimensions, whose next index cannot be read
    monkeypatch.setenv("NEXT_EMBEDDING_MODEL_ID", "docclass-local-v1")
    monkeypatch.setenv("NEXT_EMBEDDING_DIMENSION", "256")
    store = ObjectStore(BUCKET, s3)
    indexer = services.build_gallery_indexer(Settings.from_env(), store)
    assert indexer.next_indexer is not None
    following = indexer.next_indexer.repository
    s3.put_object(Bucket=BUCKET, Key=following.pointer_key, Body=b"{not json")
    # when a gallery change comes
    from docclass.observability import metrics

    metrics.clear_metrics()
    s3.put_object(Bucket=BUCKET, Key="gallery/letter/1.png", Body=page("letter"))
    response = indexer.handle_event(_gallery_batch([("ObjectCreated:Put", "gallery/letter/1.png", "01")]))
    # then the live index has it and no message comes back for the next index's sake
    assert response == {"batchItemFailures": []}
    assert index_of(s3) == {"gallery/letter/1.png": "letter"}
    # and the miss is counted (and logged, with what to do before switching); the metrics the
    # alarms read are the live index's only
    assert indexer.next_missed == 1
    assert metrics.metric_set["NextIndexChangesMissed"]["Value"] == [1.0]
    assert metrics.metric_set["GalleryUpserts"]["Value"] == [1.0]
    assert "IndexUnusable" not in metrics.metric_set


def test_the_next_index_may_not_be_the_live_one(service_env, monkeypatch):
    monkeypatch.setenv("NEXT_EMBEDDING_MODEL_ID", "docclass-local-v1")
    monkeypatch.setenv("NEXT_EMBEDDING_DIMENSION", "1024")
    with pytest.raises(ConfigError, match=r"the next index .* is the live one"):
        services.build_gallery_indexer(Settings.from_env())
