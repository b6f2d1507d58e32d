"""Gallery scale: search latency, index size and peak memory at 1k-100k vectors; flat vs IVF / HNSW.

Usage (from the repo root):

    .venv/bin/python bench/scale.py [--quick] [--queries 200] [--skip-alternatives]

Writes Markdown to bench/results/scale.md (and prints it):

1. Search latency of GalleryIndex.search (the production path: exact L2 with faiss.knn over the
   matrix as loaded from a snapshot), one query at a time as ClassifyFunction asks, k=1, with FAISS
   on 1 thread (about what a 1-vCPU Lambda has) and on its default threads; medians and p95 over
   --queries held-out unit vectors. IndexFlatL2.search (the previous code path) on the same
   queries, same run, for comparison.
2. Size: the snapshot in S3 and what the index holds in memory (the matrix, which is a view of the
   snapshot's bytes, plus the Python columns of keys/labels/hashes/sequencers, by tracemalloc).
3. Peak RSS (VmHWM) of fresh processes against a moto S3 server (separate thread of this
   process, over HTTP, so boto3's read and write paths are the real ones): imports only; what
   ClassifyFunction does (load the snapshot, search); what GalleryFunction does (load, upsert 10,
   remove 10, write a new snapshot, swap the pointer).
4. Alternatives at the largest N on clustered synthetic embeddings (bench/common.py: 20 label
   centroids, 25 layout templates each, noise) and on uniform random vectors: IVF-Flat and HNSW,
   build time, latency and recall@1 against exact search.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "layers" / "docclass"))

from common import (
    PEAK_RSS_SNIPPET,
    RESULTS,
    WRITER_CHILD,
    child_env,
    clustered_vectors,
    command_line,
    gallery_keys,
    markdown_table,
    mb,
    moto_s3,
    random_vectors,
    run_child,
    stats_ms,
    write_results,
)

from docclass.index import Entry, GalleryIndex

BENCH_DIR = str(Path(__file__).resolve().parent)


def build_index(n: int, d: int, x: np.ndarray) -> GalleryIndex:
    """An index of n rows, read back from its snapshot as ClassifyFunction would hold it."""
    index = GalleryIndex(d, "bench")
    for row, vector in zip(gallery_keys(n), x, strict=True):
        index.upsert(Entry(*row), vector)
    return GalleryIndex.from_bytes(index.to_bytes())


def time_queries(search, queries: np.ndarray) -> list[float]:  # type: ignore[no-untyped-def]
    """Seconds per call of search(q) for each query, after one warm-up call."""
    search(queries[0])
    out = []
    for q in queries:
        t = time.perf_counter()
        search(q)
        out.append(time.perf_counter() - t)
    return out


def bench_latency_and_size(ns: list[int], dims: list[int], n_queries: int) -> tuple[str, str]:
    """Tables 1 and 2."""
    default_threads = os.cpu_count() or 1  # FAISS default; docclass.index sets 1 on import
    lat_rows, size_rows = [], []
    for d in dims:
        for n in ns:
            x = random_vectors(n, d, seed=3)
            queries = random_vectors(n_queries, d, seed=4)
            snapshot = build_index(n, d, x).to_bytes()
            data_len = len(snapshot)
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            loaded = GalleryIndex.from_bytes(snapshot)  # the matrix stays in `snapshot`: not counted
            python_overhead = tracemalloc.get_traced_memory()[0] - base
            tracemalloc.stop()
            flat = faiss.IndexFlatL2(d)
            flat.add(x)
            cells = []
            for threads in (1, default_threads):
                faiss.omp_set_num_threads(threads)
                ours = stats_ms(time_queries(lambda q, ix=loaded: ix.search(q, 1), queries))
                theirs = stats_ms(time_queries(lambda q, ix=flat: ix.search(q.reshape(1, -1), 1), queries))
                cells += [f"{ours[0]:.2f} / {ours[1]:.2f}", f"{theirs[0]:.2f} / {theirs[1]:.2f}"]
            faiss.omp_set_num_threads(default_threads)
            lat_rows.append([f"{n:,}", d, *cells])
            matrix = n * d * 4
            size_rows.append(
                [f"{n:,}", d, mb(data_len), mb(matrix), mb(python_overhead), mb(matrix + python_overhead)]
            )
    lat = markdown_table(
        [
            "N",
            "D",
            "GalleryIndex.search, 1 thread",
            "IndexFlatL2.search, 1 thread",
            f"GalleryIndex.search, {default_threads} threads",
            f"IndexFlatL2.search, {default_threads} threads",
        ],
        lat_rows,
    )
    size = markdown_table(
        ["N", "D", "snapshot in S3, MB", "matrix, MB", "Python columns + row dict, MB", "in memory, MB"],
        size_rows,
    )
    return "ms per query (k=1), median / p95.\n\n" + lat, size


_RSS_CHILD = (
    r"""
import sys, json
"""
    + PEAK_RSS_SNIPPET
    + r"""
mode, bucket, model, d = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
import numpy as np
import docclass
from docclass.index import Entry
from docclass.index_store import IndexRepository
from docclass.store import ObjectStore
peak = peak_rss
out = {"imports": peak()}
if mode != "imports":
    repo = IndexRepository(ObjectStore(bucket), model, d)
    index, pointer = repo.load()
    q = np.zeros(d, np.float32); q[0] = 1.0
    index.search(q, 1)
    out["vectors"] = len(index)
    if mode == "gallery":
        keys = [e.key for e in index.entries()][:10]
        rng = np.random.default_rng(0)
        def apply(current):
            for i in range(10):
                v = rng.standard_normal(d).astype(np.float32)
                current.upsert(Entry(f"gallery/new/{i}.png", "new", "h", "FF" * 10), v / np.linalg.norm(v))
            for key in keys:
                current.remove(key, "FF" * 10)
            return True
        del index
        out["commit_bytes"] = repo.commit(apply).bytes_written
out["peak"] = peak()
print(json.dumps(out))
"""
)


def bench_memory(ns: list[int], dims: list[int], repeats: int) -> str:
    """Table 3: peak RSS of fresh processes doing what each function does."""
    rows = []
    bucket = "bench-scale"
    with moto_s3(bucket) as (aws, _s3):
        env = child_env(**aws)
        for d in dims:
            for n in ns:
                model = f"bench-{n}"
                run_child(WRITER_CHILD, BENCH_DIR, bucket, model, str(n), str(d), env=env)
                peaks: dict[str, list[int]] = {"imports": [], "classify": [], "gallery": []}
                snapshot = 0
                for _ in range(repeats):
                    for mode in peaks:
                        r = run_child(_RSS_CHILD, mode, bucket, model, str(d), env=env)
                        peaks[mode].append(r["peak"])
                        snapshot = r.get("commit_bytes", snapshot)
                med = {m: sorted(v)[len(v) // 2] for m, v in peaks.items()}
                rows.append(
                    [
                        f"{n:,}",
                        d,
                        mb(snapshot),
                        mb(med["imports"]),
                        mb(med["classify"]),
                        mb(med["classify"] - med["imports"]),
                        mb(med["gallery"]),
                        mb(med["gallery"] - med["imports"]),
                    ]
                )
    return markdown_table(
        [
            "N",
            "D",
            "snapshot MB",
            "imports only",
            "classify: load + search",
            "(beyond imports)",
            "gallery: load + change + write",
            "(beyond imports)",
        ],
        rows,
    )


def recall_at_1(found: np.ndarray, exact_ids: np.ndarray, exact_d: np.ndarray, found_d: np.ndarray) -> float:
    """Share of queries whose top hit is the exact nearest (or ties with it)."""
    same = (found[:, 0] == exact_ids[:, 0]) | np.isclose(found_d[:, 0], exact_d[:, 0], rtol=0, atol=1e-6)
    return float(same.mean())


def bench_alternatives(n: int, dims: list[int], n_queries: int) -> str:
    """Table 4: IVF-Flat and HNSW against exact search at the largest N."""
    rows = []
    default_threads = os.cpu_count() or 1  # FAISS default; docclass.index sets 1 on import
    for d in dims:
        for kind, make in (("clustered", clustered_vectors), ("random", random_vectors)):
            both = make(n + n_queries, d, seed=5)
            x, queries = both[:n], both[n:]
            faiss.omp_set_num_threads(1)
            flat = faiss.IndexFlatL2(d)
            flat.add(x)
            exact_d, exact_i = flat.search(queries, 1)
            lat = stats_ms(time_queries(lambda q, ix=flat: ix.search(q.reshape(1, -1), 1), queries))
            rows.append([f"{n:,}", d, kind, "flat (exact)", "0", f"{lat[0]:.2f} / {lat[1]:.2f}", "1.000"])
            candidates = []
            nlist = int(4 * np.sqrt(n))
            candidates.append((f"IVF{nlist},Flat", [("nprobe", p) for p in (8, 32)]))
            candidates.append(("HNSW32,Flat", [("efSearch", e) for e in (64, 128)]))
            for spec, params in candidates:
                faiss.omp_set_num_threads(default_threads)
                t = time.perf_counter()
                index = faiss.index_factory(d, spec)
                index.train(x)
                index.add(x)
                build = time.perf_counter() - t
                faiss.omp_set_num_threads(1)
                for name, value in params:
                    faiss.ParameterSpace().set_index_parameter(index, name, value)
                    found_d, found_i = index.search(queries, 1)
                    recall = recall_at_1(found_i, exact_i, exact_d, found_d)
                    lat = stats_ms(time_queries(lambda q, ix=index: ix.search(q.reshape(1, -1), 1), queries))
                    rows.append(
                        [
                            f"{n:,}",
                            d,
                            kind,
                            f"{spec} {name}={value}",
                            f"{build:.1f}",
                            f"{lat[0]:.2f} / {lat[1]:.2f}",
                            f"{recall:.3f}",
                        ]
                    )
                del index
            faiss.omp_set_num_threads(default_threads)
            print(f"alternatives: {d} {kind} done", flush=True)
    return markdown_table(
        ["N", "D", "data", "index", f"build s ({default_threads} threads)", "ms/query, 1 thread", "recall@1"],
        rows,
        "rrllrrr",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 1k and 10k, fewer queries")
    parser.add_argument("--queries", type=int, default=200, help="queries per latency measurement")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per memory measurement")
    parser.add_argument("--skip-alternatives", action="store_true", help="no IVF / HNSW comparison")
    parser.add_argument("--output", type=Path, default=RESULTS / "scale.md")
    args = parser.parse_args(argv)
    ns = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    dims = [1024, 256]
    n_queries = 30 if args.quick else args.queries
    repeats = 1 if args.quick else args.repeats
    sections = [f"# Gallery scale\n\n```bash\n{command_line()}\n```\n"]
    info = {"cpus": os.cpu_count(), "faiss": faiss.__version__, "numpy": np.__version__}
    sections.append(f"Machine: {json.dumps(info)}\n")
    lat, size = bench_latency_and_size(ns, dims, n_queries)
    sections.append(f"## Search latency, exact (flat)\n\n{lat}\n")
    print(sections[-1], flush=True)
    sections.append(f"## Index size\n\n{size}\n")
    print(sections[-1], flush=True)
    table = bench_memory(ns, dims, repeats)
    sections.append(f"## Peak memory of a fresh process (VmHWM, MB, median of {repeats})\n\n{table}\n")
    print(sections[-1], flush=True)
    if not args.skip_alternatives:
        table = bench_alternatives(ns[-1], dims, n_queries)
        sections.append(f"## Approximate indexes at N = {ns[-1]:,}\n\n{table}\n")
        print(sections[-1], flush=True)
    write_results(args.output, "\n".join(sections))
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
