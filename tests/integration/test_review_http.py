"""`docclass review` over HTTP (Flask's test client on moto's S3): the token, the prefixes it may
touch, escaping, conditional moves and thumbnails. The browser tests are in test_review_browser.py."""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from conftest import BUCKET, draw_page
from docclass.decide import Candidate
from docclass.errors import StorageError
from docclass.routing import MAX_USER_METADATA_BYTES, candidates_metadata, metadata_size, parse_candidates
from docclass.store import Listed, ObjectStore, StoredObject
from docclass_local.review import Refused, Reviewer, Thumbnails, create_app
from docclass_local.review.documents import check_includes

TOKEN = "test-token"
XSS_KEY = "unclassified/inbox/<img src=x onerror=alert(1)>.png"


def routed_metadata(label: str = "letter") -> dict[str, str]:
    metadata = candidates_metadata(
        [
            Candidate("letter", 0.41, "gallery/letter/l1.png"),
            Candidate("invoice", 0.45, "gallery/invoice/i1.png"),
        ]
    )
    metadata.update({"docclass-label": label, "docclass-source-etag": "abc", "source": "scanner-3"})
    return metadata


def keys(s3, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


@pytest.fixture
def bucket(s3):
    """A bucket as the functions leave it: a gallery, documents to review and one classified."""
    for key in ("gallery/letter/l1.png", "gallery/invoice/i1.png"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=draw_page(key.split("/")[1]))
    s3.put_object(
        Bucket=BUCKET,
        Key="classified/letter/old.png",
        Body=draw_page("letter", 3),
        Metadata=routed_metadata(),
    )
    s3.put_object(
        Bucket=BUCKET,
        Key="review/letter/close call.png",
        Body=draw_page("letter", 4),
        Metadata=routed_metadata(),
    )
    s3.put_object(
        Bucket=BUCKET,
        Key="unclassified/scans/a+b.png",
        Body=draw_page("invoice", 5),
        Metadata=routed_metadata(""),
    )
    return s3


@pytest.fixture
def client(bucket):
    store = ObjectStore(BUCKET, bucket)
    reviewer = Reviewer(store, who="alice", page_size=10)
    app = create_app(reviewer, Thumbnails(store), token=TOKEN, bucket=BUCKET)
    return app.test_client()


def etag_of(s3, key: str) -> str:
    return s3.head_object(Bucket=BUCKET, Key=key)["ETag"]


def act(client, key: str, etag: str, do: str, **extra: str):
    form = {"token": TOKEN, "key": key, "etag": etag, "do": do, "page": "1", **extra}
    return client.post("/act", data=form)


def notice(client, response) -> str:
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    found = re.search(r'<p class="notice (\w+)"[^>]*>(.*?)</p>', page, re.S)
    assert found, page
    return f"{found.group(1)}: {unescape(found.group(2))}"


def test_the_page_lists_unclassified_and_review_newest_first_with_the_automation_attributes(client):
    page = client.get("/").get_data(as_text=True)

    listed = re.findall(r'<form class="row"[^>]*data-key="([^"]*)"', page)
    assert listed == ["unclassified/scans/a+b.png", "review/letter/close call.png"]
    assert 'data-action="route" data-label="letter"' in page
    assert 'data-action="gallery" data-label="invoice"' in page
    assert "distance 0.4100" in page and "distance 0.4500" in page
    assert f'name="token" value="{TOKEN}"' in page


class Listing:
    """A store that lists objects with chosen times (S3's LastModified has one-second resolution)."""

    bucket = BUCKET

    def __init__(self, ages: dict[str, int]) -> None:
        now = datetime(2026, 12, 2, tzinfo=UTC)
        self.items = [Listed(key, now - timedelta(minutes=age)) for key, age in ages.items()]

    def list_objects(self, prefix):
        return [item for item in self.items if item.key.startswith(prefix)]

    def head(self, key):
        return StoredObject(key=key, etag='"e"', size=1, metadata=routed_metadata())

    def list_folders(self, prefix):
        return ["letter"]


def test_rows_are_newest_first_across_prefixes_and_paged():
    store = Listing(
        {"review/letter/b.png": 1, "unclassified/a.png": 3, "review/form/c.png": 2, "unclassified/": 0}
    )
    reviewer = Reviewer(store, who="a", page_size=2)  # type: ignore[arg-type]

    first, second = reviewer.listing(1), reviewer.listing(2)

    assert [r.key for r in first.rows] == ["review/letter/b.png", "review/form/c.png"]
    assert [r.key for r in second.rows] == ["unclassified/a.png"]
    assert (first.pages, first.total, reviewer.listing(9).page) == (2, 3, 2)


def test_include_lists_a_class_to_audit(bucket):
    store = ObjectStore(BUCKET, bucket)
    app = create_app(Reviewer(store, who="a", includes=["classified/letter"]), Thumbnails(store), token=TOKEN)

    page = app.test_client().get("/").get_data(as_text=True)

    assert 'data-key="classified/letter/old.png"' in page


@pytest.mark.parametrize("prefix", ["inbox/", "gallery/", "classified/a/b/", "index/"])
def test_include_accepts_only_classified_prefixes(prefix):
    with pytest.raises(ValueError, match="classified/<label>/"):
        check_includes([prefix])


def test_a_post_without_the_token_is_refused_and_moves_nothing(client, bucket):
    key = "unclassified/scans/a+b.png"
    for token in ("", "guessed"):
        response = client.post(
            "/act", data={"token": token, "key": key, "etag": etag_of(bucket, key), "do": "route:letter"}
        )
        assert response.status_code == 403
    assert keys(bucket, "classified/") == ["classified/letter/old.png"]
    assert keys(bucket, "unclassified/") == [key]


def test_a_request_for_another_host_name_is_refused(client):
    # a DNS-rebinding page reaches 127.0.0.1 under its own host name
    assert client.get("/", headers={"Host": "attacker.example:8765"}).status_code == 400


def test_route_moves_the_document_with_label_reviewer_and_candidates(client, bucket):
    key = "unclassified/scans/a+b.png"

    response = act(client, key, etag_of(bucket, key), "route:invoice")

    assert response.status_code == 303
    assert notice(client, response).startswith(
        "done: unclassified/scans/a+b.png: moved to classified/invoice/"
    )
    assert keys(bucket, "unclassified/") == []
    moved = bucket.head_object(Bucket=BUCKET, Key="classified/invoice/scans/a+b.png")["Metadata"]
    assert moved["docclass-label"] == "invoice"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ alice", moved["docclass-reviewed"])
    assert [c.label for c in parse_candidates(moved)] == ["letter", "invoice"]
    assert moved["source"] == "scanner-3"


def test_a_typed_label_with_also_gallery_does_both(client, bucket):
    key = "review/letter/close call.png"

    response = act(client, key, etag_of(bucket, key), "route:", label="memo", also_gallery="1")

    assert notice(client, response).startswith("done:")
    assert keys(bucket, "gallery/memo/") == ["gallery/memo/close call.png"]
    assert keys(bucket, "classified/memo/") == ["classified/memo/close call.png"]
    assert keys(bucket, "review/") == []
    example = bucket.head_object(Bucket=BUCKET, Key="gallery/memo/close call.png")["Metadata"]
    assert "docclass-label" not in example and example["docclass-reviewed-from"] == key


def test_add_to_gallery_copies_and_leaves_the_document(client, bucket):
    key = "unclassified/scans/a+b.png"

    act(client, key, etag_of(bucket, key), "gallery:invoice")

    assert keys(bucket, "gallery/invoice/") == ["gallery/invoice/i1.png", "gallery/invoice/scans/a+b.png"]
    assert keys(bucket, "unclassified/") == [key]


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("classified/letter/old.png", "invoice"),  # not under a listed prefix (no --include)
        ("gallery/letter/l1.png", "invoice"),
        ("unclassified/scans/a+b.png", "../index"),
        ("unclassified/scans/a+b.png", "a/b"),
    ],
)
def test_actions_touch_only_the_listed_prefixes_with_valid_labels(client, bucket, key, label):
    before = {p: keys(bucket, p) for p in ("classified/", "gallery/", "unclassified/", "review/")}

    response = act(client, key, etag_of(bucket, key), "route:", label=label)

    assert notice(client, response).startswith("refused:")
    assert {p: keys(bucket, p) for p in before} == before


def test_a_document_changed_since_the_page_was_drawn_is_refused(client, bucket):
    key = "unclassified/scans/a+b.png"
    shown = etag_of(bucket, key)
    bucket.put_object(Bucket=BUCKET, Key=key, Body=draw_page("form", 9))  # replaced meanwhile

    response = act(client, key, shown, "route:letter")

    assert "has changed since the page was loaded" in notice(client, response)
    assert keys(bucket, "classified/") == ["classified/letter/old.png"]
    assert keys(bucket, "unclassified/") == [key]


def test_a_taken_name_is_never_overwritten(client, bucket):
    # given another document already at the destination name
    key = "review/letter/close call.png"
    held = bucket.put_object(Bucket=BUCKET, Key="classified/letter/close call.png", Body=b"another")["ETag"]

    act(client, key, etag_of(bucket, key), "route:letter")

    assert etag_of(bucket, "classified/letter/close call.png") == held
    [renamed] = [k for k in keys(bucket, "classified/letter/") if "~" in k]
    assert renamed.startswith("classified/letter/close call~")
    assert keys(bucket, "review/") == []


def test_keys_and_labels_are_escaped(client, bucket):
    bucket.put_object(Bucket=BUCKET, Key=XSS_KEY, Body=draw_page("form", 1), Metadata=routed_metadata(""))

    page = client.get("/").get_data(as_text=True)

    assert "<img src=x onerror" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    response = client.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_thumbnails_are_jpegs_of_listed_keys_only_and_cached(bucket):
    store = ObjectStore(BUCKET, bucket)
    thumbnails = Thumbnails(store)
    client = create_app(Reviewer(store, who="a"), thumbnails, token=TOKEN).test_client()
    key = "unclassified/scans/a+b.png"
    url = f"/thumb?key={key.replace('+', '%2B')}&etag={etag_of(bucket, key).strip(chr(34))}"

    first, second = client.get(url), client.get(url)

    assert first.status_code == 200 and first.mimetype == "image/jpeg"
    assert first.data[:3] == b"\xff\xd8\xff" and second.data == first.data
    assert thumbnails.renders == 1
    assert client.get("/thumb?key=classified/letter/old.png").status_code == 404
    bucket.put_object(Bucket=BUCKET, Key="index/pointer.json", Body=b"{}")
    assert client.get("/thumb?key=index/pointer.json").status_code == 404


def test_the_command_warns_off_loopback_and_refuses_an_include_outside_classified(capsys):
    from docclass_local.cli import main

    code = main(["review", "--host", "0.0.0.0", "--include", "inbox/", "--bucket", "b"])

    err = capsys.readouterr().err
    assert code == 1
    assert "warning: listening on 0.0.0.0" in err
    assert "docclass review: error: --include inbox/: give classified/<label>/" in err


def test_the_server_answers_only_to_loopback_names_unless_told():
    from docclass_local.review.server import trusted_hosts

    assert trusted_hosts("127.0.0.1") == ["127.0.0.1", "localhost"]
    assert trusted_hosts("review.lan") == ["127.0.0.1", "localhost", "review.lan"]
    assert trusted_hosts("127.0.0.1", ["Review.lan"]) == ["127.0.0.1", "localhost", "review.lan"]


def test_a_wildcard_bind_answers_this_machines_names_and_no_other(bucket):
    import socket

    from docclass_local.review.server import trusted_hosts

    # given the page listening on every interface, with one extra name
    hosts = trusted_hosts("0.0.0.0", ["review.lan"])
    store = ObjectStore(BUCKET, bucket)
    client = create_app(
        Reviewer(store, who="a"), Thumbnails(store), token=TOKEN, trusted_hosts=hosts
    ).test_client()

    # then a rebinding page's name is refused; the machine's own names and the extra one answer
    refused = client.get("/", headers={"Host": "attacker.example:8765"})
    assert refused.status_code == 400 and "--trusted-host NAME" in refused.get_data(as_text=True)
    for name in ("localhost:8765", f"{socket.gethostname().lower()}:8765", "review.lan"):
        assert client.get("/", headers={"Host": name}).status_code == 200, name


def test_without_example_keys_a_candidate_shows_its_labels_newest_example(bucket):
    # given a document whose docclass-candidate-examples was left out (S3's 2 KB of metadata)
    metadata = {k: v for k, v in routed_metadata().items() if k != "docclass-candidate-examples"}
    bucket.put_object(Bucket=BUCKET, Key="unclassified/long.png", Body=b"x", Metadata=metadata)
    store = ObjectStore(BUCKET, bucket)

    [row] = [r for r in Reviewer(store, who="a").listing().rows if r.key == "unclassified/long.png"]

    assert [c.example for c in row.candidates] == ["gallery/letter/l1.png", "gallery/invoice/i1.png"]


def test_a_pdf_thumbnail_is_its_first_page(bucket):
    from PIL import Image

    from conftest import draw_document

    bucket.put_object(Bucket=BUCKET, Key="unclassified/packet.pdf", Body=draw_document(["letter", "invoice"]))

    data = Thumbnails(ObjectStore(BUCKET, bucket)).get("unclassified/packet.pdf")

    assert data is not None
    with Image.open(io.BytesIO(data)) as thumbnail:
        assert thumbnail.format == "JPEG" and max(thumbnail.size) == 220


def test_pdf_thumbnails_leave_nothing_in_the_pdf_sandbox(bucket):
    from conftest import draw_document
    from docclass.pdf_sandbox import SANDBOX

    # given three PDFs under review
    for n in range(3):
        bucket.put_object(Bucket=BUCKET, Key=f"unclassified/p{n}.pdf", Body=draw_document(["letter"], seed=n))
    thumbnails = Thumbnails(ObjectStore(BUCKET, bucket))

    drawn = [thumbnails.get(f"unclassified/p{n}.pdf") for n in range(3)]

    # then each was drawn, and no temporary copy of any is left behind
    assert all(data is not None for data in drawn)
    assert SANDBOX._dir is not None and os.listdir(SANDBOX._dir) == []


class Recording(ObjectStore):
    """ObjectStore that counts listings and can make chosen calls fail or race, as S3 would."""

    def __init__(self, bucket: str, s3) -> None:
        super().__init__(BUCKET, s3)
        self.s3 = s3
        self.lists = 0
        self.copy_fails_to = ""  # a copy to a key starting with this raises StorageError
        self.moved_after_copy = ""  # after a copy, this key is moved elsewhere by "another tab"
        self.list_fails = False

    def list_objects(self, prefix):
        self.lists += 1
        if self.list_fails:
            raise StorageError(f"s3 list {prefix}: AccessDenied")
        return super().list_objects(prefix)

    def copy(self, source_key, destination_key, **kwargs):
        if self.copy_fails_to and destination_key.startswith(self.copy_fails_to):
            raise StorageError(f"s3 copy {source_key}: AccessDenied")
        super().copy(source_key, destination_key, **kwargs)
        if self.moved_after_copy:
            elsewhere = "classified/elsewhere/" + self.moved_after_copy.rsplit("/", 1)[1]
            self.s3.copy_object(
                Bucket=BUCKET, Key=elsewhere, CopySource={"Bucket": BUCKET, "Key": self.moved_after_copy}
            )
            self.s3.delete_object(Bucket=BUCKET, Key=self.moved_after_copy)


def test_pressing_gallery_twice_then_both_makes_one_gallery_copy(client, bucket):
    key = "unclassified/scans/a+b.png"
    etag = etag_of(bucket, key)

    first = notice(client, act(client, key, etag, "gallery:invoice"))
    second = notice(client, act(client, key, etag, "gallery:invoice"))
    both = notice(client, act(client, key, etag, "route:invoice", also_gallery="1"))

    assert first.startswith("done:") and "already in the gallery as gallery/invoice/scans/a+b.png" in second
    assert both.startswith("done:") and "moved to classified/invoice/scans/a+b.png" in both
    assert keys(bucket, "gallery/invoice/") == ["gallery/invoice/i1.png", "gallery/invoice/scans/a+b.png"]
    assert keys(bucket, "unclassified/") == []


def test_a_second_press_after_the_move_says_where_the_document_went(client, bucket):
    # given a document routed to invoice from one tab
    key = "unclassified/scans/a+b.png"
    etag = etag_of(bucket, key)
    assert notice(client, act(client, key, etag, "route:invoice", also_gallery="1")).startswith("done:")
    # when the same action comes again (a second tab, a double press on a slow link), and then
    # another one from a page drawn before the move
    again = notice(client, act(client, key, etag, "route:invoice", also_gallery="1"))
    other = notice(client, act(client, key, etag, "route:letter"))
    # then the same action is done already, and says where; another is refused, naming the move
    assert again == (
        f"done: {key}: already added to the gallery as gallery/invoice/scans/a+b.png; "
        "already moved to classified/invoice/scans/a+b.png"
    )
    assert other == (
        f"refused: {key} was moved to classified/invoice/scans/a+b.png since the page was loaded: "
        "nothing done (to change it, review it there: --include classified/invoice/)"
    )
    assert keys(bucket, "classified/invoice/") == ["classified/invoice/scans/a+b.png"]
    assert keys(bucket, "classified/letter/") == ["classified/letter/old.png"]


@pytest.mark.parametrize(
    ("key", "inbox", "extra"),
    [
        # ClassifyFunction copied it here and has not deleted its upload yet (it died between
        # the two; its message will come back and finish the move)
        ("review/letter/scans/late.png", "inbox/scans/late.png", {}),
        ("review/letter/scans/late~{tag}.png", "inbox/scans/late.png", {}),
        # a section of a packet whose split is not finished (its upload is still in inbox/)
        (
            "review/form/scans/p/part-01-p1-3.pdf",
            "inbox/scans/p.pdf",
            {"docclass-packet": "packets/scans/p.pdf", "docclass-packet-pages": "1-3"},
        ),
        # its original kept at a taken name's ~<ETag> variant
        (
            "review/form/scans/p/part-01-p1-3.pdf",
            "inbox/scans/p.pdf",
            {"docclass-packet": "packets/scans/p~{tag}.pdf", "docclass-packet-pages": "1-3"},
        ),
        # docclass-packet dropped to fit S3's 2 KB (routing.fit_section_metadata)
        ("review/form/scans/p/part-01-p1-3.pdf", "inbox/scans/p.pdf", {"docclass-packet-pages": "1-3"}),
    ],
)
def test_a_document_whose_move_the_function_has_not_finished_is_left_alone(client, bucket, key, inbox, extra):
    etag = bucket.put_object(Bucket=BUCKET, Key=inbox, Body=draw_page("letter", 9))["ETag"].strip('"')
    key = key.format(tag=etag[:8])
    extra = {name: value.format(tag=etag[:8]) for name, value in extra.items()}
    metadata = {**routed_metadata(), "docclass-source-etag": etag, **extra}
    bucket.put_object(Bucket=BUCKET, Key=key, Body=draw_page("letter", 9), Metadata=metadata)

    shown = notice(client, act(client, key, etag_of(bucket, key), "route:invoice", also_gallery="1"))

    assert shown == (
        f"refused: {key}: docclass has not finished moving it ({inbox} is still there): nothing done. "
        "Its message comes back within minutes to finish the move, unless it is in the dead-letter "
        "queue (`docclass status` counts those; `docclass redrive` sends them back)"
    )
    assert keys(bucket, "classified/invoice/") == [] and keys(bucket, "gallery/invoice/") == [
        "gallery/invoice/i1.png"
    ]
    assert key in keys(bucket, "review/")
    # adding it to the gallery moves nothing, and is done
    assert notice(client, act(client, key, etag_of(bucket, key), "gallery:invoice")).startswith("done:")
    # once the function has deleted the upload, the same action goes through
    bucket.delete_object(Bucket=BUCKET, Key=inbox)
    assert notice(client, act(client, key, etag_of(bucket, key), "route:invoice")).startswith("done:")


def test_a_document_deleted_since_the_page_was_loaded_is_refused_as_such(client, bucket):
    key = "unclassified/scans/a+b.png"
    etag = etag_of(bucket, key)
    bucket.delete_object(Bucket=BUCKET, Key=key)

    shown = notice(client, act(client, key, etag, "route:invoice"))

    assert shown == f"refused: {key} has moved or was deleted since the page was loaded: nothing done"
    assert keys(bucket, "classified/invoice/") == []


def test_the_same_bytes_already_in_the_gallery_are_not_copied_again(client, bucket):
    # given the very document already put in the gallery by hand, at the name the page would use
    key = "unclassified/scans/a+b.png"
    bucket.copy_object(
        Bucket=BUCKET, Key="gallery/invoice/scans/a+b.png", CopySource={"Bucket": BUCKET, "Key": key}
    )

    shown = notice(client, act(client, key, etag_of(bucket, key), "gallery:invoice"))

    assert "already in the gallery as gallery/invoice/scans/a+b.png" in shown
    assert keys(bucket, "gallery/invoice/") == ["gallery/invoice/i1.png", "gallery/invoice/scans/a+b.png"]


def test_an_s3_refusal_is_a_message_saying_what_was_done_not_a_500(bucket):
    store = Recording(BUCKET, bucket)
    store.copy_fails_to = "classified/"
    client = create_app(Reviewer(store, who="a"), Thumbnails(store), token=TOKEN).test_client()
    key = "review/letter/close call.png"

    response = act(client, key, etag_of(bucket, key), "route:invoice", also_gallery="1")

    assert response.status_code == 303
    shown = notice(client, response)
    assert shown.startswith(
        f"refused: {key}: added to the gallery as gallery/invoice/close call.png, but not moved"
    )
    assert "AccessDenied" in shown
    assert keys(bucket, "review/") == [key]


def test_a_listing_s3_refuses_is_a_502_that_says_so(bucket):
    store = Recording(BUCKET, bucket)
    store.list_fails = True
    client = create_app(Reviewer(store, who="a"), Thumbnails(store), token=TOKEN).test_client()

    response = client.get("/")

    assert response.status_code == 502
    assert "S3 refused: s3 list unclassified/: AccessDenied" in response.get_data(as_text=True)


def test_a_document_moved_by_someone_else_during_the_move_is_reported_as_such(bucket):
    key = "review/letter/close call.png"
    store = Recording(BUCKET, bucket)
    store.moved_after_copy = key  # another tab moves it between this copy and this delete
    client = create_app(Reviewer(store, who="a"), Thumbnails(store), token=TOKEN).test_client()

    shown = notice(client, act(client, key, etag_of(bucket, key), "route:invoice"))

    assert "moved or deleted by someone else meanwhile" in shown
    assert "newer version" not in shown
    assert "kept at classified/invoice/close call.png" in shown
    assert keys(bucket, "classified/invoice/") == ["classified/invoice/close call.png"]  # nothing lost


def test_candidate_examples_are_served_by_etag_and_drawn_once(bucket):
    store = ObjectStore(BUCKET, bucket)
    thumbnails = Thumbnails(store)
    client = create_app(Reviewer(store, who="a"), thumbnails, token=TOKEN).test_client()
    example_etag = etag_of(bucket, "gallery/letter/l1.png").strip('"')

    page = unescape(client.get("/").get_data(as_text=True))
    [url] = set(re.findall(r'src="(/thumb\?key=gallery/letter/l1.png[^"]*)"', page))
    first, second = client.get(url), client.get(url)

    assert f"etag={example_etag}" in url
    assert first.status_code == 200 and second.data == first.data
    assert "max-age" in first.headers["Cache-Control"]
    assert thumbnails.renders == 1


def test_a_candidate_example_that_is_a_page_id_shows_that_page(bucket):
    from conftest import draw_document

    bucket.put_object(
        Bucket=BUCKET, Key="gallery/letter/packet.pdf", Body=draw_document(["invoice", "letter"])
    )
    metadata = candidates_metadata([Candidate("letter", 0.3, "gallery/letter/packet.pdf#page=2")])
    bucket.put_object(Bucket=BUCKET, Key="unclassified/one.png", Body=b"x", Metadata=metadata)
    store = ObjectStore(BUCKET, bucket)
    thumbnails = Thumbnails(store)
    client = create_app(Reviewer(store, who="a"), thumbnails, token=TOKEN).test_client()

    page = unescape(client.get("/").get_data(as_text=True))
    [url] = re.findall(r'src="(/thumb\?key=gallery/letter/packet.pdf[^"]*)"', page)
    shown = client.get(url)

    assert "page=2" in url
    assert shown.status_code == 200
    assert shown.data == thumbnails.get("gallery/letter/packet.pdf", page=2)
    assert shown.data != thumbnails.get("gallery/letter/packet.pdf", page=1)


def test_the_listing_is_reused_for_a_few_seconds_and_dropped_by_every_action(bucket):
    now = [100.0]
    store = Recording(BUCKET, bucket)
    reviewer = Reviewer(store, who="a", listing_seconds=5, monotonic=lambda: now[0])
    client = create_app(reviewer, Thumbnails(store), token=TOKEN).test_client()

    client.get("/")
    client.get("/")
    assert reviewer.listings == 1
    key = "unclassified/scans/a+b.png"
    response = act(client, key, etag_of(bucket, key), "route:letter")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert reviewer.listings == 2 and f'data-key="{key}"' not in page  # listed again after the action
    now[0] += 6
    client.get("/")
    assert reviewer.listings == 3


@pytest.mark.parametrize(
    "candidates",
    ["letter:0.41,not-a-pair,invoice:x,../up:0.2,memo:nan", "letter:0.41,", "%%%:0.41,letter:0.41"],
)
def test_malformed_candidates_leave_out_the_bad_items_not_the_page(bucket, candidates):
    bucket.put_object(
        Bucket=BUCKET, Key="unclassified/hand.png", Body=b"x", Metadata={"docclass-candidates": candidates}
    )
    store = ObjectStore(BUCKET, bucket)

    response = create_app(Reviewer(store, who="a"), Thumbnails(store), token=TOKEN).test_client().get("/")
    [row] = [r for r in Reviewer(store, who="a").listing().rows if r.key == "unclassified/hand.png"]

    assert response.status_code == 200
    assert [(c.label, c.distance) for c in row.candidates] == [("letter", 0.41)]


def test_a_wholly_malformed_candidates_value_shows_the_row_without_candidates(bucket):
    bucket.put_object(
        Bucket=BUCKET, Key="unclassified/hand.png", Body=b"x", Metadata={"docclass-candidates": "garbage"}
    )
    store = ObjectStore(BUCKET, bucket)

    page = create_app(Reviewer(store, who="a"), Thumbnails(store), token=TOKEN).test_client().get("/")

    assert page.status_code == 200
    assert 'data-key="unclassified/hand.png"' in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("label", "distance", "neighbor"),
    [("invoice", "0.450000", "gallery/invoice/i1.png"), ("memo", None, None), ("letter", "0.123456", "n")],
)
def test_routing_to_another_label_describes_that_label(client, bucket, label, distance, neighbor):
    # given a document the classifier put under letter, nearest example "n" at 0.123456
    key = "review/letter/close call.png"
    metadata = {**routed_metadata(), "docclass-distance": "0.123456", "docclass-neighbor": "n"}
    bucket.put_object(Bucket=BUCKET, Key=key, Body=draw_page("letter", 4), Metadata=metadata)

    act(client, key, etag_of(bucket, key), "route:", label=label)

    moved = bucket.head_object(Bucket=BUCKET, Key=f"classified/{label}/close call.png")["Metadata"]
    assert moved.get("docclass-distance") == distance
    assert moved.get("docclass-neighbor") == neighbor


def test_the_page_copies_only_into_classified_and_gallery(bucket):
    store = ObjectStore(BUCKET, bucket)
    key = "unclassified/scans/a+b.png"
    source = store.head(key)
    assert source is not None

    with pytest.raises(Refused, match="copies only under classified/, gallery/"):
        Reviewer(store, who="a")._copy(source, "review/letter/scans/a+b.png", {})
    assert keys(bucket, "review/letter/scans") == []


def test_a_routed_copy_keeps_within_s3s_2_kb_of_metadata(client, bucket):
    # given a document whose metadata, with the review stamp added, would pass 2 KB
    key = "unclassified/full.png"
    metadata = {**routed_metadata(""), "docclass-candidate-examples": "gallery/letter/" + "e" * 200}
    metadata["note"] = "n" * (MAX_USER_METADATA_BYTES - metadata_size(metadata) - 20)
    bucket.put_object(Bucket=BUCKET, Key=key, Body=draw_page("form", 2), Metadata=metadata)

    shown = notice(client, act(client, key, etag_of(bucket, key), "route:letter"))

    assert shown.startswith("done:"), shown
    moved = bucket.head_object(Bucket=BUCKET, Key="classified/letter/full.png")["Metadata"]
    assert metadata_size(moved) <= MAX_USER_METADATA_BYTES
    assert "docclass-candidate-examples" not in moved and moved["note"] == metadata["note"]


def test_the_command_passes_trusted_host_names_to_the_server(bucket, monkeypatch):
    from types import SimpleNamespace

    from docclass_local import cli, target
    from docclass_local.review import server

    built = {}

    class Stub:
        def __init__(self, store, **kwargs):
            built.update(kwargs)
            self.url = "http://127.0.0.1:0/"

        def serve_forever(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(server, "ReviewServer", Stub)
    monkeypatch.setattr(
        target, "resolve_target", lambda args: SimpleNamespace(bucket=BUCKET, s3=bucket, description="test")
    )
    code = cli.main(
        [
            "review",
            "--host",
            "0.0.0.0",
            "--trusted-host",
            "review.lan",
            "--endpoint-url",
            "http://x",
            "--bucket",
            BUCKET,
        ]
    )

    assert code == 0 and built["trusted"] == ["review.lan"] and built["host"] == "0.0.0.0"
