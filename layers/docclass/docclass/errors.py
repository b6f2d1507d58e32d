"""The one exception tree of docclass: callers decide retry or route by class, never by message.

DocclassError
├── ConfigError             a missing or invalid setting; fails at start-up
├── InvalidDocument         the document itself is at fault: route it to failed/ (never retried)
│   ├── UnreadableImage     not an image we can decode, empty, truncated, a decompression bomb
│   ├── DocumentTooLarge    its bytes or its decoded pixels do not fit the function's memory budget
│   ├── EmbeddingRejected   the model refused this image (a ValidationException about the input)
│   └── InvalidGalleryKey   a gallery object with no usable label
├── IndexUnusable           the stored index cannot be used as it is and retrying will not change
│   │                       that: someone must act (the message says what); the message is retried,
│   │                       then dead-lettered, and the functions log it once per container
│   ├── CorruptIndex        a snapshot that cannot be read back (truncated, inconsistent)
│   ├── UnknownIndexFormat  a snapshot in a format this code does not read (another docclass version)
│   └── MalformedPointer    the pointer object is not the JSON document docclass writes
├── EmbeddingUnavailable    the model could not answer now (timed out, unreachable, model error):
│   │                       the message goes back to SQS, and after its retries to the DLQ
│   ├── EmbeddingThrottled      throttled or over quota after botocore's retries: also stops the
│   │                           rest of the invocation's batch from calling the model
│   └── EmbeddingMisconfigured  the deployment is wrong (model id, model access, region, IAM), not
│                               the document: back to the queue, logged once per container, and
│                               the rest of the batch is not sent to the model either
├── MessageDeferred         a message not started in this invocation (too little time left, or the
│                           model throttled / misconfigured earlier in the batch): back to SQS
└── StorageError            S3 failed in a way the caller cannot fix here (retried through SQS)
    ├── ObjectNotFound      the key does not exist (any more)
    ├── ObjectUnreadable    SSE-KMS under a key the function may not use (no kms:Decrypt): left
    │                       where it is, logged and counted, never retried (KmsKeyArn fixes it)
    ├── PreconditionFailed  a conditional write lost the race (HTTP 412)
    └── IndexConflict       the index pointer swap kept losing races; the batch is retried
"""

from __future__ import annotations


class DocclassError(Exception):
    """Base of every error docclass raises on purpose."""


class ConfigError(DocclassError):
    """A required setting is missing or has an invalid value."""


class InvalidDocument(DocclassError):
    """The document cannot be classified whatever we retry; it belongs in failed/."""


class UnreadableImage(InvalidDocument):
    """The bytes are not a decodable, safe image."""


class DocumentTooLarge(InvalidDocument):
    """Downloading or decoding the document would not fit the function's memory (docclass.memory)."""


class EmbeddingRejected(InvalidDocument):
    """The embedding model refused this input (for Titan: ValidationException)."""


class InvalidGalleryKey(InvalidDocument):
    """A gallery object whose key and metadata give no valid label."""


class IndexUnusable(DocclassError):
    """The stored index cannot be used until someone acts; the message says what to do."""


class CorruptIndex(IndexUnusable):
    """A stored index snapshot that cannot be read back."""


class UnknownIndexFormat(IndexUnusable):
    """A stored index snapshot written in a format this code does not read."""


class MalformedPointer(IndexUnusable):
    """The index pointer object is not what docclass writes."""


class EmbeddingUnavailable(DocclassError):
    """The embedding model cannot answer now; retry later through the queue."""


class EmbeddingThrottled(EmbeddingUnavailable):
    """The model refused for rate or quota (ThrottlingException, ServiceQuotaExceededException)."""


class EmbeddingMisconfigured(EmbeddingUnavailable):
    """The model cannot be called as deployed; `fix` says what to change. Never the document's fault."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(f"{message} {fix}".strip())
        self.fix = fix


class MessageDeferred(DocclassError):
    """A message given back unstarted, so that the invocation ends before its timeout or breaker."""


class StorageError(DocclassError):
    """An S3 call failed; the message is retried through the queue."""


class ObjectNotFound(StorageError):
    """The object does not exist."""


class ObjectUnreadable(StorageError):
    """S3 refused to decrypt the object (SSE-KMS under a key this function is not granted).

    Retrying cannot help and the object cannot be copied to failed/ either: the caller leaves it
    where it is and says which KMS key to grant (template parameter KmsKeyArn).
    """

    def __init__(self, message: str, key_arn: str | None = None) -> None:
        super().__init__(message)
        self.key_arn = key_arn


class PreconditionFailed(StorageError):
    """A conditional request (IfMatch / IfNoneMatch) did not hold."""


class IndexConflict(StorageError):
    """The index pointer kept changing under us; give the batch back to the queue."""
