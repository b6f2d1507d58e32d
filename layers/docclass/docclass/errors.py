"""The one exception tree of docclass: callers decide retry or route by class, never by message.

DocclassError
├── ConfigError             a missing or invalid setting; fails at start-up
├── InvalidDocument         the document itself is at fault: route it to failed/ (never retried)
│   ├── UnreadableImage     not an image we can decode, empty, truncated, a decompression bomb
│   ├── EmbeddingRejected   the model refused this input (Bedrock ValidationException)
│   └── InvalidGalleryKey   a gallery object with no usable label
├── EmbeddingUnavailable    the model could not answer now (throttled, timed out, quota, denied):
│                           the message goes back to SQS, and after its retries to the DLQ
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


class EmbeddingRejected(InvalidDocument):
    """The embedding model refused this input (for Titan: ValidationException)."""


class InvalidGalleryKey(InvalidDocument):
    """A gallery object whose key and metadata give no valid label."""


class EmbeddingUnavailable(DocclassError):
    """The embedding model cannot answer now; retry later through the queue."""


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
