"""Small helpers shared by the bench scripts: synthetic galleries, child processes, statistics, tables.

Nothing here is timed itself; the scripts time what they measure and say how.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYER_SRC = REPO_ROOT / "layers" / "docclass"
RESULTS = REPO_ROOT / "bench" / "results"
LABELS = [f"label-{i:02d}" for i in range(20)]


def gallery_keys(n: int, labels: Sequence[str] = LABELS) -> list[tuple[str, str, str, str]]:
    """(key, label, content hash, sequencer) rows that look like a real gallery's."""
    rng = np.random.default_rng(n)
    hashes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        rows.append(
            (
                f"gallery/{label}/scan {i // 997:03d}/document-{i:05d}.png",
                label,
                hashes[i].tobytes().hex(),
                f"{0x0062E99A88DC407460 + 7 * i:018X}",
            )
        )
    return rows


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32, C-contiguous."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def random_vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    """n unit vectors uniform on the sphere (a poor proxy for embeddings: no structure at all)."""
    return unit_rows(np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32))


def clustered_vectors(
    n: int, d: int, seed: int = 0, labels: int = 20, templates: int = 25, spread: float = 0.55
) -> np.ndarray:
    """n unit vectors shaped like document embeddings: label centroids, layout templates, noise.

    Row i belongs to label i % labels (like gallery_keys) and to one of `templates` sub-clusters of
    that label. Typical cosines: ~0.9 within a template, ~0.7 within a label, ~0.5 across labels
    (there is a shared "document-ness" direction, as real embeddings of scanned pages have).
    """
    rng = np.random.default_rng(seed)
    common = unit_rows(rng.standard_normal((1, d), dtype=np.float32))
    centroids = unit_rows(
        0.55 * unit_rows(rng.standard_normal((labels, d), dtype=np.float32)) + 0.45 * common
    )
    tmpl = unit_rows(
        centroids[:, None, :].repeat(templates, axis=1).reshape(-1, d)
        + 0.75 * unit_rows(rng.standard_normal((labels * templates, d), dtype=np.float32))
    )
    label_of = np.arange(n) % labels
    which = label_of * templates + rng.integers(0, templates, size=n)
    noise = unit_rows(rng.standard_normal((n, d), dtype=np.float32))
    return unit_rows(tmpl[which] + spread * noise)


def stats_ms(seconds: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds."""
    ms = sorted(1000.0 * s for s in seconds)
    if len(ms) == 1:
        return ms[0], ms[0]
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18]
    return statistics.median(ms), p95


# ru_maxrss is useless in a child started by fork+exec from a big parent: Linux carries the forked
# copy's high-water mark over the exec. VmHWM belongs to the process's own address space.
PEAK_RSS_SNIPPET = (
    "def peak_rss():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1]) * 1024\n"
)


def peak_rss() -> int:
    """This process's peak resident set size in bytes (VmHWM, Linux)."""
    namespace: dict[str, object] = {}
    exec(PEAK_RSS_SNIPPET, namespace)
    return int(namespace["peak_rss"]())  # type: ignore[operator]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a measured child: this one, plus the layer source on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(LAYER_SRC), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def run_child(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 900) -> dict:
    """Run `python -c code args...` in a fresh interpreter; its last stdout line is a JSON object."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env if env is not None else child_env(),
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A GitHub Markdown table; align is one character per column (l or r), default l then r."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def mb(n_bytes: float) -> str:
    """Bytes as MB (10^6), one decimal."""
    return f"{n_bytes / 1e6:.1f}"


def command_line() -> str:
    """How this script was run, to paste next to its results."""
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(REPO_ROOT)
    return " ".join([".venv/bin/python", str(script), *sys.argv[1:]])


@contextmanager
def moto_s3(bucket: str) -> Iterator[tuple[dict[str, str], object]]:
    """A moto S3 server in a thread of this process, reached over HTTP like real S3.

    Yields the environment a child needs to use it (with docclass's Powertools kept quiet) and a
    boto3 client of this process. Children's imports, time and memory stay their own.
    """
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "docclass",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": "1",
    }
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=bucket)
        yield env, s3
    finally:
        server.stop()


# A child that commits a gallery of N random unit vectors (rows from gallery_keys) through the
# docclass IndexRepository it imports, so the snapshot is in that code's format. argv: bench dir,
# bucket, model id, N, D. Prints the CommitResult's bytes and vectors.
WRITER_CHILD = r"""
import sys, json
sys.path.insert(0, sys.argv[1])
from common import gallery_keys, random_vectors
from docclass.index import Entry
from docclass.index_store import IndexRepository
from docclass.store import ObjectStore
bucket, model, n, d = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
x = random_vectors(n, d, seed=2)
rows = gallery_keys(n)
def apply(current):
    for i, row in enumerate(rows):
        current.upsert(Entry(*row), x[i])
    return True
result = IndexRepository(ObjectStore(bucket), model, d).commit(apply)
print(json.dumps({"bytes": result.bytes_written, "vectors": result.vectors}))
"""


INTERPRETATION = "## Interpretation"


def write_results(path: Path, text: str) -> None:
    """Write a results page, keeping its hand-written "## Interpretation" section if it has one."""
    kept = ""
    if path.exists():
        old = path.read_text()
        if INTERPRETATION in old:
            kept = old[old.index(INTERPRETATION) :]
            kept = "\n" + kept + ("" if kept.endswith("\n") else "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n" + kept)
