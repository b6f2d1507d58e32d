"""ClassifyFunction's memory while the gallery index changes under it (issue 9, point 7).

Usage (from the repo root):

    .venv/bin/python bench/reload.py [--quick] [--repeats 3]

A fresh process builds the ClassifyFunction's Classifier against a moto S3 server (over HTTP, as
in bench/scale.py), loads the index, then waits; the parent commits a change to the gallery (10
upserts, so the pointer names a new snapshot of the same size); the child resets its peak-RSS
counter (VmHWM, by writing 5 to /proc/self/clear_refs) and reloads. Reported: the RSS it holds with
one index loaded, and the peak during the reload, for two ways of reloading, side by side in one run:

- "docclass": Classifier.current_index() once the refresh period is over (it lets go of the old
  index before reading the new one);
- "hold old while loading": the previous behaviour (the old index still referenced while the new
  snapshot is downloaded and parsed).

Also reported: how many index downloads a burst of 20 gallery commits causes while one container
classifies a document after each commit, with IndexRefreshSeconds 0 and 30 (a clock advanced by
3 s per document, no waiting).

Writes Markdown to bench/results/reload.md (and prints it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    RESULTS,
    WRITER_CHILD,
    child_env,
    command_line,
    markdown_table,
    mb,
    moto_s3,
    run_child,
    write_results,
)

BENCH_DIR = str(Path(__file__).resolve().parent)
MEMORY_SIZE_MB = 1024  # ClassifyFunction's MemorySize (template.yaml Globals)

# argv: mode ("docclass" | "hold-old"), bucket, model id, D. Prints one JSON line after the first
# load, waits for a line on stdin (the parent has changed the index), reloads, prints a second one.
_RELOAD_CHILD = r"""
import json, sys
def status(field):
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'):
            return int(line.split()[1]) * 1024
from docclass.classify import Classifier
from docclass.config import Settings
from docclass.index_store import IndexRepository
from docclass.services import build_classifier
mode, bucket, model, d = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
base = build_classifier(Settings(bucket=bucket, dimension=d, embedder="local"))
now = [0.0]
repository = IndexRepository(base.store, model, d)  # the benchmark's index, written by WRITER_CHILD
classifier = Classifier(base.store, base.embedder, repository, refresh_seconds=30, clock=lambda: now[0])
first = classifier.current_index()
vectors = len(first)
assert vectors > 0, "the benchmark's index was not found"
del first
print(json.dumps({"loaded_rss": status("VmRSS"), "vectors": vectors}), flush=True)
sys.stdin.readline()
with open('/proc/self/clear_refs', 'w') as f:  # VmHWM := current RSS
    f.write('5')
before = status("VmRSS")
if mode == "docclass":
    now[0] += 31
    index = classifier.current_index()
else:
    held = classifier.current_index()  # the old index, still referenced ...
    index, _ = classifier.repository.load()  # ... while the new one is read
print(json.dumps({"before": before, "peak": status("VmHWM"), "vectors": len(index),
                  "loads": classifier.index_loads}), flush=True)
"""

# argv: bucket, model id, D. Commits 10 upserts to the gallery index (a new snapshot, same size).
_CHANGE_CHILD = r"""
import json, sys
import numpy as np
from docclass.index import Entry
from docclass.index_store import IndexRepository
from docclass.store import ObjectStore
bucket, model, d = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(7)
def apply(index):
    for i in range(10):
        v = rng.standard_normal(d).astype(np.float32)
        index.upsert(Entry(f"gallery/new/{i}.png", "new", "h", f"{0xFF00000000000000 + i:018X}"), v / np.linalg.norm(v))
    return True
print(json.dumps({"bytes": IndexRepository(ObjectStore(bucket), model, d).commit(apply).bytes_written}))
"""

# argv: bucket, D, refresh seconds. A burst: 20 gallery commits, a document classified after each,
# a clock moved 3 s per document. Prints how often the classifier downloaded the index.
_BURST_CHILD = r"""
import io, json, sys
import numpy as np
from PIL import Image
from docclass.classify import Classifier
from docclass.config import Settings
from docclass.index import Entry
from docclass.services import build_classifier
bucket, d, refresh = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
base = build_classifier(Settings(bucket=bucket, dimension=d, embedder="local"))
now = [0.0]
classifier = Classifier(base.store, base.embedder, base.repository, refresh_seconds=refresh, clock=lambda: now[0])
rng = np.random.default_rng(1)
for i in range(20):
    def apply(index, i=i):
        v = rng.standard_normal(d).astype(np.float32)
        return index.upsert(Entry(f"gallery/l{i % 3}/{i}.png", f"l{i % 3}", "h", f"{i + 1:018X}"), v / np.linalg.norm(v))
    base.repository.commit(apply)
    page = Image.fromarray(rng.integers(0, 256, (64, 48), dtype=np.uint8))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    base.store.put(f"inbox/{refresh}/{i}.png", buffer.getvalue())
    classifier.classify(f"inbox/{refresh}/{i}.png")
    now[0] += 3.0
print(json.dumps({"loads": classifier.index_loads, "documents": 20, "commits": 20}))
"""


def reload_peaks(n: int, d: int, repeats: int) -> list[list[object]]:
    """Rows of the memory table: one per reload mode, medians over `repeats` fresh processes."""
    bucket = "bench-reload"
    rows = []
    with moto_s3(bucket) as (aws, _s3):
        env = child_env(**aws)
        model = f"bench-{n}"
        snapshot = run_child(WRITER_CHILD, BENCH_DIR, bucket, model, str(n), str(d), env=env)["bytes"]
        results: dict[str, list[dict[str, int]]] = {"docclass": [], "hold-old": []}
        for _ in range(repeats):
            for mode in results:  # side by side, alternating
                child = subprocess.Popen(
                    [sys.executable, "-c", _RELOAD_CHILD, mode, bucket, model, str(d)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env=env,
                )
                assert child.stdin is not None and child.stdout is not None
                loaded = json.loads(child.stdout.readline())
                run_child(_CHANGE_CHILD, bucket, model, str(d), env=env)
                child.stdin.write("go\n")
                child.stdin.flush()
                line = child.stdout.readline()
                if child.wait(timeout=900) != 0 or not line:
                    raise RuntimeError(f"reload child ({mode}) failed")
                reloaded = json.loads(line)
                results[mode].append({**loaded, **reloaded})
        for mode, label in (("docclass", "docclass (lets go first)"), ("hold-old", "hold old while loading")):
            runs = results[mode]
            peak = sorted(r["peak"] for r in runs)[len(runs) // 2]
            loaded = sorted(r["loaded_rss"] for r in runs)[len(runs) // 2]
            rows.append(
                [
                    f"{n:,}",
                    d,
                    mb(snapshot),
                    label,
                    mb(loaded),
                    mb(peak),
                    f"{100 * peak / (MEMORY_SIZE_MB * 2**20):.0f}%",
                ]
            )
    return rows


def burst_loads(d: int) -> list[list[object]]:
    """Rows of the burst table: index downloads per refresh period."""
    rows = []
    for refresh in ("0", "30"):
        with moto_s3(f"bench-burst-{refresh}") as (aws, _s3):
            r = run_child(_BURST_CHILD, f"bench-burst-{refresh}", str(d), refresh, env=child_env(**aws))
        rows.append([refresh, r["commits"], r["documents"], r["loads"]])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 vectors, 1 repeat")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per mode")
    parser.add_argument("--output", type=Path, default=RESULTS / "reload.md")
    args = parser.parse_args(argv)
    n, repeats = (10_000, 1) if args.quick else (100_000, args.repeats)
    memory = reload_peaks(n, 1024, repeats)
    burst = burst_loads(256)
    text = "\n".join(
        [
            "# ClassifyFunction while the index changes",
            "",
            f"`{command_line()}`; peak RSS (VmHWM) of fresh processes, median of {repeats}; "
            f"ClassifyFunction's MemorySize is {MEMORY_SIZE_MB} MB.",
            "",
            markdown_table(
                [
                    "N",
                    "D",
                    "snapshot MB",
                    "reload",
                    "RSS with one index MB",
                    "peak during reload MB",
                    "of MemorySize",
                ],
                memory,
            ),
            "",
            "Index downloads by one container during a gallery burst (20 commits, one document classified "
            "after each, 3 s apart):",
            "",
            markdown_table(["IndexRefreshSeconds", "commits", "documents", "index downloads"], burst),
        ]
    )
    write_results(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
