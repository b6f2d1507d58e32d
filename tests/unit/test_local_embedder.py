"""Unit tests of the offline stand-in embedder (docclass.local_embedder.LocalEmbedder)."""

from __future__ import annotations

import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from docclass.embeddings import Embedder
from docclass.errors import ConfigError
from docclass.local_embedder import LocalEmbedder

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DOCS = REPO_ROOT.parent / "shared" / "data" / "docs"
BENCH_SCRIPT = REPO_ROOT / "bench" / "embedder_quality.py"

PAGE = (612, 792)  # letter at 72 dpi, scaled up below where a bigger page matters


def _bench():
    """Import bench/embedder_quality.py by path (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("embedder_quality", BENCH_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def two_column_page(dx: int = 0, dy: int = 0, seed: int = 0, size: tuple[int, int] = PAGE) -> Image.Image:
    """A dense two-column article: a title bar and many short grey 'text lines' drawn as rectangles."""
    rng = np.random.default_rng(seed)
    w = size[0]
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    s = w / 612
    draw.rectangle([int(60 * s) + dx, int(50 * s) + dy, int(550 * s) + dx, int(80 * s) + dy], fill="black")
    for col in range(2):
        x0 = int((60 + col * 250) * s) + dx
        y = int(110 * s) + dy
        while y < int(730 * s):
            length = int((200 + rng.integers(-15, 15)) * s)
            draw.rectangle([x0, y, x0 + length, y + max(2, int(6 * s))], fill=(40, 40, 40))
            y += max(4, int(11 * s))
    return page


def letter_page(dx: int = 0, dy: int = 0, seed: int = 0, size: tuple[int, int] = PAGE) -> Image.Image:
    """A sparse business letter: centred letterhead, address block, three paragraphs, signature."""
    rng = np.random.default_rng(seed)
    w = size[0]
    s = w / 612
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)

    def line(x: float, y: float, length: float, thick: float = 5) -> None:
        draw.rectangle(
            [int(x * s) + dx, int(y * s) + dy, int((x + length) * s) + dx, int((y + thick) * s) + dy],
            fill="black",
        )

    line(230, 40, 150, 14)
    line(260, 62, 90, 4)
    for i in range(4):
        line(70, 140 + 14 * i, 120 + rng.integers(-10, 10))
    y = 250.0
    for _ in range(3):
        for i in range(5):
            line(70, y, 460 if i < 4 else 200 + rng.integers(-20, 20))
            y += 14
        y += 22
    line(70, y + 40, 110)
    return page


def table_page(dx: int = 0, dy: int = 0, seed: int = 0, size: tuple[int, int] = PAGE) -> Image.Image:
    """A ruled table: a grid of thin lines with a short number in each cell."""
    rng = np.random.default_rng(seed)
    w = size[0]
    s = w / 612
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    xs = [int((50 + 85 * i) * s) + dx for i in range(7)]
    ys = [int((80 + 28 * j) * s) + dy for j in range(23)]
    for x in xs:
        draw.line([x, ys[0], x, ys[-1]], fill="black", width=max(1, int(2 * s)))
    for y in ys:
        draw.line([xs[0], y, xs[-1], y], fill="black", width=max(1, int(2 * s)))
    for x1 in xs[1:]:
        for y0, y1 in itertools.pairwise(ys):
            length = int((20 + rng.integers(0, 30)) * s)
            cy = (y0 + y1) // 2
            draw.rectangle(
                [x1 - int(8 * s) - length, cy - int(3 * s), x1 - int(8 * s), cy + int(3 * s)], fill="black"
            )
    return page


def _noisy(image: Image.Image, seed: int, amount: float = 12.0) -> Image.Image:
    """Add mild Gaussian noise, as a second scan of the same sheet would."""
    rng = np.random.default_rng(seed)
    a = np.asarray(image, dtype=np.float32) + rng.normal(0.0, amount, size=(image.height, image.width, 1))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def _assert_unit(v: np.ndarray, dim: int) -> None:
    """Shape, dtype, finiteness and unit norm of one embedding."""
    assert v.shape == (dim,)
    assert v.dtype == np.float32
    assert np.all(np.isfinite(v))
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5


def test_is_an_embedder_and_not_titan() -> None:
    emb = LocalEmbedder()
    assert isinstance(emb, Embedder)
    assert emb.model_id == "docclass-local-v1"
    assert "titan" not in emb.model_id.lower()
    assert emb.dimension == 1024


@pytest.mark.parametrize("dim", [256, 384, 1024])
def test_dimension_dtype_and_unit_norm(dim: int) -> None:
    emb = LocalEmbedder(dim)
    assert emb.dimension == dim
    for page in (two_column_page(), letter_page(), table_page()):
        _assert_unit(emb.embed(page), dim)


def test_rejects_unsupported_dimension() -> None:
    with pytest.raises(ConfigError):
        LocalEmbedder(100)


def test_deterministic_across_instances() -> None:
    page = letter_page()
    a = LocalEmbedder(384).embed(page)
    b = LocalEmbedder(384).embed(page.copy())
    assert np.array_equal(a, b)


def test_deterministic_across_processes() -> None:
    code = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "from test_local_embedder import table_page\n"
        "from docclass.local_embedder import LocalEmbedder\n"
        "sys.stdout.write(LocalEmbedder(256).embed(table_page()).tobytes().hex())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=None, timeout=120
    ).stdout
    here = LocalEmbedder(256).embed(table_page())
    assert bytes.fromhex(out) == here.tobytes()


@pytest.mark.parametrize(
    "page",
    [
        Image.new("RGB", (1584, 2048), "white"),
        Image.new("RGB", (1584, 2048), "black"),
        Image.new("RGB", (700, 900), (128, 128, 128)),
        Image.new("RGB", (1, 1), "white"),
        Image.new("RGB", (1, 1), "black"),
        Image.new("RGB", (1, 2048), "black"),
        Image.new("RGB", (2048, 1), "white"),
        Image.new("RGB", (3, 2048), (10, 200, 30)),
        Image.new("RGB", (2048, 2048), "white"),
    ],
    ids=["blank", "black", "grey", "1x1-white", "1x1-black", "1x2048", "2048x1", "3x2048", "2048-square"],
)
def test_degenerate_pages_give_finite_unit_vectors(page: Image.Image) -> None:
    for dim in (256, 1024):
        _assert_unit(LocalEmbedder(dim).embed(page), dim)


def test_accepts_other_modes() -> None:
    page = letter_page()
    emb = LocalEmbedder(256)
    rgb = emb.embed(page)
    grey = emb.embed(page.convert("L"))
    _assert_unit(grey, 256)
    assert float(np.linalg.norm(rgb - grey)) < 0.05


def test_random_noise_page_is_finite() -> None:
    rng = np.random.default_rng(7)
    page = Image.fromarray(rng.integers(0, 256, size=(1000, 780, 3), dtype=np.uint8), "RGB")
    _assert_unit(LocalEmbedder(1024).embed(page), 1024)


@pytest.mark.parametrize("dim", [256, 1024])
def test_same_layout_is_closer_than_different_layouts(dim: int) -> None:
    emb = LocalEmbedder(dim)
    makers = {"columns": two_column_page, "letter": letter_page, "table": table_page}
    first = {name: emb.embed(make()) for name, make in makers.items()}
    second = {name: emb.embed(_noisy(make(dx=6, dy=9, seed=1), seed=3)) for name, make in makers.items()}
    for name in makers:
        same = float(np.linalg.norm(first[name] - second[name]))
        for other in makers:
            if other == name:
                continue
            assert same < float(np.linalg.norm(first[name] - first[other])), (name, other)
            assert same < float(np.linalg.norm(second[name] - first[other])), (name, other)


def test_nearest_neighbour_recovers_layout_at_production_size() -> None:
    emb = LocalEmbedder(1024)
    big = (1584, 2048)
    makers = [two_column_page, letter_page, table_page]
    gallery = np.vstack([emb.embed(make(size=big)) for make in makers])
    for i, make in enumerate(makers):
        query = emb.embed(_noisy(make(dx=-15, dy=20, seed=5, size=big), seed=9))
        assert int(np.argmin(np.linalg.norm(gallery - query, axis=1))) == i


def test_bench_loo_helpers() -> None:
    bench = _bench()
    vectors = np.array([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0], [0.14, 0.99], [0.6, 0.8]])
    labels = ["a", "a", "b", "b", "a"]
    assert bench.loo_predictions(vectors, labels, 1)[:4] == ["a", "a", "b", "b"]
    assert bench.loo_accuracy(vectors, labels, 1) == pytest.approx(4 / 5)
    assert bench.loo_predictions(vectors, labels, 3)[4] == "b"
    assert bench.per_class_recall(["a", "b", "b"], ["a", "a", "b"]) == {"a": 0.5, "b": 1.0}


def test_bench_exits_2_without_data(tmp_path: Path) -> None:
    assert _bench().main(["--data", str(tmp_path / "missing")]) == 2


@pytest.mark.shared_data
def test_beats_thumbnail_baseline_on_shared_scans() -> None:
    docs = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "docs"
    if not docs.is_dir():
        pytest.skip(f"shared data not found at {docs}")
    bench = _bench()
    images, labels, _ = bench.load_dataset(docs)
    if len(set(labels)) < 2:
        pytest.skip("shared data has fewer than two classes")
    baseline, _ = bench.embed_all(bench.ThumbnailEmbedder(), images)
    local, _ = bench.embed_all(LocalEmbedder(1024), images)
    base_acc = bench.loo_accuracy(baseline, labels, 1)
    local_acc = bench.loo_accuracy(local, labels, 1)
    assert local_acc >= base_acc + 0.10, (local_acc, base_acc)
