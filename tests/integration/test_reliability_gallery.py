"""Nothing lost in the index: concurrent gallery writers, and S3 answers lost after the write was
applied, through the local stack (moto's server on a free port, both handlers on real SQS events).
The bad-input catalogue and injected faults: test_reliability.py."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from conftest import QUICK_STACK
from docclass.index_store import IndexRepository
from docclass.local_embedder import MODEL_ID
from docclass.routing import gallery_label
from docclass.store import ObjectStore
from docclass_local.faults import FaultPlan
from docclass_local.stack import LocalStack


def all_keys(s3, bucket: str, prefix: str = "") -> list[str]:
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(item["Key"] for item in page.get("Contents", []))
    return out


def gallery_and_index(s3, bucket: str):
    """{gallery key: (label, SHA-256)} of the objects under gallery/ now, and the index (256-d)."""
    store = ObjectStore(bucket, s3)
    expected = {}
    for key in all_keys(s3, bucket, "gallery/"):
        obj = store.get(key)
        expected[key] = (gallery_label(key, obj.metadata), hashlib.sha256(obj.body).hexdigest())
    index, _ = IndexRepository(store, MODEL_ID, 256).load()
    return expected, index


# -- concurrent gallery writers --------------------------------------------------------------


def _noise_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_eight_concurrent_gallery_writers_lose_nothing():
    # given 8 GalleryFunction workers racing for the index pointer
    parameters = {"GalleryMaxConcurrency": "8", "EmbeddingDimension": "256", "MaxReceiveCount": "50"}
    with LocalStack(
        port=None, **QUICK_STACK, bucket="docclass-race", parameters=parameters, retry_delay=0
    ) as stack:
        s3 = stack.client("s3")
        bucket = stack.bucket

        def upload(i: int) -> None:
            key = f"gallery/l{i % 5}/img {i:03d}.png"
            s3.put_object(Bucket=bucket, Key=key, Body=_noise_png(i))
            if i % 7 == 0:  # deleted again
                s3.delete_object(Bucket=bucket, Key=key)
            elif i % 11 == 0:  # re-uploaded with other bytes and relabelled by metadata
                s3.put_object(
                    Bucket=bucket, Key=key, Body=_noise_png(10_000 + i), Metadata={"label": "relabelled"}
                )
            elif i % 13 == 0:  # deleted, then uploaded again
                s3.delete_object(Bucket=bucket, Key=key)
                s3.put_object(Bucket=bucket, Key=key, Body=_noise_png(20_000 + i))

        # when 520 uploads, deletes and re-uploads interleave
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(upload, range(520)))
        stack.wait_until_idle(timeout=300)
        expected, index = gallery_and_index(s3, bucket)
        writers = {b.function for b in stack.batches}
        busiest = max(Counter(b.function for b in stack.batches).values())

    # then the index holds exactly the objects that exist, with their current label and bytes
    entries = list(index.entries())
    assert len(entries) == len({e.key for e in entries})  # no duplicate
    assert {e.key: (e.label, e.content_hash) for e in entries} == expected
    assert len(expected) > 400
    assert "GalleryFunction" in writers and busiest > 8


# -- S3 answers lost after the write was applied (issue 9, point 1) -----------------------------


def test_gallery_ingest_under_lost_s3_answers_keeps_the_index_equal_to_the_gallery():
    # given 4 gallery writers whose PutObject/CopyObject/DeleteObject answers are lost 20% of the
    # time after S3 applied them (botocore sends the same request again)
    plan = FaultPlan(s3_lost_response=0.2, seed=3)
    parameters = {"GalleryMaxConcurrency": "4", "EmbeddingDimension": "256", "MaxReceiveCount": "50"}
    with LocalStack(
        port=None, **QUICK_STACK, bucket="docclass-lost", parameters=parameters, faults=plan, retry_delay=0
    ) as stack:
        s3 = stack.client("s3")
        bucket = stack.bucket
        # when 240 examples arrive in 4 waves (several index commits each), 4 deleted again
        for wave in range(4):
            with ThreadPoolExecutor(4) as pool:
                for i in range(wave * 60, wave * 60 + 60):
                    pool.submit(
                        s3.put_object,
                        Bucket=bucket,
                        Key=f"gallery/l{i % 4}/img {i:03d}.png",
                        Body=_noise_png(i),
                    )
            s3.delete_object(Bucket=bucket, Key=f"gallery/l{wave}/img {wave * 60 + wave:03d}.png")
            stack.wait_until_idle(timeout=120)
        expected, index = gallery_and_index(s3, bucket)
        # and documents that are exact copies of some examples are uploaded
        for i in (6, 67, 128, 239):
            s3.put_object(Bucket=bucket, Key=f"inbox/copy-{i}.png", Body=_noise_png(i))
        status = stack.wait_until_idle(timeout=120)
        routed = set(all_keys(s3, bucket, "classified/"))
        injected = dict(stack.faults.injected)

    # then the index holds exactly the gallery, nothing was dead-lettered, and documents classify
    assert {e.key: (e.label, e.content_hash) for e in index.entries()} == expected
    assert len(expected) == 236
    assert sum(status["dead_letters"].values()) == 0
    assert routed == {f"classified/l{i % 4}/copy-{i}.png" for i in (6, 67, 128, 239)}
    assert injected.get("s3-lost-response:PutObject", 0) > 20, injected
    assert injected.get("s3-lost-response:DeleteObject", 0) > 0, injected
