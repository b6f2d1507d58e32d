"""`docclass reclassify` against moto S3, with ClassifyFunction's handler routing what it sends.

The function is run by the tests where S3 -> SQS -> Lambda would run it: after a run (drain), or
at a chosen moment inside one (a botocore hook on the CLI's client), which is how the race with
the function and the interruptions are placed exactly, without timing.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from conftest import BUCKET, load_event, load_handler
from docclass.routing import RECLASSIFIED_METADATA
from docclass_local.faults import SimulatedCrash
from docclass_local.reclassify import RUN_KEY, STAGED_PREFIX, Options, run_command

KINDS = ("invoice", "letter", "form")


def keys(s3: Any, prefix: str = "") -> list[str]:
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        found.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(found)


def body(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def documents_by_content(s3: Any) -> dict[str, list[str]]:
    """{SHA-256 of the bytes: every key outside gallery/, index/, embeddings/ holding them}."""
    held: dict[str, list[str]] = {}
    for key in keys(s3):
        if key.split("/", 1)[0] in {"gallery", "index", "embeddings"} or key == RUN_KEY:
            continue
        held.setdefault(digest(body(s3, key)), []).append(key)
    return held


def inbox_event(key: str, etag: str, attempt: int = 1) -> dict[str, Any]:
    """The events/ inbox message, for this key and upload, delivered for the attempt-th time."""
    event = load_event("sqs-inbox-put.json")
    record = event["Records"][0]
    message = json.loads(record["body"])
    message["Records"][0]["s3"]["object"].update(key=quote_plus(key), eTag=etag.strip('"'))
    record["body"] = json.dumps(message)
    record["attributes"]["ApproximateReceiveCount"] = str(attempt)
    return event


def gallery_event(key: str, sequencer: str) -> dict[str, Any]:
    event = load_event("sqs-gallery-put.json")
    record = event["Records"][0]
    message = json.loads(record["body"])
    message["Records"][0]["s3"]["object"] = {"key": quote_plus(key), "sequencer": sequencer}
    record["body"] = json.dumps(message)
    return event


@pytest.fixture
def function(
    service_env: None, s3: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """Both handlers, as S3 -> SQS -> Lambda would call them; classification sees each gallery
    change at once (no INDEX_REFRESH_SECONDS period to wait for)."""
    monkeypatch.setenv("INDEX_REFRESH_SECONDS", "0")

    class Function:
        def __init__(self) -> None:
            self.gallery_handler = load_handler("gallery").lambda_handler
            self.classify_handler = load_handler("classify").lambda_handler
            self.sequence = 0

        def add_examples(self, kind: str, seeds: range, page: Callable[..., bytes]) -> None:
            for seed in seeds:
                key = f"gallery/{kind}/{kind}-{seed}.png"
                s3.put_object(Bucket=BUCKET, Key=key, Body=page(kind, seed=seed))
                self.sequence += 1
                event = gallery_event(key, f"{self.sequence:016X}")
                assert self.gallery_handler(event, lambda_context) == {"batchItemFailures": []}

        def route(self, key: str, attempt: int = 1) -> None:
            etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
            response = self.classify_handler(inbox_event(key, etag, attempt), lambda_context)
            assert response == {"batchItemFailures": []}

        def drain(self) -> None:
            """Route everything in inbox/ (each document's own event)."""
            for key in keys(s3, "inbox/"):
                self.route(key)

    yield Function()


@pytest.fixture
def cli_s3(s3: Any) -> Any:
    """The operator's S3 client: its own, so hooks on it never touch the function's calls."""
    return boto3.client("s3", region_name="us-east-1")


def reclassify(cli_s3: Any, source: str, **options: Any) -> tuple[int, str]:
    """`docclass reclassify --from source --yes` (unless told otherwise); (exit code, output)."""
    out = io.StringIO()
    answer = options.pop("answer", None)
    options.setdefault("yes", answer is None)
    options.setdefault("workers", 1)  # one document at a time: the nth request is a known document
    code = run_command(
        cli_s3,
        BUCKET,
        Options(source=source, **options),
        out=out,
        confirm=lambda _: bool(answer),
        progress_stream=io.StringIO(),
    )
    return code, out.getvalue()


@pytest.fixture
def unclassified(s3: Any, function: Any, page: Callable[..., bytes]) -> dict[str, str]:
    """Two documents of each kind routed while the gallery was empty: all in unclassified/.

    Returns {path: kind}."""
    truth = {}
    for kind in KINDS:
        for seed in (100, 101):
            path = f"2026/{kind} {seed}.png"
            s3.put_object(
                Bucket=BUCKET, Key=f"inbox/{path}", Body=page(kind, seed=seed), Metadata={"by": "scan"}
            )
            truth[path] = kind
    function.drain()
    assert keys(s3, "unclassified/") == sorted(f"unclassified/{p}" for p in truth)
    return truth


def assert_each_once_at_its_label(s3: Any, truth: dict[str, str]) -> None:
    """Every document in one place only: classified/<its kind>/<its path>; inbox and staging empty."""
    assert keys(s3, "inbox/") == []
    assert keys(s3, STAGED_PREFIX) == []
    held = documents_by_content(s3)
    assert sorted(k for ks in held.values() for k in ks) == sorted(
        f"classified/{kind}/{path}" for path, kind in truth.items()
    )
    assert all(len(places) == 1 for places in held.values()), held


# -- what it does ------------------------------------------------------------------------------


def test_reclassify_after_adding_examples_moves_documents_to_their_right_label(
    s3, function, cli_s3, unclassified, page
):
    # given documents that went to unclassified/ while the gallery was empty, and examples added since
    for kind in KINDS:
        function.add_examples(kind, range(2), page)
    # when they are reclassified, and the function routes what was sent
    code, out = reclassify(cli_s3, "unclassified/")
    function.drain()
    # then each is once, under its own label, with the user's metadata and the run's marker
    assert code == 0, out
    assert "6 documents under s3://docclass-local/unclassified/" in out
    assert "sent to inbox/: 6" in out
    assert_each_once_at_its_label(s3, unclassified)
    metadata = s3.head_object(Bucket=BUCKET, Key="classified/letter/2026/letter 100.png")["Metadata"]
    assert metadata["by"] == "scan"
    assert metadata["docclass-label"] == "letter"
    assert metadata[RECLASSIFIED_METADATA].endswith(
        " " + digest_etag(s3, "classified/letter/2026/letter 100.png")
    )
    # and the run is complete: its record is gone, so the next command is a new run
    assert keys(s3, "reclassify/") == []


def digest_etag(s3: Any, key: str) -> str:
    return str(s3.head_object(Bucket=BUCKET, Key=key)["ETag"]).strip('"')


def test_dry_run_changes_nothing_and_says_what_it_would_do(s3, function, cli_s3, unclassified, page):
    # given documents to reclassify
    function.add_examples("invoice", range(2), page)
    before = {
        key: (digest_etag(s3, key), s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]) for key in keys(s3)
    }
    # when a dry run is asked for
    code, out = reclassify(cli_s3, "unclassified/", dry_run=True, yes=False)
    # then it lists what it would send and the bucket is exactly as it was
    assert code == 0
    assert "dry run: would send 6 documents; nothing was changed" in out
    assert "unclassified/2026/form 100.png -> inbox/2026/form 100.png" in out
    after = {
        key: (digest_etag(s3, key), s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]) for key in keys(s3)
    }
    assert after == before


def test_declining_the_confirmation_changes_nothing(s3, function, cli_s3, unclassified):
    before = keys(s3)
    code, out = reclassify(cli_s3, "unclassified/", answer=False)
    assert code == 1
    assert "nothing done" in out
    assert keys(s3) == before


def test_since_selects_documents_routed_at_or_after_the_date(s3, function, cli_s3, unclassified):
    # given documents routed a moment ago
    # when only documents routed from tomorrow on are asked for, nothing is selected
    code, out = reclassify(cli_s3, "unclassified/", since=datetime.now(UTC) + timedelta(days=1))
    assert (code, "nothing to do" in out) == (0, True)
    assert len(keys(s3, "unclassified/")) == 6
    # and from yesterday on, all of them
    code, out = reclassify(cli_s3, "unclassified/", since=datetime.now(UTC) - timedelta(days=1))
    assert code == 0 and "sent to inbox/: 6" in out


# -- the race with the function ----------------------------------------------------------------

DOCUMENT = "classified/invoice/2026/a.png"


def naive_reclassify(cli_s3: Any, key: str) -> None:
    """The obvious implementation: copy to inbox/, then delete the origin if it is unchanged."""
    head = cli_s3.head_object(Bucket=BUCKET, Key=key)
    inbox = "inbox/" + key.split("/", 2)[2]
    cli_s3.copy_object(Bucket=BUCKET, Key=inbox, CopySource={"Bucket": BUCKET, "Key": key}, IfNoneMatch="*")
    cli_s3.delete_object(Bucket=BUCKET, Key=key, IfMatch=head["ETag"])


@pytest.fixture
def routed_invoice(s3, function, page) -> bytes:
    """An invoice at classified/invoice/2026/a.png, routed there by the function."""
    function.add_examples("invoice", range(2), page)
    data = page("invoice", seed=7)
    s3.put_object(Bucket=BUCKET, Key="inbox/2026/a.png", Body=data)
    function.drain()
    assert keys(s3, "classified/") == [DOCUMENT]
    return data


def route_as_soon_as_sent(cli_s3: Any, function: Any) -> list[str]:
    """The function routes each inbox copy the moment the CLI's CopyObject into inbox/ returns,
    before the CLI's next request. One invocation at a time, as in one Lambda instance: the
    handlers' module state is one process's, which Lambda never shares between two invocations."""
    routed: list[str] = []
    one_instance = threading.Lock()

    def route(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].startswith("inbox/"):
            with one_instance:
                function.route(params["Key"])
                routed.append(params["Key"])

    cli_s3.meta.events.register("after-call.s3.CopyObject", lambda **kw: route(kw["context"]["params"], **kw))
    cli_s3.meta.events.register("provide-client-params.s3.CopyObject", _keep_params)
    return routed


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["params"] = dict(params)


def test_the_race_with_the_function_loses_the_document_with_a_naive_copy_then_delete(
    s3, function, cli_s3, routed_invoice
):
    # given the function routes the inbox copy between the CLI's copy and its delete
    routed = route_as_soon_as_sent(cli_s3, function)
    # when the naive order is used
    naive_reclassify(cli_s3, DOCUMENT)
    # then the function took the old object for its own copy and the CLI's delete removed it:
    # the document is nowhere (this is what the test below guards against)
    assert routed == ["inbox/2026/a.png"]
    assert digest(routed_invoice) not in documents_by_content(s3)


def test_the_race_with_the_function_cannot_lose_the_document(s3, function, cli_s3, routed_invoice):
    # given the function routes the inbox copy the moment the CLI's copy returns
    routed = route_as_soon_as_sent(cli_s3, function)
    # when the document is reclassified
    code, out = reclassify(cli_s3, "classified/invoice/")
    # then it was routed in the race, and it is in one place, once
    assert code == 0, out
    assert routed == ["inbox/2026/a.png"]
    assert documents_by_content(s3) == {digest(routed_invoice): [DOCUMENT]}
    assert keys(s3, "reclassify/") == []


# -- interruptions -----------------------------------------------------------------------------

# (operation, which of its calls: a key prefix) after which the CLI process dies
CRASH_POINTS = [
    ("CopyObject", STAGED_PREFIX),  # staged, origin still there
    ("DeleteObject", "unclassified/"),  # origin deleted, only the staged copy holds it
    ("CopyObject", "inbox/"),  # sent, staged copy not yet deleted
    ("DeleteObject", STAGED_PREFIX),  # done, before the next document
    ("PutObject", RUN_KEY),  # the run record written, nothing moved yet
]


def crash_after(cli_s3: Any, operation: str, prefix: str, nth: int) -> None:
    """Make the CLI die right after its nth successful `operation` on a key under prefix."""
    seen = []

    def maybe_crash(context: dict[str, Any], **_: Any) -> None:
        if context.get("params", {}).get("Key", "").startswith(prefix):
            seen.append(1)
            if len(seen) == nth:
                raise SimulatedCrash(f"injected: the CLI died after {operation} #{nth} under {prefix}")

    cli_s3.meta.events.register(f"provide-client-params.s3.{operation}", _keep_params)
    cli_s3.meta.events.register(f"after-call.s3.{operation}", maybe_crash)


def count_sends(cli_s3: Any, sends: Counter[str]) -> None:
    """Count the CLI's copies into inbox/, per key."""

    def count(context: dict[str, Any], **_: Any) -> None:
        key = context.get("params", {}).get("Key", "")
        if key.startswith("inbox/"):
            sends[key] += 1

    cli_s3.meta.events.register("provide-client-params.s3.CopyObject", _keep_params)
    cli_s3.meta.events.register("after-call.s3.CopyObject", count)


@pytest.mark.parametrize("routes_meanwhile", [False, True], ids=["function-idle", "function-busy"])
@pytest.mark.parametrize(("operation", "prefix"), CRASH_POINTS, ids=[f"{o}:{p}" for o, p in CRASH_POINTS])
def test_an_interrupted_run_run_again_moves_every_document_once_and_loses_none(
    s3, function, cli_s3, unclassified, page, operation, prefix, routes_meanwhile
):
    # given examples added, and a run that dies in the middle (3rd document), while the function
    # keeps routing what was sent (or not)
    for kind in KINDS:
        function.add_examples(kind, range(2), page)
    sends: Counter[str] = Counter()
    count_sends(cli_s3, sends)
    if routes_meanwhile:
        route_as_soon_as_sent(cli_s3, function)
    crash_after(cli_s3, operation, prefix, nth=1 if prefix == RUN_KEY else 3)
    with pytest.raises(SimulatedCrash):
        reclassify(cli_s3, "unclassified/")
    function.drain()
    # when the same command is run again (a new process: a client without the crash)
    again = boto3.client("s3", region_name="us-east-1")
    count_sends(again, sends)
    code, out = reclassify(again, "unclassified/")
    function.drain()
    # then every document is once at its label, none lost, and each was sent to inbox/ once
    assert code == 0, out
    assert_each_once_at_its_label(s3, unclassified)
    assert sorted(sends) == sorted(f"inbox/{path}" for path in unclassified)
    assert set(sends.values()) == {1}, sends
    if prefix != RUN_KEY:
        assert "resuming the interrupted run" in out
    assert keys(s3, "reclassify/") == []


def test_a_run_with_other_options_waits_for_the_unfinished_one(s3, function, cli_s3, unclassified, page):
    # given an interrupted run of --from unclassified/
    crash_after(cli_s3, "DeleteObject", "unclassified/", nth=1)
    with pytest.raises(SimulatedCrash):
        reclassify(cli_s3, "unclassified/")
    before = keys(s3)
    # when another selection is asked for
    code, out = reclassify(boto3.client("s3", region_name="us-east-1"), "classified/invoice/")
    # then it is refused, saying which command finishes the first, and nothing moved
    assert code == 1
    assert "run `docclass reclassify --from unclassified/` again to finish it first" in out
    assert keys(s3) == before


# -- an inbox name that is taken ---------------------------------------------------------------


def test_a_taken_inbox_name_is_never_overwritten_and_is_reported(s3, function, cli_s3, routed_invoice, page):
    # given a new upload with the same name waiting in inbox/
    upload = page("letter", seed=5)
    s3.put_object(Bucket=BUCKET, Key="inbox/2026/a.png", Body=upload)
    # when the routed document is reclassified
    code, out = reclassify(cli_s3, "classified/invoice/")
    # then the upload is untouched, the document stays where it was, and the skip is reported
    assert code == 0
    assert body(s3, "inbox/2026/a.png") == upload
    assert body(s3, DOCUMENT) == routed_invoice
    assert "skipped: their inbox/ name holds another upload: 1" in out
    assert f"{DOCUMENT}: inbox/2026/a.png holds another upload" in out
    assert keys(s3, "reclassify/") == []


def test_an_upload_that_takes_the_inbox_name_mid_move_is_kept_and_the_document_put_back(
    s3, function, cli_s3, routed_invoice, page
):
    # given an upload that lands in inbox/ right after the CLI deleted the origin
    upload = page("letter", seed=5)

    def upload_now(context: dict[str, Any], **_: Any) -> None:
        if context["params"]["Key"] == DOCUMENT:
            s3.put_object(Bucket=BUCKET, Key="inbox/2026/a.png", Body=upload)

    cli_s3.meta.events.register("provide-client-params.s3.DeleteObject", _keep_params)
    cli_s3.meta.events.register("after-call.s3.DeleteObject", upload_now)
    # when the document is reclassified
    code, out = reclassify(cli_s3, "classified/invoice/")
    # then the upload is not overwritten and the document is back where it was, with its metadata
    assert code == 0, out
    assert body(s3, "inbox/2026/a.png") == upload
    assert body(s3, DOCUMENT) == routed_invoice
    assert s3.head_object(Bucket=BUCKET, Key=DOCUMENT)["Metadata"]["docclass-label"] == "invoice"
    assert "put back at classified/invoice/2026/a.png" in out
    assert keys(s3, "reclassify/") == []


# -- packets -----------------------------------------------------------------------------------


def test_sections_of_a_split_packet_are_refused_with_a_reason(s3, function, cli_s3, routed_invoice):
    # given a section of a packet next to an ordinary document
    section = "classified/invoice/2026/bundle/part-01-p1-2.pdf"
    s3.put_object(
        Bucket=BUCKET,
        Key=section,
        Body=b"%PDF-1.4 section",
        Metadata={"docclass-packet": "packets/2026/bundle.pdf", "docclass-label": "invoice"},
    )
    # when the label's documents are reclassified
    code, out = reclassify(cli_s3, "classified/invoice/")
    function.drain()
    # then the section stays, with the reason, and the other document was sent
    assert code == 0
    assert body(s3, section) == b"%PDF-1.4 section"
    assert f"{section}: a section of the packet packets/2026/bundle.pdf" in out
    assert "sent to inbox/: 1" in out


def test_a_rerun_skips_what_this_run_sent_back_into_the_folder_it_reads(s3, function, cli_s3, page):
    # given three invoices in classified/invoice/ that stay invoices when classified again
    function.add_examples("invoice", range(2), page)
    truth = {}
    for seed in (20, 21, 22):
        s3.put_object(Bucket=BUCKET, Key=f"inbox/in/{seed}.png", Body=page("invoice", seed=seed))
        truth[f"in/{seed}.png"] = "invoice"
    function.drain()
    # and a run that dies after sending the second, the function routing each one back at once
    sends: Counter[str] = Counter()
    count_sends(cli_s3, sends)
    route_as_soon_as_sent(cli_s3, function)
    crash_after(cli_s3, "CopyObject", "inbox/", nth=2)
    with pytest.raises(SimulatedCrash):
        reclassify(cli_s3, "classified/invoice/")
    # when the same command is run again
    again = boto3.client("s3", region_name="us-east-1")
    count_sends(again, sends)
    code, out = reclassify(again, "classified/invoice/")
    function.drain()
    # then the first two, already back in classified/invoice/ with this run's marker, are not
    # sent again: each of the three went through inbox/ once
    assert code == 0, out
    assert "already sent by this run: 2" in out
    assert "sent to inbox/: 1" in out
    assert sends == Counter({f"inbox/{path}": 1 for path in truth})
    assert_each_once_at_its_label(s3, truth)


def test_the_function_keeps_the_reclassify_marker_and_drops_other_docclass_metadata(s3, function, page):
    # given examples, and an inbox copy as reclassify sends it, carrying stale docclass-* keys too
    function.add_examples("invoice", range(1), page)
    s3.put_object(
        Bucket=BUCKET,
        Key="inbox/m.png",
        Body=page("invoice", seed=3),
        Metadata={RECLASSIFIED_METADATA: "run-1 abc", "docclass-label": "letter", "owner": "ops"},
    )
    # when the function routes it
    function.drain()
    # then the routed copy keeps the marker and the user's metadata, and the label is its own
    metadata = s3.head_object(Bucket=BUCKET, Key="classified/invoice/m.png")["Metadata"]
    assert metadata[RECLASSIFIED_METADATA] == "run-1 abc"
    assert metadata["owner"] == "ops"
    assert metadata["docclass-label"] == "invoice"


@pytest.mark.parametrize("routes_meanwhile", [False, True], ids=["function-idle", "function-busy"])
def test_lost_answers_to_the_clis_writes_change_nothing_of_the_outcome(
    s3, function, cli_s3, unclassified, page, routes_meanwhile
):
    # given S3 applies every PutObject, CopyObject and DeleteObject of the CLI and loses the answer,
    # three times each, so that botocore sends each one again (a 412 or 404 for the repeats)
    from docclass_local.faults import FaultInjector, FaultPlan

    for kind in KINDS:
        function.add_examples(kind, range(2), page)
    injector = FaultInjector(FaultPlan(s3_lost_response=1.0))
    injector.install(cli_s3.meta.events)
    if routes_meanwhile:  # the function routes each copy before the CLI sees the answer to it
        route_as_soon_as_sent(cli_s3, function)
    # when the documents are reclassified, four at a time
    code, out = reclassify(cli_s3, "unclassified/", workers=4)
    function.drain()
    # then every repeat was taken for what it was: each document once, at its label
    assert code == 0, out
    assert injector.injected["s3-lost-response:CopyObject"] >= 12
    assert injector.injected["s3-lost-response:DeleteObject"] >= 12
    assert_each_once_at_its_label(s3, unclassified)
    assert keys(s3, "reclassify/") == []


def test_a_bucket_it_cannot_list_is_an_error_with_a_message(s3, cli_s3):
    # given a bucket name that does not exist / when a run is asked for on it
    out = io.StringIO()
    code = run_command(
        cli_s3, "no-such-bucket", Options("unclassified/", yes=True), out=out, confirm=lambda _: True
    )
    # then it says what S3 answered and exits non-zero
    assert code == 1
    assert "docclass reclassify: s3 " in out.getvalue()
    assert "NoSuchBucket" in out.getvalue()
