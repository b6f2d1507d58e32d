"""Memory budgets: how many bytes one document may take to download and decode in each function.

A Lambda function that runs out of memory dies with its whole batch: the other documents come
back with the bad one until all are dead-lettered, and the bad one never reaches failed/. So each
function decides, before it downloads an object and before it decodes a pixel, whether the
document fits what is left of its memory once the rest of the function is counted; a document
that does not fit goes to failed/ with the numbers. The budget is derived from the function's
MemorySize (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, through Settings) and is the same for every
document, whatever the gallery holds today: a document refused now is refused tomorrow.
"""

from __future__ import annotations

from dataclasses import dataclass

from docclass.errors import ConfigError, DocumentTooLarge

MB = 1024 * 1024

# What every function holds before it touches a document: the interpreter with numpy, faiss,
# Pillow, boto3 and Powertools imported measured 104 MB (bench/results/scale.md, "imports only");
# the Lambda runtime client, botocore's connection pools and allocator slack come on top.
RUNTIME_MB = 128
# ClassifyFunction keeps the gallery index in memory across invocations. template.yaml sizes its
# 1024 MB for a gallery of up to 100,000 vectors at 1024 dimensions, which took 480 MB beyond the
# imports once loaded and searched (bench/results/scale.md). The reserve does not shrink for a
# smaller gallery, so that whether a document fits does not depend on the gallery's size.
CLASSIFY_INDEX_MB = 480
# After the decode, each document in flight still holds its page (at most 2048 x 2048 x 4 bytes =
# 16 MB), its JPEG re-encode, the base64 request and the embedder's working arrays: the page plus
# 12-14 MB measured for the offline embedder on a 2048 px page (bench/results/memory.md), and a
# Titan request and response of a few MB.
AFTER_DECODE_MB = 48
# The document's bytes are held while they are read from S3 (the HTTP read buffer and the bytes
# object can coexist) and for the whole decode, so an object may use at most half the budget.
OBJECT_SHARE = 2
# A 300-dpi letter JPEG needs 116 MB by the estimate (64 MB measured), its file included: a
# function whose share is smaller would refuse ordinary scans, so it refuses to start instead.
MIN_DOCUMENT_MB = 120


@dataclass(frozen=True)
class MemoryBudget:
    """The bytes one document may take in one function: downloaded object plus decode peak."""

    function: str
    memory_mb: int
    reserved_mb: int
    in_flight: int = 1

    def __post_init__(self) -> None:
        if self.in_flight < 1:
            raise ValueError(f"in_flight must be at least 1, got {self.in_flight}")
        if self.per_document < MIN_DOCUMENT_MB * MB:
            raise ConfigError(
                f"{self.function}: MemorySize {self.memory_mb} MB leaves {self.per_document // MB} MB per "
                f"document ({self.reserved_mb} MB reserved, {self.in_flight} at once); at least "
                f"{MIN_DOCUMENT_MB} MB are needed: raise MemorySize"
            )

    @property
    def per_document(self) -> int:
        """Bytes one document may use from download to decoded page (object + decode peak)."""
        share = (self.memory_mb - self.reserved_mb) * MB // self.in_flight
        return share - AFTER_DECODE_MB * MB

    @property
    def max_object_bytes(self) -> int:
        """The largest object worth downloading at all."""
        return self.per_document // OBJECT_SHARE

    def describe(self) -> str:
        """Where the budget comes from, for error messages and logs."""
        at_once = f", {self.in_flight} documents at once" if self.in_flight > 1 else ""
        return (
            f"the budget is {self.per_document / MB:,.0f} MB per document "
            f"({self.function} MemorySize {self.memory_mb} MB{at_once})"
        )

    def check_object(self, size: int) -> None:
        """Refuse an object too large to download, before downloading it."""
        if size > self.max_object_bytes:
            raise DocumentTooLarge(
                f"document is {size} bytes; the limit is {self.max_object_bytes} ({self.describe()})"
            )

    def check_decode(self, need: int, held: int, what: str) -> None:
        """Refuse a decode whose estimated peak, with the object's bytes, exceeds the budget."""
        if need + held > self.per_document:
            raise DocumentTooLarge(
                f"image too large to decode in memory: {what} needs about {need / MB:,.0f} MB "
                f"(plus its {held / MB:,.1f} MB file); {self.describe()}"
            )


def classify_budget(memory_mb: int) -> MemoryBudget:
    """ClassifyFunction: one document at a time, next to the gallery index it keeps loaded."""
    return MemoryBudget("ClassifyFunction", memory_mb, RUNTIME_MB + CLASSIFY_INDEX_MB)


def gallery_budget(memory_mb: int, embed_concurrency: int) -> MemoryBudget:
    """GalleryFunction: embed_concurrency images decoded at once, each with an equal share.

    The index is loaded only in commit(), after the batch's images were embedded and released
    (GalleryIndexer.handle_event), so it shares no moment with a decode. An equal share, rather
    than one pool the threads draw from, keeps the rule simple and the outcome deterministic: an
    image is accepted or refused on its own header, never because of what else was in its batch.
    """
    return MemoryBudget("GalleryFunction", memory_mb, RUNTIME_MB, embed_concurrency)
