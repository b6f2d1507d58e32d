"""Fault injection for the local stack: `docclass serve --faults bedrock=0.3,s3=0.05,s3-lost-response=0.2`.

Faults are injected at the boundaries the functions already cross, never inside their code:
- bedrock: the embedder raises EmbeddingUnavailable (throttling or a model timeout), as the Titan
  adapter does once botocore's own retries are spent;
- s3: GetObject, PutObject, CopyObject and DeleteObject calls made by the functions fail with a 5xx
  (botocore event hooks on the session the functions' clients are created from);
- s3-lost-response: PutObject, CopyObject or DeleteObject reaches S3 and is applied, then the
  client sees a failure instead of the answer, and botocore sends the same request again (see
  LOST_RESPONSE_OPERATIONS below);
- crash-after-copy: the invocation dies right after a successful CopyObject, before the source is
  deleted (SimulatedCrash is a BaseException: no handler code catches it, as none would survive a
  real crash); the whole batch comes back from the queue.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from botocore.exceptions import ClientError
from PIL import Image

from docclass.embeddings import page_limits
from docclass.errors import EmbeddingUnavailable

S3_OPERATIONS = ("GetObject", "PutObject", "CopyObject", "DeleteObject")
# S3 can apply a write and still fail to deliver its answer (a 500 InternalError or a dropped
# connection after the write; "Amazon S3 error best practices", https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorBestPractices.html,
# tells clients to retry those). botocore then sends the same request again: a retried conditional
# PUT answers 412 (the condition no longer holds: our own first attempt changed the ETag), a
# retried CopyObject with If-None-Match answers 412, a retried DeleteObject 204 (or 404 with If-Match).
LOST_RESPONSE_OPERATIONS = ("PutObject", "CopyObject", "DeleteObject")
# A lost answer is re-drawn on each attempt; past this attempt the answer always gets through,
# so botocore's own attempt limit is never what ends the call.
MAX_LOST_ATTEMPTS = 3
KINDS = ("bedrock", "s3", "s3-lost-response", "crash-after-copy")


class SimulatedCrash(BaseException):
    """The Lambda process died (injected)."""


@dataclass(frozen=True)
class FaultPlan:
    """Probability of each kind of fault per call (0 = never)."""

    bedrock: float = 0.0
    s3: float = 0.0
    s3_lost_response: float = 0.0
    crash_after_copy: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> FaultPlan:
        """`bedrock=0.3,s3=0.05,crash-after-copy=0.05` -> FaultPlan; ValueError on anything else."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, raw = part.partition("=")
            name = name.strip().lower()
            if not sep or name not in KINDS:
                raise ValueError(f"unknown fault {part!r}: use {', '.join(k + '=P' for k in KINDS)}")
            probability = float(raw)
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"fault probability must be within 0..1, got {part!r}")
            values[name.replace("-", "_")] = probability
        return cls(seed=seed, **values)

    @property
    def any(self) -> bool:
        """True if any fault can happen."""
        return bool(self.bedrock or self.s3 or self.s3_lost_response or self.crash_after_copy)


class FaultInjector:
    """Draws faults from one seeded generator and counts what it injected."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.injected: Counter[str] = Counter()
        self._rng = random.Random(plan.seed)  # noqa: S311 - reproducible faults, not secrets
        self._lock = threading.Lock()

    def _draw(self, probability: float, kind: str) -> bool:
        if probability <= 0.0:
            return False
        with self._lock:
            hit = self._rng.random() < probability
            if hit:
                self.injected[kind] += 1
        return hit

    def wrap_embedder(self, embedder: Any) -> Any:
        """An embedder that fails like an overloaded Bedrock with probability plan.bedrock."""
        return _FaultyEmbedder(embedder, self)

    def install(self, events: Any) -> None:
        """Register the S3 hooks on a botocore event emitter (a boto3 Session's `.events`)."""
        for operation in S3_OPERATIONS:
            events.register(f"before-call.s3.{operation}", self._before_s3_call)
        for operation in LOST_RESPONSE_OPERATIONS:
            events.register(f"needs-retry.s3.{operation}", self._lose_response)
        events.register("after-call.s3.CopyObject", self._after_copy)

    def _before_s3_call(self, model: Any, **_: Any) -> None:
        if self._draw(self.plan.s3, f"s3:{model.name}"):
            response: Any = {
                "Error": {"Code": "InternalError", "Message": "injected fault: S3 is having a bad moment"},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            }
            raise ClientError(response, model.name)

    def _lose_response(self, response: Any, attempts: int, operation: Any, **_: Any) -> float | None:
        # botocore asks its needs-retry handlers after every attempt; the first answer that is not
        # None decides. Answering 0 for a request S3 has applied makes botocore send it again at once.
        if response is None or response[0].status_code >= 300 or attempts > MAX_LOST_ATTEMPTS:
            return None
        if self._draw(self.plan.s3_lost_response, f"s3-lost-response:{operation.name}"):
            return 0.0
        return None

    def _after_copy(self, **_: Any) -> None:
        if self._draw(self.plan.crash_after_copy, "crash-after-copy"):
            raise SimulatedCrash("injected crash between CopyObject and DeleteObject")

    def summary(self) -> str:
        """One line: how many faults of each kind were injected."""
        if not self.injected:
            return "no faults injected"
        return "faults injected: " + ", ".join(f"{kind} {n}" for kind, n in sorted(self.injected.items()))


class _FaultyEmbedder:
    def __init__(self, inner: Any, injector: FaultInjector) -> None:
        self.inner = inner
        self.injector = injector
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.limits = page_limits(inner)

    def embed(self, image: Image.Image) -> np.ndarray:
        if self.injector._draw(self.injector.plan.bedrock, "bedrock"):
            raise EmbeddingUnavailable("ThrottlingException (injected): Too many requests, please wait")
        return self.inner.embed(image)
