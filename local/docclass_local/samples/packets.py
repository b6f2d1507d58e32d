"""Multi-page PDFs and packets drawn from the sample pages, with the label of every page known.

A packet is what a mail room scans in one go: several documents, each of one or more pages, some
sheets scanned on both sides with an empty back. Pages are stored as a scanner stores them in a
PDF: one JPEG image per page, at the scan's resolution.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

BLANK = None  # a page label: the empty back side of a sheet


def blank_page(seed: int, dpi: int = 150) -> Image.Image:
    """The empty back side of a letter sheet: paper tone, sensor noise, a dark scanner edge."""
    width, height = int(8.5 * dpi), int(11 * dpi)
    noise = np.random.default_rng(seed).normal(0, 5, (height, width))
    grey = Image.fromarray(np.clip(240 + noise, 0, 255).astype("uint8"))
    grey.paste(30, (0, 0, max(2, dpi // 12), height))
    return grey.convert("RGB")


def pdf_bytes(pages: Sequence[Image.Image], dpi: int = 150) -> bytes:
    """The pages as one PDF, each a JPEG image at dpi (what a scanner writes)."""
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=list(pages[1:]), resolution=float(dpi), quality=85)
    return out.getvalue()


def packet_plan(documents: int, seed: int, classes: Sequence[str]) -> list[str | None]:
    """Page labels of a packet of `documents` documents of different classes, 1-3 pages each,
    some followed by an empty back side."""
    rng = random.Random(f"packet:{seed}")  # noqa: S311 - reproducible, not a secret
    labels: list[str | None] = []
    for label in rng.sample(list(classes), documents):
        labels += [label] * rng.randint(1, 3)
        if rng.random() < 0.4:
            labels.append(BLANK)
    return labels


def packet(labels: Sequence[str | None], seed: int, dpi: int = 150) -> bytes:
    """A PDF of sample pages with these labels (BLANK: an empty page), in order."""
    from docclass_local.samples import render

    pages = [
        blank_page(seed * 100 + n, dpi) if label is BLANK else render(label, seed * 100 + n, dpi=dpi)
        for n, label in enumerate(labels)
    ]
    return pdf_bytes(pages, dpi)


def generate_packets(
    out_dir: Path, count: int, *, seed: int = 0, dpi: int = 150, classes: Sequence[str], documents: int = 3
) -> list[tuple[Path, list[str | None]]]:
    """Write out_dir/packets/packet-NNN.pdf and labels.json (every packet's page labels, null: blank)."""
    folder = Path(out_dir) / "packets"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(count):
        labels = packet_plan(min(documents, len(classes)), seed * 1000 + i, classes)
        path = folder / f"packet-{i:03d}.pdf"
        path.write_bytes(packet(labels, seed * 1000 + i, dpi))
        written.append((path, labels))
    (folder / "labels.json").write_text(
        json.dumps({p.name: labels for p, labels in written}, indent=2) + "\n", encoding="utf-8"
    )
    return written
