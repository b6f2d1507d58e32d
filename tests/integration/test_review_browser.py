"""`docclass review` in a real browser: Playwright drives Debian's chromium against the local stack.

One stack and one review server for the module (each test acts on documents of its own). Skipped,
with the reason, where /usr/bin/chromium or the playwright package is missing; .ci/run installs
chromium with apt-get when it can.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import draw_page
from docclass.decide import Candidate
from docclass.routing import candidates_metadata
from docclass.store import ObjectStore
from docclass_local.review.server import ReviewServer
from docclass_local.stack import LocalStack

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does it)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (make install)")

BUCKET = "docclass-review"
XSS_KEY = "unclassified/inbox/<img src=x onerror=alert(1)>.png"
INBOX = {
    "batch/letter 1.png": ("letter", 100),
    "batch/invoice 1.png": ("invoice", 100),
    "batch/form 1.png": ("form", 100),
    "batch/letter 2.png": ("letter", 101),
    "batch/invoice 2.png": ("invoice", 101),
}


def keys(s3: Any, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def routed(s3: Any, path: str) -> str:
    """Where the document with this inbox path is now (review/<label>/ with ReviewMargin 2)."""
    [key] = [k for k in keys(s3, "review/") + keys(s3, "classified/") if k.split("/", 2)[2] == path]
    return key


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """A gallery of letters and invoices; every document goes to review/ (ReviewMargin 2)."""
    parameters = {"ReviewMargin": "2", "IndexRefreshSeconds": "0"}
    with LocalStack(port=None, bucket=BUCKET, parameters=parameters) as stack:
        s3 = stack.client("s3")
        for kind in ("letter", "invoice"):
            for seed in (1, 2):
                s3.put_object(
                    Bucket=BUCKET, Key=f"gallery/{kind}/{kind}-{seed}.png", Body=draw_page(kind, seed)
                )
        stack.wait_until_idle(timeout=90, poll=0.2)
        for path, (kind, seed) in INBOX.items():
            s3.put_object(Bucket=BUCKET, Key=f"inbox/{path}", Body=draw_page(kind, seed))
        # The function would route this one to unclassified/ beyond a MaxDistance; put it there as
        # it would, so that the page has a key that is markup.
        metadata = candidates_metadata([Candidate("letter", 0.61, "gallery/letter/letter-1.png")])
        s3.put_object(Bucket=BUCKET, Key=XSS_KEY, Body=draw_page("form", 7), Metadata=metadata)
        stack.wait_until_idle(timeout=90, poll=0.2)
        yield stack


@pytest.fixture(scope="module")
def server(stack: LocalStack) -> Iterator[ReviewServer]:
    review = ReviewServer(ObjectStore(BUCKET, stack.client("s3")), who="tester", port=0).start()
    yield review
    review.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: ReviewServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.dialogs = []  # every alert/confirm the page opens
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    tab.goto(server.url)
    yield tab
    context.close()


def row(page: Any, key: str) -> Any:
    return page.locator(f"form.row[data-key='{key}']")


def notice(page: Any) -> str:
    return str(page.locator("#notice").inner_text())


def test_the_page_lists_every_document_to_review_with_thumbnails_and_candidates(page, stack):
    s3 = stack.client("s3")
    listed = page.locator("form.row").evaluate_all("rows => rows.map(r => r.dataset.key)")

    assert sorted(listed) == sorted(keys(s3, "review/") + keys(s3, "unclassified/"))
    assert len(listed) == len(INBOX) + 1
    letter = row(page, routed(s3, "batch/letter 1.png"))
    assert letter.locator("li.candidate").count() == 2  # the gallery's two labels
    # the document's thumbnail and each candidate's example thumbnail were drawn and loaded
    widths = letter.locator("img.thumb").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 3 and all(w > 0 for w in widths)


def test_keys_route_a_document_to_its_first_candidate(page, stack):
    s3 = stack.client("s3")
    key = routed(s3, "batch/invoice 1.png")
    first = row(page, key).locator("li.candidate").first.get_attribute("data-label")
    index = page.locator("form.row").evaluate_all("rows => rows.map(r => r.dataset.key)").index(key)

    for _ in range(index):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("1")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert f"moved to classified/{first}/batch/invoice 1.png" in notice(page)
    assert keys(s3, f"classified/{first}/") == [f"classified/{first}/batch/invoice 1.png"]
    meta = s3.head_object(Bucket=BUCKET, Key=f"classified/{first}/batch/invoice 1.png")["Metadata"]
    assert meta["docclass-reviewed"].endswith(" tester") and "docclass-candidates" in meta
    assert row(page, key).count() == 0


def test_keys_add_a_document_to_the_gallery_as_its_second_candidate(page, stack):
    s3 = stack.client("s3")
    key = routed(s3, "batch/letter 1.png")
    second = row(page, key).locator("li.candidate").nth(1).get_attribute("data-label")
    index = page.locator("form.row").evaluate_all("rows => rows.map(r => r.dataset.key)").index(key)

    for _ in range(index):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("2")
    with page.expect_navigation():
        page.keyboard.press("g")

    assert f"added to the gallery as gallery/{second}/batch/letter 1.png" in notice(page)
    assert keys(s3, key) == [key]  # the document itself stays for review
    stack.wait_until_idle(timeout=60, poll=0.2)  # indexed before the next test counts vectors


def test_adding_to_the_gallery_teaches_the_index_a_new_label(page, stack):
    s3 = stack.client("s3")
    before = stack.status()["index"]["vectors"]
    form_row = row(page, routed(s3, "batch/form 1.png"))

    form_row.locator("input[name=label]").fill("form")
    with page.expect_navigation():
        form_row.locator("button[data-action=gallery][data-label='']").click()

    assert "added to the gallery as gallery/form/batch/form 1.png" in notice(page)
    status = stack.wait_until_idle(timeout=60, poll=0.2)
    assert status["index"]["vectors"] == before + 1
    assert status["index"]["labels"]["form"] == 1
    # a similar document uploaded after is classified under the new label
    s3.put_object(Bucket=BUCKET, Key="inbox/later/form 2.png", Body=draw_page("form", 102))
    stack.wait_until_idle(timeout=60, poll=0.2)
    later = routed(s3, "later/form 2.png")
    assert later.split("/")[1] == "form"
    assert s3.head_object(Bucket=BUCKET, Key=later)["Metadata"]["docclass-label"] == "form"


def test_a_key_that_is_markup_shows_literally_and_runs_no_script(page, stack):
    shown = row(page, XSS_KEY).locator("code.key")

    assert shown.inner_text() == XSS_KEY
    assert page.locator("img[src='x']").count() == 0
    with page.expect_navigation():
        row(page, XSS_KEY).locator("button[data-action=route][data-label=letter]").click()
    assert notice(page).startswith(f"{XSS_KEY}: moved to classified/letter/inbox/<img src=x")
    assert page.dialogs == []


def test_a_document_moved_after_the_page_was_loaded_is_refused_and_kept(page, stack):
    s3 = stack.client("s3")
    key = routed(s3, "batch/letter 2.png")
    # given someone moves the document after the page showed it
    s3.copy_object(
        Bucket=BUCKET, Key="classified/elsewhere/letter 2.png", CopySource={"Bucket": BUCKET, "Key": key}
    )
    s3.delete_object(Bucket=BUCKET, Key=key)
    # when the reviewer routes it
    with page.expect_navigation():
        row(page, key).locator("li.candidate button[data-action=route]").first.click()
    # then the page says so, and nothing was written or lost
    assert "has moved or was deleted since the page was loaded: nothing done" in notice(page)
    assert keys(s3, "classified/elsewhere/") == ["classified/elsewhere/letter 2.png"]
    assert [k for k in keys(s3, "") if k.endswith("letter 2.png")] == ["classified/elsewhere/letter 2.png"]


def test_a_held_enter_key_posts_once(page, stack):
    s3 = stack.client("s3")
    key = routed(s3, "batch/invoice 2.png")
    first = row(page, key).locator("li.candidate").first.get_attribute("data-label")
    index = page.locator("form.row").evaluate_all("rows => rows.map(r => r.dataset.key)").index(key)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)

    for _ in range(index):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("1")
    for _ in range(4):  # a held key: the first keydown, then repeats
        page.keyboard.down("Enter")
    page.keyboard.up("Enter")
    page.locator("#notice").wait_for()

    assert len(posts) == 1
    assert f"moved to classified/{first}/batch/invoice 2.png" in notice(page)
    assert keys(s3, f"classified/{first}/batch/invoice 2") == [f"classified/{first}/batch/invoice 2.png"]
