"""PDF pages to model-ready images: docclass (PDFium, pypdfium2) against pdf2image/poppler at 200 dpi.

Usage (from the repo root):

    .venv/bin/python bench/pdf_render.py [--quick]

The alternative is what a user would write first: `pdf2image.convert_from_bytes(data, dpi=200)`
(poppler's pdftoppm in a subprocess), then the same shrink to 2048 px that docclass applies. Two
PDFs of 4 letter pages: a scanned one (a JPEG image per page at 150 dpi, as a scanner writes it)
and a born-digital one (Helvetica text). Each measurement runs in a fresh child interpreter that
first reads the PDF, then resets Linux's peak-RSS mark (/proc/self/clear_refs) and renders every
page; the peak is that of the render: for pdf2image the larger of the child's and pdftoppm's (one
after the other), for docclass the child's plus its PDFium process's (both alive at once).
The two renderers alternate in order, round after round, and the table gives their medians and
the ratio per round's median: the machines are shared and noisy, so only side-by-side ratios count.

pdf2image and poppler are not dependencies of docclass: without `pdftoppm` on PATH and pdf2image
importable (`apt-get install poppler-utils`, `pip install pdf2image`), only docclass is measured.
Writes bench/results/pdf_render.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, RESULTS, child_env, command_line, markdown_table, run_child, write_results

sys.path.insert(0, str(REPO_ROOT / "tests"))

CHILD = r"""
import json, sys, time
data = open(sys.argv[2], "rb").read()
how = sys.argv[1]
from docclass.images import MAX_SIDE, _to_rgb
if how == "docclass":
    from docclass.pages import open_document
else:
    from pdf2image import convert_from_bytes
def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
import resource
started = 0.0
if how == "docclass":
    # PDFium's process starts on a function instance's first PDF and serves the next ones: start
    # it first (timed apart), as a warm Lambda container has it, and measure the pages alone.
    from docclass.pdf_sandbox import SANDBOX
    t = time.perf_counter()
    SANDBOX.call({"op": "close", "id": 0}, timeout=30)
    started = time.perf_counter() - t
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
start = status("VmRSS")
t = time.perf_counter()
sizes = []
if how == "docclass":
    with open_document(data) as document:
        for page in document.pages():
            sizes.append(page.image.size)
            del page
    SANDBOX.stop()  # PDFium's process, waited for: its peak is in RUSAGE_CHILDREN
else:
    for image in convert_from_bytes(data, dpi=200):
        sizes.append(_to_rgb(image, MAX_SIDE).size)
seconds = time.perf_counter() - t
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak": status("VmHWM") - start, "children": children, "sizes": sizes, "started": started}))
"""


def inputs(quick: bool) -> dict[str, bytes]:
    from pdfs import text_page_pdf

    from docclass_local.samples.packets import packet

    lines = [f"Line {n}: invoice 2026-{n:04d}, amount {n * 17.5:,.2f} EUR, due in 30 days" for n in range(40)]
    return {
        "scanned (4 pages, JPEG at 150 dpi)": packet(["invoice", "letter", "form", "memo"], seed=7),
        "born-digital (4 pages of text)": text_page_pdf([lines] * 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 9")
    args = parser.parse_args()
    rounds = 3 if args.quick else 9
    alternative = shutil.which("pdftoppm") is not None and importlib.util.find_spec("pdf2image") is not None
    ways = ["docclass", "pdf2image"] if alternative else ["docclass"]
    rows = []
    starts: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in inputs(args.quick).items():
            path = Path(tmp) / "in.pdf"
            path.write_bytes(data)
            measured: dict[str, list[dict]] = {way: [] for way in ways}
            for round_ in range(rounds):
                for way in ways if round_ % 2 == 0 else list(reversed(ways)):
                    measured[way].append(run_child(CHILD, way, str(path), env=child_env()))
            pages = len(measured["docclass"][0]["sizes"])
            starts += [r["started"] for r in measured["docclass"]]
            for way in ways:
                runs = measured[way]
                per_page = statistics.median(r["seconds"] for r in runs) / pages * 1000
                # pdf2image: the larger of the interpreter's peak and pdftoppm's, which ran one after
                # the other; docclass: both at once (the function's process and PDFium's), summed.
                combine = sum if way == "docclass" else max
                peak = statistics.median(combine((r["peak"], r["children"])) for r in runs) / 2**20
                size = "x".join(map(str, runs[0]["sizes"][0]))
                ratio = ""
                if way != "docclass":
                    ratio = "{:.1f}x".format(
                        statistics.median(
                            o["seconds"] / d["seconds"]
                            for o, d in zip(runs, measured["docclass"], strict=True)
                        )
                    )
                label = "docclass (PDFium)" if way == "docclass" else "pdf2image/poppler 200 dpi + shrink"
                rows.append([name, label, f"{per_page:.0f}", f"{peak:.0f}", size, ratio])
    text = "\n".join(
        [
            "# PDF rendering: docclass against pdf2image/poppler",
            "",
            f"`{command_line()}`, {rounds} rounds, renderers alternating; medians.",
            "",
            markdown_table(
                ["PDF", "renderer", "ms per page", "peak MB", "first page (px)", "time vs docclass"],
                rows,
                align="llrrrr",
            ),
            "",
            f"docclass draws pages in a process of its own (docclass/pdf_sandbox.py), started once per "
            f"function instance, on its first PDF: {statistics.median(starts) * 1000:.0f} ms (median), "
            "not counted above (pdf2image starts pdftoppm for every document, and that is counted). "
            "docclass's peak is its interpreter's plus that process's, both alive at once.",
            "",
            "" if alternative else "pdf2image or pdftoppm is not installed: only docclass was measured.",
        ]
    )
    write_results(RESULTS / "pdf_render.md", text)
    print(text)


if __name__ == "__main__":
    main()
