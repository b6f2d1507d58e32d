"""`docclass demo`: the whole service on generated documents, from upload to routed, in one command."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from docclass.routing import inbox_path, possible_destinations
from docclass.store import ObjectStore

# Inbox documents are drawn with other seeds than the gallery's, so no inbox page is a gallery page.
INBOX_SEED_OFFSET = 10_000
# The packet's pages are drawn with seeds of their own too (render seed packet_seed * 100 + page).
PACKET_SEED_OFFSET = 20_000
PACKET_KEY = "inbox/demo/packet 001.pdf"
# The demo's template parameters: packets are split, and a labelled document whose two nearest
# classes are within 0.03 of each other goes to review/<label>/ (on the demo's data, with the
# offline embedder, about a quarter of the documents: something for `docclass review` to show).
DEMO_PARAMETERS = {"SplitPackets": "true", "ReviewMargin": "0.03"}


def _say(line: str) -> None:
    print(line, flush=True)


def run_demo(
    *,
    gallery_per_class: int = 3,
    inbox_per_class: int = 5,
    seed: int = 0,
    dpi: int = 150,
    verbose: bool = False,
    keep: bool = False,
    port: int | None = None,
    while_running: Callable[[Any], None] | None = None,
) -> int:
    """Returns 0 when every document was routed exactly once, 1 otherwise.

    keep: after the results, leave the stack serving (for `docclass review`) until Ctrl-C.
    while_running(stack): called with the stack still up once everything is routed (the README's
    screenshot script opens the review page there).
    """
    from docclass_local.batches import describe_batch
    from docclass_local.samples import documents
    from docclass_local.samples.packets import packet, packet_plan
    from docclass_local.stack import LocalStack

    started = time.monotonic()
    holder: dict[str, Any] = {}

    def on_batch(report: Any) -> None:
        if verbose:
            for line in describe_batch(holder["stack"], report):
                _say("  " + line)

    # SplitPackets on: the demo ends with a packet split into its documents (images are unaffected).
    with LocalStack(port=port, on_batch=on_batch, parameters=DEMO_PARAMETERS) as stack:
        holder["stack"] = stack
        s3 = stack.client("s3")
        _say(
            f"local stack ready at {stack.endpoint_url} (bucket {stack.bucket}); "
            "embedder: docclass-local-v1, the offline stand-in (not Titan)"
        )

        gallery = list(documents(gallery_per_class, seed=seed, dpi=dpi))
        for label, name, data in gallery:
            s3.put_object(
                Bucket=stack.bucket, Key=f"gallery/{label}/{name}", Body=data, ContentType="image/jpeg"
            )
        labels = sorted({label for label, _, _ in gallery})
        _say(f"uploaded {len(gallery)} gallery examples in {len(labels)} classes: {', '.join(labels)}")
        status = stack.wait_until_idle(timeout=120)
        _say(f"gallery indexed: {status['index']['vectors']} vectors")

        truth: dict[str, str] = {}
        inbox = list(documents(inbox_per_class, seed=seed + INBOX_SEED_OFFSET, dpi=dpi))
        for number, (label, _, data) in enumerate(inbox, start=1):
            key = f"inbox/demo/scan {number:03d}.jpg"
            truth[key] = label
            s3.put_object(Bucket=stack.bucket, Key=key, Body=data, ContentType="image/jpeg")
        _say(f"uploaded {len(inbox)} documents to inbox/demo/; waiting for them to be routed...")
        status = stack.wait_until_idle(timeout=120)
        rows, problems = _results(ObjectStore(stack.bucket, s3), truth)

        packet_labels = packet_plan(3, seed + PACKET_SEED_OFFSET, labels)
        s3.put_object(
            Bucket=stack.bucket,
            Key=PACKET_KEY,
            Body=packet(packet_labels, seed + PACKET_SEED_OFFSET, dpi),
            ContentType="application/pdf",
        )
        _say(f"uploaded a {len(packet_labels)}-page packet of 3 documents to {PACKET_KEY}; splitting it...")
        status = stack.wait_until_idle(timeout=120)
        sections, packet_problems = _packet_results(ObjectStore(stack.bucket, s3), packet_labels)
        problems += packet_problems
        if while_running is not None:
            while_running(stack)
        if keep:
            _report(rows, status, sections, started, problems)
            _say(
                f"\nthe local stack stays up at {stack.endpoint_url} until Ctrl-C; in another terminal:\n"
                f"  .venv/bin/docclass review --endpoint-url {stack.endpoint_url} --bucket {stack.bucket}\n"
                "then open http://127.0.0.1:8765/"
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                _say("stopping the local stack")
            return 1 if problems else 0

    _report(rows, status, sections, started, problems)
    _say(
        "\nto review the documents under review/ in a browser, keep the stack up: run "
        "`.venv/bin/docclass demo --keep` (the stack stays at http://127.0.0.1:4566 until Ctrl-C), "
        "then in another terminal `.venv/bin/docclass review --endpoint-url http://127.0.0.1:4566 "
        "--bucket docclass-local` and open http://127.0.0.1:8765/"
    )
    return 1 if problems else 0


def _report(
    rows: list[dict[str, Any]],
    status: dict[str, Any],
    sections: list[dict[str, Any]],
    started: float,
    problems: list[str],
) -> None:
    _print_table(rows)
    correct = sum(1 for r in rows if r["predicted"] == r["true"])
    _say(
        f"\naccuracy: {correct}/{len(rows)} = {correct / len(rows):.1%} "
        "(offline stand-in embedder on generated documents; Titan's accuracy is not measured here)"
    )
    _say(
        f"status: classified {sum(status['classified'].values())}, "
        f"for review {sum(status.get('review', {}).values())} (ReviewMargin={DEMO_PARAMETERS['ReviewMargin']}), "
        f"unclassified {status['unclassified']}, "
        f"failed {status['failed']}, packets split {status['packets']}, dead letters {sum(status['dead_letters'].values())}, "
        f"pending {status['pending']}"
    )
    _print_sections(sections)
    _say(f"finished in {time.monotonic() - started:.1f} s")
    for problem in problems:
        _say(f"PROBLEM: {problem}")


def _results(store: ObjectStore, truth: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per inbox document, and every document not routed exactly once."""
    labels = store.list_folders("classified/")
    review = store.list_folders("review/")
    rows, problems = [], []
    for key, label in truth.items():
        path = inbox_path(key)
        found = [
            k for k in possible_destinations(path, labels, review_labels=review) if store.head(k) is not None
        ]
        if store.head(key) is not None:
            problems.append(f"{key} is still in inbox/")
        if len(found) != 1:
            problems.append(f"{key} found in {len(found)} places: {found}")
        if not found:
            rows.append(
                {"document": key, "true": label, "predicted": None, "distance": "", "where": "(missing)"}
            )
            continue
        head = store.head(found[0])
        assert head is not None
        meta = head.metadata
        rows.append(
            {
                "document": key,
                "true": label,
                "predicted": meta.get("docclass-label") or None,
                "distance": meta.get("docclass-distance", ""),
                "where": found[0][
                    : -len(path)
                ],  # classified/<label>/, review/<label>/, unclassified/, failed/
            }
        )
    return rows, problems


def _print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'document':<28}{'true class':<18}{'predicted':<18}{'distance':>10}  landed in"
    _say("\n" + header)
    _say("-" * len(header))
    for r in rows:
        mark = "" if r["predicted"] == r["true"] else "  <- wrong"
        _say(
            f"{r['document'][len('inbox/') :]:<28}{r['true']:<18}{r['predicted'] or '-':<18}"
            f"{r['distance']:>10}  {r['where']}{mark}"
        )
    per_class = Counter(r["true"] for r in rows if r["predicted"] == r["true"])
    totals = Counter(r["true"] for r in rows)
    _say(
        "\nper class: " + ", ".join(f"{label} {per_class[label]}/{n}" for label, n in sorted(totals.items()))
    )


def _packet_results(store: ObjectStore, truth: list[str | None]) -> tuple[list[dict[str, Any]], list[str]]:
    """The sections the demo's packet was split into, each with its pages' true labels."""
    path = inbox_path(PACKET_KEY)
    stem = path.removesuffix(".pdf")
    problems = []
    if store.head(PACKET_KEY) is not None:
        problems.append(f"{PACKET_KEY} is still in inbox/")
    if store.head(f"packets/{path}") is None:
        problems.append(f"{PACKET_KEY}: no original under packets/")
    keys = [
        key
        for prefix in [f"classified/{label}/" for label in store.list_folders("classified/")]
        + [f"review/{label}/" for label in store.list_folders("review/")]
        + ["unclassified/"]
        for key in store.list_keys(f"{prefix}{stem}/")
    ]
    sections = []
    for key in keys:
        head = store.head(key)
        assert head is not None
        pages = head.metadata.get("docclass-packet-pages", "")
        first, _, last = pages.partition("-")
        true = sorted(
            {str(label) for label in truth[int(first) - 1 : int(last or first)] if label is not None}
        )
        sections.append(
            {"pages": pages, "key": key, "label": head.metadata.get("docclass-label") or None, "true": true}
        )
    sections.sort(key=lambda s: int(str(s["pages"]).partition("-")[0]))
    covered = sum(
        int(s["pages"].partition("-")[2] or s["pages"]) - int(s["pages"].partition("-")[0]) + 1
        for s in sections
    )
    if covered != len(truth):
        problems.append(f"{PACKET_KEY}: its sections hold {covered} of its {len(truth)} pages")
    return sections, problems


def _print_sections(sections: list[dict[str, Any]]) -> None:
    _say("\npacket sections (SplitPackets=true):")
    for s in sections:
        mark = "" if s["true"] == [s["label"]] else f"  <- its pages are {', '.join(s['true'])}"
        _say(f"  pages {s['pages']:<6} {s['label'] or '-':<16} {s['key']}{mark}")
