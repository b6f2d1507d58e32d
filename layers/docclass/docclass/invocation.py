"""One invocation's time and model budget: give messages back before Lambda's timeout or after a breaker trips.

A Lambda invocation that reaches its timeout returns nothing: its batchItemFailures are lost and,
as for any failed invocation, the whole SQS batch becomes visible again after the visibility
timeout, the messages already done included (Lambda developer guide:
https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html and
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html; the guide's earlier
retries page named timeouts explicitly, github.com/awsdocs/aws-lambda-developer-guide/pull/114).
Under throttling each such delivery counts towards maxReceiveCount: the whole batch can end in
the dead-letter queue. So before each message starts, the handlers check `context.get_remaining_time_in_millis()` against the worst case
of one message plus what they must keep to finish (the gallery's index commit, the response), and
report the messages they cannot finish in time as batch item failures instead.

Once the model has answered "throttled" after botocore's retries, or "misconfigured", calling it
for the rest of the batch only burns the quota and the clock: those messages go back unstarted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from docclass.bedrock import WORST_CASE_EMBED_SECONDS
from docclass.config import Settings
from docclass.errors import EmbeddingMisconfigured, EmbeddingThrottled, MessageDeferred
from docclass.observability import MetricUnit, error_once, metrics
from docclass.pdf_sandbox import PAGE_SECONDS

logger = Logger(child=True)


@dataclass(frozen=True)
class TimeBudget:
    """Milliseconds one invocation keeps in hand (all 0: no deadline checks, the breaker only).

    message_ms: the worst case of one message, checked before each message starts.
    embed_ms: the worst case of one fetch + model call started ahead of its message (the gallery's
        workers), checked before each such call.
    reserve_ms: what must remain after the last message: the gallery's commit, the response.
    """

    message_ms: int = 0
    embed_ms: int = 0
    reserve_ms: int = 0


NO_BUDGET = TimeBudget()

# The numbers below are checked against template.yaml's Timeout of each function in
# tests/unit/test_invocation.py (the worst case of one message plus the reserve must leave a margin).
_MODEL_WORST_MS = {"bedrock": int(WORST_CASE_EMBED_SECONDS * 1000), "local": 5_000}
# Drawing one PDF page: past this the renderer is stopped and the document refused (docclass.pages).
_PAGE_MS = int(PAGE_SECONDS * 1000)
# S3 round trips of one inbox document (get, head, copy, delete: well under a second each) and a
# reload of the index after a gallery change (423 MB at 100,000 x 1024: a few seconds).
_CLASSIFY_STORAGE_MS = 10_000
# One gallery image: its GetObject and the embedding-cache PutObject.
_GALLERY_STORAGE_MS = 2_000
# One index commit at 100,000 x 1024: read the 423 MB snapshot, apply, write 423 MB and the pointer,
# about 12 s at 80 MB/s; 60 s also covers a few re-applies after a lost pointer race.
_COMMIT_MS = 60_000
# Building the response and flushing the metrics.
_RETURN_MS = 2_000


def classify_budget(settings: Settings) -> TimeBudget:
    """ClassifyFunction (Timeout 90 s): with a Bedrock model, 10 s to draw a page + 33 s model + 10 s storage
    per message (and per further page of a PDF), 2 s kept: 55 s."""
    model = _MODEL_WORST_MS[settings.embedder]
    return TimeBudget(
        message_ms=_PAGE_MS + model + _CLASSIFY_STORAGE_MS, embed_ms=model, reserve_ms=_RETURN_MS
    )


def gallery_budget(settings: Settings) -> TimeBudget:
    """GalleryFunction (Timeout 300 s): with a Bedrock model, 10 s to draw a page + 33 s model + 2 s storage per
    image, 62 s kept: 107 s.

    Messages themselves need no time of their own here: their images are fetched and embedded by
    workers, each of which checks embed_ms before it starts; a message waits at most for its own
    worker, which started only while that left reserve_ms.
    """
    model = _MODEL_WORST_MS[settings.embedder]
    return TimeBudget(
        message_ms=0, embed_ms=_PAGE_MS + model + _GALLERY_STORAGE_MS, reserve_ms=_COMMIT_MS + _RETURN_MS
    )


def report_misconfigured(error: EmbeddingMisconfigured) -> None:
    """Count a misconfiguration every time; log it, with what to fix, once per container."""
    metrics.add_metric(name="EmbeddingMisconfigured", unit=MetricUnit.Count, value=1)
    error_once(
        f"the embedding model is misconfigured; messages go back to the queue until it is fixed: {error}",
        error=str(error),
        fix=error.fix,
    )


class InvocationGuard:
    """Decides, before each message or model call, whether it may start in this invocation.

    Thread-safe: the gallery's workers consult it too. The breaker trips on EmbeddingThrottled and
    EmbeddingMisconfigured, from any thread, and stays open until the invocation ends.
    """

    def __init__(self, context: Any, budget: TimeBudget = NO_BUDGET) -> None:
        self.budget = budget
        self._context = context
        self._lock = threading.Lock()
        self._breaker: str | None = None
        self._pending: list[EmbeddingMisconfigured] = []
        self._seen: list[EmbeddingMisconfigured] = []

    @property
    def breaker(self) -> str | None:
        """Why the model is not called any more in this invocation, or None."""
        return self._breaker

    def remaining_ms(self) -> int | None:
        """Lambda's remaining time, or None without a context that knows it."""
        getter = getattr(self._context, "get_remaining_time_in_millis", None)
        return None if getter is None else int(getter())

    def admit(self, need_ms: int) -> None:
        """Raise MessageDeferred unless work needing need_ms can start and still leave the reserve."""
        if self._breaker is not None:
            raise MessageDeferred(f"not started: {self._breaker}")
        remaining = self.remaining_ms()
        if remaining is not None and remaining < need_ms + self.budget.reserve_ms:
            raise MessageDeferred(
                f"not started: {remaining} ms left, and it may need {need_ms} ms plus "
                f"{self.budget.reserve_ms} ms to finish the invocation"
            )

    def admit_message(self) -> None:
        """Before a message: its worst case must fit."""
        self.admit(self.budget.message_ms)

    def admit_embed(self) -> None:
        """Before a fetch + model call started ahead of its message."""
        self.admit(self.budget.embed_ms)

    def observe(self, error: BaseException) -> None:
        """Trip the breaker on throttling or misconfiguration; remember a misconfiguration to report."""
        if not isinstance(error, EmbeddingThrottled | EmbeddingMisconfigured):
            return
        with self._lock:
            if self._breaker is None:
                self._breaker = f"the model answered {type(error).__name__} earlier in this batch ({error})"
            # The same exception may be observed twice: in a worker, then where its message is decided.
            if isinstance(error, EmbeddingMisconfigured) and not any(e is error for e in self._seen):
                self._seen.append(error)
                self._pending.append(error)

    def flush(self) -> None:
        """Report the misconfigurations observed (call from the invocation's own thread)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for error in pending:
            report_misconfigured(error)
