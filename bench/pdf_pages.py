"""Overhead per PDF page through the local stack, against one image: what a page adds besides its model call.

Usage (from the repo root):

    .venv/bin/python bench/pdf_pages.py [--quick]

ClassifyFunction runs behind the local stack (S3 event -> SQS -> handler) with docclass's real
BedrockEmbedder (Titan) talking to the zero-latency stand-in for Bedrock (reference/fake_bedrock.py), whose
own time is subtracted, as in bench/overhead.py. Each round uploads, one at a time and in an order
that rotates, a scanned page as a JPEG, the same kind of page as a 1-page PDF and an 8-page PDF
(150 dpi JPEG pages, as a scanner writes them); pages are drawn anew every round, so no page is
an embedding-cache hit. The overhead of a page is the 8-page PDF's time less the 1-page PDF's,
over 7. Writes bench/results/pdf_pages.md.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")  # one core, as a 1-vCPU Lambda; before numpy loads

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, command_line, markdown_table, write_results
from overhead import wait_for
from reference.fake_bedrock import FakeBedrockRuntime
from reference.harness import (
    Dispatcher,
    docclass_handler,
    docclass_uses_titan_with,
    seed_gallery,
    timing_stack,
)

CLASSES = ("invoice", "bank_statement", "letter", "form", "memo", "resume")
KINDS = ("JPEG image", "PDF, 1 page", "PDF, 8 pages")


def documents(round_: int) -> dict[str, bytes]:
    """This round's three documents, drawn from seeds no other round uses."""
    from docclass_local.samples import encode, render
    from docclass_local.samples.packets import pdf_bytes

    def page(n: int):  # type: ignore[no-untyped-def]
        return render(CLASSES[n % len(CLASSES)], 50_000 + round_ * 100 + n, dpi=150)

    return {
        "JPEG image": encode(page(0)),
        "PDF, 1 page": pdf_bytes([page(1)]),
        "PDF, 8 pages": pdf_bytes([page(10 + n) for n in range(8)]),
    }


def measure(rounds: int) -> dict[str, list[float]]:

    fake = FakeBedrockRuntime()
    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with docclass_uses_titan_with(fake):
        dispatcher = Dispatcher({"inbox/": docclass_handler("classify")}, [fake], "inbox/")
        with timing_stack(dispatcher, docclass_handler("gallery")) as stack:
            s3 = seed_gallery(stack, CLASSES)
            for round_ in range(-1, rounds):  # round -1 warms the container up and is not counted
                docs = documents(round_ + 1)
                order = KINDS[round_ % 3 :] + KINDS[: round_ % 3]
                for kind in order:
                    key = f"inbox/r{round_ + 1}/{kind.replace(' ', '-').replace(',', '')}.bin"
                    s3.put_object(Bucket=stack.bucket, Key=key, Body=docs[kind])
                    invocation = wait_for(dispatcher, key)
                    if invocation.failures:
                        raise RuntimeError(f"{key} failed")
                    if round_ >= 0:
                        timings[kind].append(invocation.seconds)
            stack.wait_until_idle(timeout=60)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 8")
    args = parser.parse_args()
    rounds = 2 if args.quick else 8
    timings = measure(rounds)
    medians = {kind: statistics.median(values) * 1000 for kind, values in timings.items()}
    per_page = (
        statistics.median(
            (eight - one) / 7
            for eight, one in zip(timings["PDF, 8 pages"], timings["PDF, 1 page"], strict=True)
        )
        * 1000
    )
    rows = [[kind, f"{medians[kind]:.0f}", ""] for kind in KINDS]
    rows.append(["each further PDF page ((8 pages - 1 page) / 7, per round)", f"{per_page:.0f}", ""])
    rows[1][2] = f"{medians['PDF, 1 page'] / medians['JPEG image']:.2f}x the JPEG"
    text = "\n".join(
        [
            "# Overhead per PDF page through the local stack",
            "",
            f"`{command_line()}`: {rounds} rounds, order rotating; ClassifyFunction's handler time less the",
            "stand-in model's, medians (ms). Model calls: one per page at zero latency (Titan's own time is",
            "not in these numbers).",
            "",
            markdown_table(["document", "overhead (ms)", ""], rows, align="lrl"),
        ]
    )
    write_results(RESULTS / "pdf_pages.md", text)
    print(text)


if __name__ == "__main__":
    main()
