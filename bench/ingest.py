"""Gallery ingest: N gallery uploads through the local stack, docclass vs the original approach.

Usage (from the repo root):

    .venv/bin/python bench/ingest.py [--quick] [--images 2000] [--what-if]

The default (1000 uploads) takes about 5-10 minutes on 2 cores; 2000 (the issue's figure) about
four times as long for the reference, whose cost grows with the square of the gallery size.

Uploads N small distinct gallery images (64x48 noise PNGs under gallery/<label>/; the comparison
is about index writes, not images) and waits until the gallery queue is drained, once with
docclass's GalleryFunction (one index snapshot + pointer swap per SQS batch) and once with the
reference's (one read-modify-write of the whole index per image), both behind the same event
source mapping read from template.yaml (BatchSize, batching window, MaximumConcurrency), both
calling the same zero-latency Titan stand-in. Every S3 call made in the process is counted by
wrapping botocore's API call: index writes (PUTs under index/ or reference/), bytes written, bytes
read. With --what-if, a third run shows docclass with BatchSize 100 (the local stack's copy of the
template's values is changed; template.yaml is not).
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import contextlib
import dataclasses
import io
import itertools
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference.fake_bedrock import FakeBedrockRuntime
from reference.handlers import LABELS_KEY, ReferenceFunctions
from reference.harness import docclass_uses_titan_with, write_report

_RUNS = itertools.count(1)
LABELS = ("invoice", "receipt", "bank_statement", "letter", "form", "id_card", "memo", "resume")


def gallery_images(count: int) -> list[tuple[str, bytes]]:
    """(key, PNG bytes) of count distinct small images spread over the labels."""
    rng = np.random.default_rng(2000)
    out = []
    for i in range(count):
        pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        out.append((f"gallery/{LABELS[i % len(LABELS)]}/example-{i:05d}.png", buffer.getvalue()))
    return out


@dataclasses.dataclass
class S3Counter:
    """S3 traffic by operation and key area, counted for every client in this process."""

    puts: Counter[str] = dataclasses.field(default_factory=Counter)
    put_bytes: Counter[str] = dataclasses.field(default_factory=Counter)
    get_bytes: Counter[str] = dataclasses.field(default_factory=Counter)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @staticmethod
    def area(key: str) -> str:
        return key.split("/", 1)[0]


@contextlib.contextmanager
def counting_s3() -> Iterator[S3Counter]:
    from botocore.client import BaseClient

    counter = S3Counter()
    original = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        body = params.get("Body", b"")  # before the call: botocore's handlers wrap it in a stream
        size = len(body) if isinstance(body, bytes | bytearray | str) else 0
        result = original(self, operation, params)
        if self.meta.service_model.service_name == "s3" and operation in ("PutObject", "GetObject"):
            area = counter.area(str(params.get("Key", "")))
            with counter.lock:
                if operation == "PutObject":
                    counter.puts[area] += 1
                    counter.put_bytes[area] += size
                else:
                    counter.get_bytes[area] += int(result.get("ContentLength", 0))
        return result

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def run(
    pipeline: str,
    images: list[tuple[str, bytes]],
    batch_size: int | None = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    from docclass_local.stack import LocalStack

    fake = FakeBedrockRuntime()
    reference = ReferenceFunctions(fake)
    handlers = {"GalleryFunction": reference.gallery_handler} if pipeline == "reference" else {}
    with docclass_uses_titan_with(fake), counting_s3() as counter:
        # moto's backends are global to the process: a bucket (and queues) of its own for every run.
        stack = LocalStack(port=None, handlers=handlers, bucket=f"bench-ingest-{next(_RUNS)}")
        spec = stack.spec.functions["GalleryFunction"]
        spec = dataclasses.replace(
            spec,
            batch_size=batch_size or spec.batch_size,
            max_concurrency=concurrency or spec.max_concurrency,
        )
        stack.spec.functions["GalleryFunction"] = spec
        # A receive whose answer is lost (the local server is slow under multi-MB writes) would hide
        # its messages for the template's 1800 s; 120 s is still far above any batch's run time here.
        stack.spec.queues[spec.queue].attributes["VisibilityTimeout"] = "120"
        with stack:
            s3 = stack.client("s3")
            stack.wait_until_idle(timeout=60)  # the s3:TestEvent
            started = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(
                    pool.map(
                        lambda item: s3.put_object(Bucket=stack.bucket, Key=item[0], Body=item[1]), images
                    )
                )
            stack.wait_until_idle(timeout=7200, poll=0.25)
            seconds = time.perf_counter() - started
            stalls = [b for b in stack.batches if b.error or b.failed]
            if stalls:
                print(f"  {len(stalls)} batches failed and were retried: {stalls[0].error}", file=sys.stderr)
            if pipeline == "reference":
                labels = json.loads(s3.get_object(Bucket=stack.bucket, Key=LABELS_KEY)["Body"].read())
                vectors = len(labels["labels"])
                area = "reference"
            else:
                listing = s3.list_objects_v2(Bucket=stack.bucket, Prefix="index/").get("Contents", [])
                pointer = next(o["Key"] for o in listing if o["Key"].endswith("CURRENT.json"))
                vectors = json.loads(s3.get_object(Bucket=stack.bucket, Key=pointer)["Body"].read())[
                    "vectors"
                ]
                area = "index"
            batches = [b for b in stack.batches if b.function == "GalleryFunction" and b.keys]
    return {
        "pipeline": pipeline,
        "batch": f"{spec.batch_size}, {spec.batching_window:g} s, x{spec.max_concurrency}",
        "images": len(images),
        "seconds": seconds,
        "invocations": len(batches),
        "index_writes": counter.puts[area],
        "index_bytes": counter.put_bytes[area],
        "other_bytes": sum(v for k, v in counter.put_bytes.items() if k not in (area, "gallery")),
        "read_bytes": sum(v for k, v in counter.get_bytes.items() if k != "gallery"),
        "vectors": vectors,
        "calls": fake.calls,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| Pipeline | BatchSize, window, concurrency | Images | Wall time (s) | Invocations | Index writes (PUTs) | Index bytes written (MB) | Other bytes written (MB) | Bytes read (MB) | Vectors in the final index | Bedrock calls |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['pipeline']} | {r['batch']} | {r['images']} | {r['seconds']:.1f} | {r['invocations']} | "
            f"{r['index_writes']} | {r['index_bytes'] / 1e6:.1f} | {r['other_bytes'] / 1e6:.1f} | "
            f"{r['read_bytes'] / 1e6:.1f} | {r['vectors']} | {r['calls']} |"
        )
    doc = rows[0]
    lines += [
        "",
        "| ÷ docclass (template settings) | wall time | index writes | index bytes written | all bytes written | bytes read |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for ref in rows[1:]:
        lines.append(
            f"| {ref['pipeline']} ({ref['batch']}) | **{ref['seconds'] / doc['seconds']:.1f}x** | "
            f"{ref['index_writes'] / doc['index_writes']:.1f}x | **{ref['index_bytes'] / doc['index_bytes']:.1f}x** | "
            f"{(ref['index_bytes'] + ref['other_bytes']) / (doc['index_bytes'] + doc['other_bytes']):.1f}x | "
            f"{ref['read_bytes'] / doc['read_bytes']:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--images",
        type=int,
        default=1000,
        help="gallery uploads per run (default 1000; the issue's figure is 2000)",
    )
    parser.add_argument("--quick", action="store_true", help="300 uploads per run")
    parser.add_argument("--what-if", action="store_true", help="also run docclass with BatchSize 100")
    args = parser.parse_args()
    images = gallery_images(300 if args.quick else args.images)
    rows = []
    plan = [("docclass", None, None), ("reference", None, None), ("reference", None, 1)]
    for pipeline, batch, concurrency in plan + ([("docclass", 100, None)] if args.what_if else []):
        print(
            f"{pipeline} (BatchSize {batch or 'from template'}, concurrency {concurrency or 'from template'}) ...",
            file=sys.stderr,
        )
        rows.append(run(pipeline, images, batch, concurrency))
        print(f"  {rows[-1]['seconds']:.1f} s", file=sys.stderr)
    text = table(rows)
    print(text)
    path = write_report(
        "ingest", "Gallery ingest (docclass vs the original approach)", text + "\n\n" + interpretation(rows)
    )
    print(f"\nwritten to {path}", file=sys.stderr)


def interpretation(rows: list[dict[str, Any]]) -> str:
    doc, ref, serial = rows[0], rows[1], rows[2]
    lost = ref["images"] - ref["vectors"]
    return (
        f"docclass writes one snapshot and one pointer per SQS batch ({doc['invocations']} invocations "
        f"for {doc['images']} images); the reference rewrites its whole index for every image, so its "
        "index bytes grow with the square of the gallery size and docclass's with the square divided by "
        "the batch size: the byte ratio is close to the batch size (10 in the template) and grows with it "
        "(BatchSize 100 row, when present). It sits a little below 10 because docclass snapshots also "
        "carry each entry's key, label, hash and sequencer, and its two concurrent writers sometimes lose "
        "the pointer swap and write again. With the template's two concurrent gallery invocations the "
        f"reference's unguarded read-modify-write lost {lost} of {ref['images']} vectors (docclass none), "
        "which also made its index, and so its bytes, smaller; the concurrency-1 row is the reference "
        f"doing all the work ({serial['vectors']} vectors). Wall time differs far less than bytes here: "
        "everything (moto's S3 and SQS server, both workers, the uploads) runs in one Python process on "
        "2 shared cores, where moving a few MB in memory is nearly free and each image's fixed cost "
        "(requests, decoding, the embedding cache) dominates; in AWS each multi-MB GET and PUT of the "
        "reference costs real transfer time, so expect its time to follow its bytes more closely. Titan "
        "latency is not measured (the stand-in answers instantly); both pipelines make one call per new "
        "image, which adds the same time to both, bounded by the gallery function's MaximumConcurrency."
    )


if __name__ == "__main__":
    main()
