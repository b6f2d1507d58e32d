"""Leave-one-out nearest-neighbour quality of the offline LocalEmbedder against a 32x32 thumbnail.

Usage (from the repo root):

    .venv/bin/python bench/embedder_quality.py [--data ../shared/data/docs] [--dimension 1024]

Loads every image under <data>/<class>/*, embeds it with (a) a 32x32 grey thumbnail baseline and
(b) docclass.local_embedder.LocalEmbedder, and prints a Markdown report: leave-one-out 1-NN top-1
accuracy, 3-NN distance-weighted vote accuracy, per-class recall and the median embed time per page
on one core. Exits 2 when the data folder is missing. The data stay where they are; nothing is copied.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # One core, as in a Lambda with 1 vCPU; must be set before numpy loads its BLAS.
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import io
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "docs"
MAX_SIDE = 2048

sys.path.insert(0, str(REPO_ROOT / "layers" / "docclass"))

from docclass.local_embedder import LocalEmbedder  # noqa: E402  (needs the sys.path line above)


def _fallback_load(data: bytes) -> Image.Image:
    """Decode bytes like the production normaliser: first frame, EXIF upright, RGB, long side <= 2048."""
    with Image.open(io.BytesIO(data)) as im:
        im.seek(0)
        page = ImageOps.exif_transpose(im)
        page = page.convert("RGB")
    if max(page.size) > MAX_SIDE:
        scale = MAX_SIDE / max(page.size)
        size = (max(1, round(page.width * scale)), max(1, round(page.height * scale)))
        page = page.resize(size, Image.Resampling.LANCZOS)
    return page


def page_loader() -> tuple[Callable[[bytes], Image.Image], str]:
    """Return docclass.images.load_image when it exists, else the local fallback, with its name."""
    try:
        from docclass.images import load_image
    except ImportError:
        return _fallback_load, "bench fallback (PIL, first frame, exif_transpose, RGB, <=2048)"
    return load_image, "docclass.images.load_image"


def load_dataset(data_dir: Path) -> tuple[list[Image.Image], list[str], list[Path]]:
    """Load every <data_dir>/<class>/<file> page; returns images, labels and paths in sorted order."""
    load, _ = page_loader()
    images: list[Image.Image] = []
    labels: list[str] = []
    paths: list[Path] = []
    for class_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        for path in sorted(p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
            images.append(load(path.read_bytes()))
            labels.append(class_dir.name)
            paths.append(path)
    return images, labels, paths


class ThumbnailEmbedder:
    """Baseline: 32x32 grey thumbnail, flattened, mean-centred and L2-normalised."""

    model_id = "baseline-thumbnail-32"
    dimension = 32 * 32

    def embed(self, image: Image.Image) -> np.ndarray:
        """Return the thumbnail vector (a constant unit vector for a flat image)."""
        thumb = image.convert("L").resize((32, 32), Image.Resampling.BOX)
        v = np.asarray(thumb, dtype=np.float32).ravel()
        v = v - v.mean()
        n = float(np.linalg.norm(v))
        if n == 0.0:
            v = np.ones_like(v)
            n = float(np.linalg.norm(v))
        return v / n


def embed_all(embedder: object, images: Sequence[Image.Image]) -> tuple[np.ndarray, list[float]]:
    """Embed every image; returns the (n, d) matrix and the per-image wall time in seconds."""
    vectors = []
    times = []
    for image in images:
        start = time.perf_counter()
        vectors.append(embedder.embed(image))  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
    return np.vstack(vectors).astype(np.float64), times


def distance_matrix(vectors: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances between rows, with +inf on the diagonal (leave-one-out)."""
    v = np.asarray(vectors, dtype=np.float64)
    sq = np.sum(v * v, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (v @ v.T), 0.0)
    d = np.sqrt(d2)
    np.fill_diagonal(d, np.inf)
    return d


def loo_predictions(vectors: np.ndarray, labels: Sequence[str], k: int = 1) -> list[str]:
    """Leave-one-out k-NN labels; k > 1 votes with weights 1/distance, ties going to the nearest."""
    d = distance_matrix(vectors)
    labels = list(labels)
    preds = []
    for i in range(len(labels)):
        order = np.argsort(d[i], kind="stable")[:k]
        if k == 1:
            preds.append(labels[order[0]])
            continue
        votes: dict[str, float] = {}
        for j in order:
            votes[labels[j]] = votes.get(labels[j], 0.0) + 1.0 / (float(d[i, j]) + 1e-9)
        best = max(votes.values())
        winners = {c for c, s in votes.items() if s == best}
        preds.append(next(labels[j] for j in order if labels[j] in winners))
    return preds


def accuracy(preds: Sequence[str], labels: Sequence[str]) -> float:
    """Fraction of predictions equal to the true label."""
    return sum(p == t for p, t in zip(preds, labels, strict=True)) / max(len(labels), 1)


def per_class_recall(preds: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Recall of each class (correct / documents of that class)."""
    out = {}
    for c in sorted(set(labels)):
        idx = [i for i, t in enumerate(labels) if t == c]
        out[c] = sum(preds[i] == c for i in idx) / len(idx)
    return out


def loo_accuracy(vectors: np.ndarray, labels: Sequence[str], k: int = 1) -> float:
    """Leave-one-out k-NN top-1 accuracy."""
    return accuracy(loo_predictions(vectors, labels, k), labels)


def _upscaled(image: Image.Image) -> Image.Image:
    """The page enlarged to a 2048-px long side: the size of a 300-dpi letter scan after normalising."""
    scale = MAX_SIDE / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)


def median_ms(embedder: object, images: Sequence[Image.Image], repeats: int = 3) -> float:
    """Median wall time in ms of one embed call over the given images (best of `repeats` per image)."""
    per_image = []
    for image in images:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            embedder.embed(image)  # type: ignore[attr-defined]
            best = min(best, time.perf_counter() - start)
        per_image.append(best * 1000.0)
    return statistics.median(per_image)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the Markdown report; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of <class>/<image> files")
    parser.add_argument("--dimension", type=int, default=1024, help="LocalEmbedder output dimension")
    parser.add_argument("--timing-pages", type=int, default=20, help="pages to time at 2048 px (0: skip)")
    args = parser.parse_args(argv)

    data_dir: Path = args.data if args.data.is_absolute() else (REPO_ROOT / args.data)
    if not data_dir.is_dir():
        print(f"error: data folder {data_dir} not found (expected <data>/<class>/<image>)", file=sys.stderr)
        return 2
    images, labels, _ = load_dataset(data_dir)
    if len(images) < 2:
        print(f"error: fewer than two images under {data_dir}", file=sys.stderr)
        return 2

    embedders = [ThumbnailEmbedder(), LocalEmbedder(args.dimension)]
    rows = []
    recalls = {}
    big = [_upscaled(im) for im in images[:: max(1, len(images) // max(args.timing_pages, 1))]][
        : args.timing_pages
    ]
    for emb in embedders:
        vectors, times = embed_all(emb, images)
        p1 = loo_predictions(vectors, labels, 1)
        p3 = loo_predictions(vectors, labels, 3)
        recalls[emb.model_id] = (per_class_recall(p1, labels), per_class_recall(p3, labels))
        ms_data = statistics.median(times) * 1000.0
        ms_big = median_ms(emb, big) if big else float("nan")
        rows.append(
            (emb.model_id, emb.dimension, accuracy(p1, labels), accuracy(p3, labels), ms_data, ms_big)
        )

    _, loader_name = page_loader()
    classes = sorted(set(labels))
    print(
        f"Data: {data_dir} — {len(images)} pages, {len(classes)} classes; loader: {loader_name}; "
        f"threads: OMP={os.environ.get('OMP_NUM_THREADS', '?')}"
    )
    print()
    print(
        "| Embedder | Dim | LOO 1-NN top-1 | LOO 3-NN weighted | ms/page (data, median) "
        "| ms/page (2048 px, median) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, dim, a1, a3, ms_data, ms_big in rows:
        print(f"| `{name}` | {dim} | {a1:.1%} | {a3:.1%} | {ms_data:.1f} | {ms_big:.1f} |")
    print()
    names = [r[0] for r in rows]
    header = " | ".join(f"`{n}` 1-NN | `{n}` 3-NN" for n in names)
    print(f"| Class | n | {header} |")
    print("|---|---:|" + "---:|" * (2 * len(names)))
    for c in classes:
        cells = " | ".join(f"{recalls[n][0][c]:.0%} | {recalls[n][1][c]:.0%}" for n in names)
        print(f"| {c} | {labels.count(c)} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
