"""What each Bedrock model is sent for a page: pixels and request bytes, drawn at the model's own size.

Usage (from the repo root):

    .venv/bin/python bench/model_requests.py [--docs ../shared/data/docs] [--quick]

Every first page of the documents under --docs (the shared real scans by default; generated pages
if the folder is absent) goes through docclass's own preprocessing for each model family
(docclass.models: the longest side or the area each one looks at), then through BedrockEmbedder's
encoding (JPEG, quality 90 unless the model's byte limit needs less), and is measured as the model's
limit counts it: Titan the JPEG, Nova its base64 text, Cohere the data URI. A last column shows what
a page drawn for Titan (2048 px) would have cost in Cohere's request: the bytes Cohere would throw
away by shrinking it to 2,458,624 px itself. No model is called: these are request sizes, not
embeddings. Writes bench/results/model_requests.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, command_line, markdown_table, write_results

DEFAULT_DOCS = Path(__file__).resolve().parents[2] / "shared" / "data" / "docs"


def sources(docs: Path, quick: bool) -> list[tuple[str, list[bytes]]]:
    """(what, documents' bytes): the real scans if present, and generated pages at 300 dpi, the
    resolution office scanners default to, where the models' limits start to differ."""
    from docclass_local.samples import documents

    out = []
    files = sorted(p for p in docs.glob("*/*") if p.is_file()) if docs.is_dir() else []
    if files:
        files = files[:: 5 if quick else 1]
        out.append((f"{len(files)} real scans ({docs.name}/)", [p.read_bytes() for p in files]))
    generated = [data for _, _, data in documents(1 if quick else 3, dpi=300)]
    out.append((f"{len(generated)} generated 300-dpi pages", generated))
    return out


def measure(documents: list[bytes]) -> tuple[list[list[object]], float]:
    """A row per model, and the median ratio of a Titan-sized page's bytes in Cohere's request."""
    from docclass.bedrock import BedrockEmbedder
    from docclass.embeddings import page_limits
    from docclass.errors import InvalidDocument
    from docclass.images import encode_jpeg
    from docclass.models import COHERE, FAMILIES, TITAN
    from docclass.pages import open_document

    sizes: dict[str, list[tuple[int, int]]] = {f.name: [] for f in FAMILIES}
    titan_page_in_cohere: list[int] = []
    for data in documents:
        for family in FAMILIES:
            embedder = BedrockEmbedder(family.model_id, family.dimensions[0], bedrock_client=object())
            limits = page_limits(embedder)
            try:
                with open_document(data, max_side=limits.max_side, max_pixels=limits.max_pixels) as document:
                    page = document.page(1)
            except InvalidDocument:
                continue
            jpeg = embedder._encode(page)
            sizes[family.name].append((page.size[0] * page.size[1], family.request_size(len(jpeg))))
            if family is TITAN:
                titan_page_in_cohere.append(COHERE.request_size(len(encode_jpeg(page))))
    rows: list[list[object]] = []
    for family in FAMILIES:
        pixels = [p for p, _ in sizes[family.name]]
        request = [b for _, b in sizes[family.name]]
        rows.append(
            [
                family.name,
                len(pixels),
                f"{statistics.median(pixels) / 1e6:.2f}",
                f"{max(pixels) / 1e6:.2f}",
                f"{statistics.median(request) / 1e3:.0f}",
                f"{max(request) / 1e3:.0f}",
            ]
        )
    cohere = [b for _, b in sizes[COHERE.name]]
    return rows, statistics.median(t / c for t, c in zip(titan_page_in_cohere, cohere, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    header = ["model", "pages", "median Mpx sent", "max Mpx", "median request KB", "max request KB"]
    parts = [
        "# Request size per model\n",
        f"`{command_line()}`\n",
        "The first page of each document, drawn at the size the model looks at (docclass.models) and "
        "encoded as BedrockEmbedder sends it; bytes counted as each model's limit counts them (Titan: "
        "JPEG; Nova: base64; Cohere: data URI). No model was called: request sizes, not embeddings.\n",
    ]
    for what, documents in sources(args.docs, args.quick):
        rows, ratio = measure(documents)
        parts.append(f"## {what}\n")
        parts.append(markdown_table(header, rows, "lrrrrr") + "\n")
        parts.append(
            f"A page drawn for Titan (2048 px) would put {ratio:.2f}x the bytes into Cohere's request "
            "(median), bytes Cohere would throw away by shrinking the page to 2,458,624 px itself.\n"
        )
    text = "\n".join(parts)
    write_results(RESULTS / "model_requests.md", text)
    print(text)


if __name__ == "__main__":
    main()
