"""A bedrock-runtime client that answers InvokeModel like Titan, instantly, and counts the calls.

With `latency`, every call takes that long (a what-if for how the pipelines overlap model calls).

Both pipelines hand it the request body they built (that work is theirs, and is measured); it
returns a deterministic unit vector derived from a few slices of that body, so different images
get different vectors and the same image the same one. Its own (small) time is recorded per thread
so the benchmarks can subtract it: the model's time is not what is measured.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import zlib
from typing import Any

import numpy as np

_LENGTH = re.compile(rb'"outputEmbeddingLength"\s*:\s*(\d+)')


class _Meta:
    region_name = "us-east-1"


class FakeBedrockRuntime:
    """invoke_model(modelId=..., body=...) -> {"body": stream of {"embedding": [...]}}."""

    meta = _Meta()

    def __init__(self, latency: float = 0.0) -> None:
        # A model that takes this long per call (a what-if: nothing here measures Titan's latency).
        self.latency = latency
        self._lock = threading.Lock()
        self._local = threading.local()
        self.calls = 0
        self.request_bytes = 0

    def thread_seconds(self) -> float:
        """Seconds this thread has spent inside invoke_model (the stand-in model's time)."""
        return float(getattr(self._local, "seconds", 0.0))

    def invoke_model(self, *, modelId: str, body: str | bytes, **_: Any) -> dict[str, Any]:
        started = time.perf_counter()
        if self.latency:
            time.sleep(self.latency)
        raw = body.encode() if isinstance(body, str) else bytes(body)
        # Both pipelines put embeddingConfig after the image; look for it at either end only.
        found = _LENGTH.search(raw[-256:]) or _LENGTH.search(raw[:256])
        dimension = int(found.group(1)) if found else 1024
        # A few slices across the body stand for the image: cheap, and distinct per image.
        step = max(1, len(raw) // 16)
        seed = len(raw)
        for offset in range(0, len(raw), step):
            seed = zlib.crc32(raw[offset : offset + 256], seed)
        vector = np.random.default_rng(seed).standard_normal(dimension)
        vector /= np.linalg.norm(vector)
        answer = json.dumps({"embedding": vector.tolist(), "inputTextTokenCount": None}).encode()
        with self._lock:
            self.calls += 1
            self.request_bytes += len(raw)
        self._local.seconds = self.thread_seconds() + time.perf_counter() - started
        return {"body": io.BytesIO(answer), "contentType": "application/json"}
