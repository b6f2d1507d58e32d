"""Cold start of ClassifyFunction: fresh process to first classification, stored formats, layer .pyc.

Usage (from the repo root):

    .venv/bin/python bench/cold_start.py [--quick] [--repeats 5] [--baseline-ref HEAD] [--skip-layer]

Three measurements, each in fresh child processes (sys.executable), written as Markdown to
bench/results/cold_start.md (and printed):

1. Stored formats side by side: the same gallery (N x D unit vectors, 20 labels, keys like
   `gallery/<label>/scan 012/document-01234.png`) encoded by each candidate codec into a file; a
   child reads the file's bytes (as S3 would hand them over) and times decode ("parse") and the
   first k=1 search (which includes building whatever the format needs), then reports its peak RSS.
2. End to end through the docclass package: a child imports docclass, builds a Classifier against a
   moto S3 server (a separate thread of this process, reached over HTTP like real S3, so the
   child's imports and memory are its own) holding a pre-written snapshot, and classifies one inbox
   document with a stub embedder (a fixed vector: model time excluded). Phases: interpreter start,
   imports, snapshot GET, parse (GalleryIndex.from_bytes), first search, the rest (S3 client, the
   inbox GET, copy + delete), total. With --baseline-ref, the same runs use index.py from that git
   revision (read with `git show`, copied to a temporary layer) side by side with the working tree.
3. The layer's import time with and without compiled .pyc: an x86_64 equivalent of the layer
   (pip install --target of layers/docclass/requirements.txt + the docclass package), one copy
   compiled with `compileall --invalidation-mode unchecked-hash`, one with no __pycache__ and made
   read-only (as /opt is on Lambda); `python -I -B -c "import ..."` interleaved.

Times are wall-clock medians and p95 over the repeats; the machines are shared and noisy, so
compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    LAYER_SRC,
    PEAK_RSS_SNIPPET,
    REPO_ROOT,
    RESULTS,
    WRITER_CHILD,
    child_env,
    command_line,
    gallery_keys,
    markdown_table,
    mb,
    moto_s3,
    peak_rss,
    random_vectors,
    run_child,
    stats_ms,
    write_results,
)

Rows = list[tuple[str, str, str, str]]

# ---------------------------------------------------------------------------------------------
# Candidate stored formats. Each encodes (rows, tombstones, matrix) and decodes into what the index
# needs at run time: the strings of every row, a key -> row dict, the matrix, the tombstones, and a
# search function (k nearest rows of one query).
# ---------------------------------------------------------------------------------------------


class _Decoded:
    def __init__(self, columns: Any, rows: dict[str, int], matrix: Any, tombstones: dict[str, str]) -> None:
        self.columns, self.rows, self.matrix, self.tombstones = columns, rows, matrix, tombstones
        self.search: Callable[[np.ndarray, int], Any] = lambda q, k: None


def _knn(matrix: np.ndarray) -> Callable[[np.ndarray, int], Any]:
    import faiss

    return lambda q, k: faiss.knn(q.reshape(1, -1), matrix, k)


def _flat_built_lazily(matrix: np.ndarray) -> Callable[[np.ndarray, int], Any]:
    import faiss

    built: list[Any] = []

    def search(q: np.ndarray, k: int) -> Any:
        if not built:
            flat = faiss.IndexFlatL2(matrix.shape[1])
            flat.add(np.ascontiguousarray(matrix))
            built.append(flat)
        return built[0].search(q.reshape(1, -1), k)

    return search


def _pad(n: int, to: int = 64) -> bytes:
    return b"\x00" * (-n % to)


def enc_json_rows(rows: Rows, tomb: dict[str, str], x: np.ndarray) -> bytes:
    """Format 1 as shipped before this bench: JSON header with one [key, label, hash, seq] per row."""
    header = json.dumps(
        {"format": 1, "dimension": x.shape[1], "count": len(rows), "entries": rows, "tombstones": tomb},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return b"".join([b"J1", struct.pack("<Q", len(header)), header, x.astype("<f4").tobytes()])


def dec_json_rows(data: bytes) -> _Decoded:
    """...decoded as index.py format 1 did: Entry objects, a copied matrix, IndexFlatL2 at first search."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Entry:
        key: str
        label: str
        content_hash: str
        sequencer: str

    (n,) = struct.unpack_from("<Q", data, 2)
    header = json.loads(data[10 : 10 + n].decode())
    count, dim = header["count"], header["dimension"]
    matrix = np.frombuffer(data[10 + n :], dtype="<f4").astype(np.float32).reshape(count, dim)
    entries = [Entry(*r) for r in header["entries"]]
    out = _Decoded(entries, {e.key: i for i, e in enumerate(entries)}, matrix, header["tombstones"])
    out.search = _flat_built_lazily(matrix)
    return out


def _label_table(rows: Rows) -> tuple[list[str], list[int]]:
    table: dict[str, int] = {}
    ids = [table.setdefault(r[1], len(table)) for r in rows]
    return list(table), ids


def enc_json_columns(rows: Rows, tomb: dict[str, str], x: np.ndarray) -> bytes:
    """JSON header with one list per column (labels as a table + ids); matrix 64-byte aligned."""
    table, ids = _label_table(rows)
    header = json.dumps(
        {
            "format": 2,
            "dimension": x.shape[1],
            "count": len(rows),
            "keys": [r[0] for r in rows],
            "label_table": table,
            "labels": ids,
            "hashes": [r[2] for r in rows],
            "sequencers": [r[3] for r in rows],
            "tombstones": tomb,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    head = b"J2" + struct.pack("<Q", len(header)) + header
    return b"".join([head, _pad(len(head)), np.ascontiguousarray(x, dtype="<f4").reshape(-1).view(np.uint8)])


def dec_json_columns(data: bytes) -> _Decoded:
    """...into plain lists (no per-row objects) and a zero-copy read-only view of the matrix."""
    (n,) = struct.unpack_from("<Q", data, 2)
    header = json.loads(data[10 : 10 + n].decode())
    count, dim = header["count"], header["dimension"]
    start = 10 + n + (-(10 + n) % 64)
    matrix = np.frombuffer(data, dtype="<f4", offset=start).reshape(count, dim)
    table = header["label_table"]
    labels = [table[i] for i in header["labels"]]
    keys = header["keys"]
    cols = (keys, labels, header["hashes"], header["sequencers"])
    out = _Decoded(cols, {k: i for i, k in enumerate(keys)}, matrix, header["tombstones"])
    out.search = _knn(matrix)
    return out


def _strings_out(values: list[str]) -> bytes:
    blobs = [v.encode() for v in values]
    lengths = np.array([len(b) for b in blobs], dtype="<u4")
    return struct.pack("<I", len(blobs)) + lengths.tobytes() + b"".join(blobs)


def _strings_in(data: bytes | memoryview, offset: int) -> tuple[list[str], int]:
    (count,) = struct.unpack_from("<I", data, offset)
    offset += 4
    lengths = np.frombuffer(data, dtype="<u4", count=count, offset=offset)
    offset += 4 * count
    ends = np.cumsum(lengths, dtype=np.int64)
    size = int(ends[-1]) if count else 0
    blob = bytes(data[offset : offset + size])
    bounds = [0, *ends.tolist()]
    if blob.isascii():
        text = blob.decode("ascii")
        values = [text[a:b] for a, b in itertools.pairwise(bounds)]
    else:
        values = [blob[a:b].decode() for a, b in itertools.pairwise(bounds)]
    return values, offset + size


def enc_binary_columns(rows: Rows, tomb: dict[str, str], x: np.ndarray) -> bytes:
    """Length-prefixed UTF-8 columns (uint32 lengths + one blob each), labels as table + uint16 ids."""
    table, ids = _label_table(rows)
    parts = [
        b"B2",
        struct.pack("<II", x.shape[1], len(rows)),
        _strings_out([r[0] for r in rows]),
        _strings_out(table),
        np.array(ids, dtype="<u2").tobytes(),
        _strings_out([r[2] for r in rows]),
        _strings_out([r[3] for r in rows]),
        _strings_out(list(tomb)),
        _strings_out(list(tomb.values())),
    ]
    head = b"".join(parts)
    return b"".join([head, _pad(len(head)), np.ascontiguousarray(x, dtype="<f4").reshape(-1).view(np.uint8)])


def dec_binary_columns(data: bytes) -> _Decoded:
    """...into plain lists and a zero-copy read-only view of the matrix."""
    dim, count = struct.unpack_from("<II", data, 2)
    keys, off = _strings_in(data, 10)
    table, off = _strings_in(data, off)
    ids = np.frombuffer(data, dtype="<u2", count=count, offset=off).tolist()
    off += 2 * count
    hashes, off = _strings_in(data, off)
    seqs, off = _strings_in(data, off)
    tkeys, off = _strings_in(data, off)
    tseqs, off = _strings_in(data, off)
    off += -off % 64
    matrix = np.frombuffer(data, dtype="<f4", offset=off).reshape(count, dim)
    labels = [table[i] for i in ids]
    out = _Decoded(
        (keys, labels, hashes, seqs),
        {k: i for i, k in enumerate(keys)},
        matrix,
        dict(zip(tkeys, tseqs, strict=True)),
    )
    out.search = _knn(matrix)
    return out


def enc_npz(rows: Rows, tomb: dict[str, str], x: np.ndarray) -> bytes:
    """numpy .npz (uncompressed), strings as fixed-width unicode arrays (allow_pickle=False)."""
    buf = io.BytesIO()
    np.savez(
        buf,
        matrix=x.astype("<f4"),
        keys=np.array([r[0] for r in rows]),
        labels=np.array([r[1] for r in rows]),
        hashes=np.array([r[2] for r in rows]),
        sequencers=np.array([r[3] for r in rows]),
        tomb_keys=np.array(list(tomb), dtype=str),
        tomb_seqs=np.array(list(tomb.values()), dtype=str),
    )
    return buf.getvalue()


def dec_npz(data: bytes) -> _Decoded:
    """...with np.load(allow_pickle=False); strings back to lists."""
    z = np.load(io.BytesIO(data), allow_pickle=False)
    keys = z["keys"].tolist()
    cols = (keys, z["labels"].tolist(), z["hashes"].tolist(), z["sequencers"].tolist())
    matrix = z["matrix"]
    tomb = dict(zip(z["tomb_keys"].tolist(), z["tomb_seqs"].tolist(), strict=True))
    out = _Decoded(cols, {k: i for i, k in enumerate(keys)}, matrix, tomb)
    out.search = _knn(matrix)
    return out


def enc_faiss(rows: Rows, tomb: dict[str, str], x: np.ndarray) -> bytes:
    """faiss.serialize_index(IndexIDMap2(IndexFlatL2)) + the JSON-columns table for the strings."""
    import faiss

    index = faiss.IndexIDMap2(faiss.IndexFlatL2(x.shape[1]))
    index.add_with_ids(np.ascontiguousarray(x, dtype=np.float32), np.arange(len(rows), dtype=np.int64))
    blob = faiss.serialize_index(index).tobytes()
    table = enc_json_columns(rows, tomb, x[:0].reshape(0, x.shape[1]))
    return b"".join([b"F2", struct.pack("<Q", len(table)), table, blob])


def dec_faiss(data: bytes) -> _Decoded:
    """...with faiss.deserialize_index (copies the vectors into the faiss index)."""
    import faiss

    (n,) = struct.unpack_from("<Q", data, 2)
    (hn,) = struct.unpack_from("<Q", data, 12)
    header = json.loads(data[20 : 20 + hn].decode())
    table = header["label_table"]
    keys = header["keys"]
    cols = (keys, [table[i] for i in header["labels"]], header["hashes"], header["sequencers"])
    index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8, offset=10 + n))
    out = _Decoded(cols, {k: i for i, k in enumerate(keys)}, index, header["tombstones"])
    out.search = lambda q, k: index.search(q.reshape(1, -1), k)
    return out


CODECS: dict[str, tuple[Callable[..., bytes], Callable[[bytes], _Decoded]]] = {
    "v1 JSON rows (before)": (enc_json_rows, dec_json_rows),
    "JSON columns, zero-copy": (enc_json_columns, dec_json_columns),
    "binary columns, zero-copy": (enc_binary_columns, dec_binary_columns),
    "npz, no pickle": (enc_npz, dec_npz),
    "faiss IndexIDMap2 + JSON columns": (enc_faiss, dec_faiss),
}


def _current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def format_child(path: str, codec: str) -> None:
    """In a fresh process: read one encoded snapshot, decode, search twice; print a JSON line."""
    import faiss

    faiss.omp_set_num_threads(1)
    base = _current_rss()
    data = Path(path).read_bytes()
    query = np.frombuffer(Path(path + ".query").read_bytes(), dtype=np.float32)
    t0 = time.perf_counter()
    decoded = CODECS[codec][1](data)
    t1 = time.perf_counter()
    decoded.search(query, 1)
    t2 = time.perf_counter()
    decoded.search(query, 1)
    t3 = time.perf_counter()
    del data
    print(
        json.dumps({"parse": t1 - t0, "first": t2 - t1, "second": t3 - t2, "rss": peak_rss(), "base": base})
    )


_FORMAT_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); import cold_start; cold_start.format_child(*sys.argv[2:])"
)


def bench_formats(sizes: list[tuple[int, int]], repeats: int, tmp: Path) -> str:
    """Table 1: every codec on every (N, D), children interleaved codec by codec within a repeat."""
    lines = []
    for n, d in sizes:
        rows = gallery_keys(n)
        x = random_vectors(n, d, seed=1)
        tomb = {f"gallery/{rows[i][1]}/removed-{i}.png": rows[i][3] for i in range(0, n, 50)}
        files = {}
        for name, (encode, decode) in CODECS.items():
            data = encode(rows, tomb, x)
            check = decode(data)  # every codec must give the same strings and search result back
            assert check.rows[rows[-1][0]] == n - 1 and check.tombstones == tomb, name
            assert int(np.asarray(check.search(x[n // 2], 1)[1]).ravel()[0]) == n // 2, name
            path = tmp / f"{len(files)}.snap"
            path.write_bytes(data)
            (tmp / f"{len(files)}.snap.query").write_bytes(x[n // 2].tobytes())
            files[name] = (path, len(data))
            del data, check
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in CODECS}
        for _ in range(repeats):
            for name, (path, _size) in files.items():
                runs[name].append(run_child(_FORMAT_CHILD, str(Path(__file__).parent), str(path), name))
        for name, (path, size) in files.items():
            r = runs[name]
            parse = stats_ms([x["parse"] for x in r])
            first = stats_ms([x["first"] for x in r])
            both = stats_ms([x["parse"] + x["first"] for x in r])
            second = stats_ms([x["second"] for x in r])
            rss = sorted(x["rss"] - x["base"] for x in r)[len(r) // 2]
            lines.append(
                [
                    f"{n:,}",
                    d,
                    name,
                    mb(size),
                    f"{parse[0]:.0f} / {parse[1]:.0f}",
                    f"{first[0]:.0f} / {first[1]:.0f}",
                    f"**{both[0]:.0f}** / {both[1]:.0f}",
                    f"{second[0]:.1f}",
                    mb(rss - os.path.getsize(path)),
                ]
            )
            path.unlink()
    header = [
        "N",
        "D",
        "stored format",
        "snapshot MB",
        "parse ms (med / p95)",
        "1st search ms",
        "parse + 1st search ms",
        "2nd search ms",
        "peak RSS beyond the bytes, MB",
    ]
    return markdown_table(header, lines, "rrlrrrrrr")


# ---------------------------------------------------------------------------------------------
# End to end through docclass, against a moto S3 server.
# ---------------------------------------------------------------------------------------------

_E2E_CHILD = (
    r"""
import sys, time
T_UP = time.time()
"""
    + PEAK_RSS_SNIPPET
    + r"""
import json
import numpy as np
import docclass
from docclass.classify import Classifier
from docclass.index import GalleryIndex
from docclass.index_store import IndexRepository
from docclass.document_embedder import Embedded, EmbeddedDocument, EmbeddedPage
from docclass.store import ObjectStore
T_IMPORTED = time.time()

t_spawn, bucket, model, dim, inbox = float(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
phase = {"fetch": 0.0, "parse": 0.0, "search": 0.0}

def timed(name, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phase[name] += time.perf_counter() - t
    return wrapper

_get = ObjectStore.get
def get(self, key, **kw):
    if "/snapshots/" in key:
        return timed("fetch", _get)(self, key, **kw)
    return _get(self, key, **kw)
ObjectStore.get = get
_from_bytes = GalleryIndex.from_bytes.__func__
GalleryIndex.from_bytes = classmethod(timed("parse", _from_bytes))
GalleryIndex.search = timed("search", GalleryIndex.search)

class StubEmbedder:
    model_id = model
    def embed(self, data):
        v = np.zeros(dim, np.float32); v[0] = 1.0
        return Embedded(v, "stub", False)
    def embed_document(self, data, **kw):
        return EmbeddedDocument("image", 1, (EmbeddedPage(1, self.embed(data)),))

store = ObjectStore(bucket)
classifier = Classifier(store, StubEmbedder(), IndexRepository(store, model, dim))
outcome = classifier.classify(inbox)
T_DONE = time.time()
assert outcome.status in ("classified", "unclassified"), outcome
print(json.dumps({"interpreter": T_UP - t_spawn, "imports": T_IMPORTED - T_UP, "classify": T_DONE - T_IMPORTED,
                  "total": T_DONE - t_spawn, "rss": peak_rss(),
                  "vectors": len(classifier.current_index()), **phase}))
"""
)


def _baseline_layer(ref: str, tmp: Path) -> Path:
    """A copy of the docclass package with index.py and index_store.py as they were at `ref`."""
    root = tmp / "baseline-layer"
    shutil.copytree(LAYER_SRC / "docclass", root / "docclass", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("index.py", "index_store.py"):
        old = subprocess.run(
            ["git", "show", f"{ref}:layers/docclass/docclass/{name}"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
        (root / "docclass" / name).write_bytes(old)
    return root


def bench_end_to_end(sizes: list[tuple[int, int]], repeats: int, tmp: Path, baseline_ref: str | None) -> str:
    """Table 2: fresh process -> first classification, per gallery size (and per code version)."""
    bucket = "bench-cold-start"
    with moto_s3(bucket) as (aws, s3):
        versions = {"working tree": child_env(**aws)}
        if baseline_ref:
            env = child_env(**aws)
            env["PYTHONPATH"] = str(_baseline_layer(baseline_ref, tmp))
            commit = subprocess.run(
                ["git", "rev-parse", "--short", baseline_ref],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            versions[f"index.py at {baseline_ref} ({commit})"] = env
        return _end_to_end_runs(sizes, repeats, versions, bucket, s3)


def _end_to_end_runs(
    sizes: list[tuple[int, int]], repeats: int, versions: dict[str, dict[str, str]], bucket: str, s3: Any
) -> str:
    lines = []
    for n, d in sizes:
        snapshot_bytes = {}
        for version, env in versions.items():
            model = f"bench-{abs(hash(version)) % 10_000}"
            written = run_child(
                WRITER_CHILD, str(Path(__file__).parent), bucket, model, str(n), str(d), env=env
            )
            snapshot_bytes[version] = (model, written["bytes"])
        runs: dict[str, list[dict[str, float]]] = {v: [] for v in versions}
        for rep in range(repeats):
            for version, env in versions.items():
                model = snapshot_bytes[version][0]
                inbox = f"inbox/run-{n}-{d}-{rep}-{model}.png"
                s3.put_object(Bucket=bucket, Key=inbox, Body=b"not decoded: the stub embedder ignores it")
                t_spawn = time.time()
                runs[version].append(
                    run_child(_E2E_CHILD, str(t_spawn), bucket, model, str(d), inbox, env=env)
                )
        for version in versions:
            r = runs[version]
            assert all(x["vectors"] == n for x in r)

            def cell(name: str, r: list[dict[str, float]] = r) -> str:
                med, p95 = stats_ms([x[name] for x in r])
                return f"{med:.0f} / {p95:.0f}"

            for x in r:
                x["rest"] = x["classify"] - x["fetch"] - x["parse"] - x["search"]
            rss = sorted(x["rss"] for x in r)[len(r) // 2]
            lines.append(
                [
                    f"{n:,}",
                    d,
                    version,
                    mb(snapshot_bytes[version][1]),
                    cell("interpreter"),
                    cell("imports"),
                    cell("fetch"),
                    cell("parse"),
                    cell("search"),
                    cell("rest"),
                    f"**{cell('total')}**",
                    mb(rss),
                ]
            )
    header = [
        "N",
        "D",
        "code",
        "snapshot MB",
        "interpreter",
        "imports",
        "snapshot GET",
        "parse",
        "1st search",
        "rest",
        "total",
        "peak RSS MB",
    ]
    return "Times in ms, median / p95.\n\n" + markdown_table(header, lines, "rrlrrrrrrrrr")


# ---------------------------------------------------------------------------------------------
# The layer's import time with and without .pyc.
# ---------------------------------------------------------------------------------------------

IMPORTS = "import docclass, docclass.classify, numpy, faiss, PIL.Image, boto3"


def bench_layer_imports(repeats: int, tmp: Path) -> str:
    """Table 3: import time of an x86_64 copy of the layer, compiled vs source-only and read-only."""
    site = tmp / "layer-pyc"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(site),
            "-r",
            str(LAYER_SRC / "requirements.txt"),
        ],
        check=True,
    )
    shutil.copytree(LAYER_SRC / "docclass", site / "docclass", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(site / "bin", ignore_errors=True)
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache)
    bare = tmp / "layer-source-only"
    shutil.copytree(site, bare, symlinks=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(site),
        ],
        check=True,
    )
    subprocess.run(["chmod", "-R", "a-w", str(bare)], check=True)
    variants = {"compiled .pyc (unchecked-hash)": site, "no .pyc, read-only": bare}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # -I ignores it; -B and the read-only tree are what count
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for name, path in variants.items():
            code = f"import sys; sys.path.insert(0, {str(path)!r}); {IMPORTS}"
            t = time.perf_counter()
            subprocess.run([sys.executable, "-I", "-B", "-c", code], check=True, env=env)
            times[name].append(time.perf_counter() - t)
    assert not list(bare.rglob("*.pyc")), "the source-only layer got .pyc files"
    subprocess.run(["chmod", "-R", "u+w", str(bare)], check=True)
    rows = []
    base = stats_ms(times["compiled .pyc (unchecked-hash)"])[0]
    for name, values in times.items():
        med, p95 = stats_ms(values)
        rows.append([name, len(values), f"{med:.0f}", f"{p95:.0f}", f"{med / base:.2f}x"])
    empty = [time.perf_counter()]
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-B", "-c", "pass"], check=True, env=env)
        empty.append(time.perf_counter() - t)
    med, p95 = stats_ms(empty[1:])
    rows.append(["(bare interpreter, `pass`)", repeats, f"{med:.0f}", f"{p95:.0f}", ""])
    return f'`python -I -B -c "{IMPORTS}"`, wall ms per fresh process.\n\n' + markdown_table(
        ["layer copy", "runs", "median ms", "p95 ms", "vs compiled"], rows, "lrrrr"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 1k and 10k, 2 repeats")
    parser.add_argument("--repeats", type=int, default=5, help="children per measurement (default 5)")
    parser.add_argument("--layer-repeats", type=int, default=12, help="runs per layer copy (default 12)")
    parser.add_argument("--baseline-ref", default=None, help="also run index.py from this git revision")
    parser.add_argument("--skip-layer", action="store_true", help="skip the .pyc measurement (needs PyPI)")
    parser.add_argument("--skip-formats", action="store_true", help="skip the stored-format comparison")
    parser.add_argument("--output", type=Path, default=RESULTS / "cold_start.md")
    args = parser.parse_args(argv)
    ns = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    sizes = [(n, d) for d in (1024, 256) for n in ns]
    repeats = 2 if args.quick else args.repeats
    sections = [f"# Cold start\n\n```bash\n{command_line()}\n```\n"]
    with tempfile.TemporaryDirectory(prefix="docclass-cold-") as name:
        tmp = Path(name)
        if not args.skip_formats:
            table = bench_formats(sizes, repeats, tmp)
            sections.append(
                f"## Stored formats, side by side (fresh process per run, {repeats} runs)\n\n{table}\n"
            )
            print(sections[-1], flush=True)
        table = bench_end_to_end(sizes, repeats, tmp, args.baseline_ref)
        sections.append(f"## Fresh process to first classification ({repeats} runs)\n\n{table}\n")
        print(sections[-1], flush=True)
        if not args.skip_layer:
            table = bench_layer_imports(3 if args.quick else args.layer_repeats, tmp)
            sections.append(f"## Layer import time, with and without .pyc\n\n{table}\n")
            print(sections[-1], flush=True)
    write_results(args.output, "\n".join(sections))
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
