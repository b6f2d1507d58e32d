"""The S3 adapter: the only module that calls S3; ClientError codes become docclass exceptions."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from docclass.aws import bounded_config, new_client
from docclass.errors import ObjectNotFound, ObjectUnreadable, PreconditionFailed, StorageError

# Bounded like the Bedrock client (bedrock.py), so that one S3 call cannot outlast an invocation:
#   worst case = 3 attempts x (3 s + 10 s) + backoffs (1 s + 2 s) = 42 s (aws.worst_case_seconds)
# The read timeout bounds each read of an answer, not a whole download: a 423 MB index snapshot
# streams in many reads. botocore's default (legacy mode, 5 attempts, 60 s + 60 s) was 10 minutes.
S3_MAX_ATTEMPTS = 3
S3_CONNECT_TIMEOUT = 3
S3_READ_TIMEOUT = 10

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes (None for a HEAD) and the attributes docclass cares about."""

    key: str
    etag: str
    size: int
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    kms_key_id: str | None = None  # the KMS key of an SSE-KMS object (SSEKMSKeyId), else None


@dataclass(frozen=True)
class Written:
    """What a PUT created: the new ETag, and the version id when the bucket is versioned."""

    etag: str
    version_id: str | None = None


@dataclass(frozen=True)
class Listed:
    """One key of a listing, with its last-modified time."""

    key: str
    last_modified: datetime


class ObjectStore:
    """One bucket. The boto3 client is created on first use so tests can inject moto or a fake first.

    `AWS_ENDPOINT_URL` (read by boto3 itself) points it at a local S3 such as moto's server.
    """

    def __init__(self, bucket: str, s3_client: Any = None) -> None:
        self.bucket = bucket
        self._client = s3_client

    @property
    def client(self) -> Any:
        """The S3 client, created lazily."""
        if self._client is None:
            self._client = new_client(
                "s3", config=bounded_config(S3_MAX_ATTEMPTS, S3_CONNECT_TIMEOUT, S3_READ_TIMEOUT)
            )
        return self._client

    def get(
        self, key: str, *, if_none_match: str | None = None, max_bytes: int | None = None
    ) -> StoredObject | None:
        """Fetch an object; None when if_none_match equals its current ETag (not modified).

        max_bytes: when the response's Content-Length is larger, the body is not read (the
        stream is closed) and the object comes back with body=None and its real size. This one
        request does what a HEAD before the GET would, and also holds when the object was
        replaced by a larger one after the event that named it.
        """
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if if_none_match:
            params["IfNoneMatch"] = if_none_match
        try:
            response = self.client.get_object(**params)
            length = int(response.get("ContentLength", 0) or 0)
            if max_bytes is not None and length > max_bytes:
                response["Body"].close()
                body = None
            else:
                body = response["Body"].read()
        except ClientError as exc:
            if _code(exc) in {"304", "NotModified"}:
                return None
            raise _translate(exc, key) from exc
        except BotoCoreError as exc:
            raise StorageError(f"s3 get {key}: {exc}") from exc
        return StoredObject(
            key=key,
            etag=response["ETag"],
            size=length if body is None else len(body),
            content_type=response.get("ContentType"),
            metadata=response.get("Metadata", {}),
            body=body,
            kms_key_id=_kms_key_id(response),
        )

    def head(self, key: str) -> StoredObject | None:
        """The object's attributes, or None when it does not exist."""
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            error = _translate(exc, key)
            if isinstance(error, ObjectNotFound):
                return None
            raise error from exc
        except BotoCoreError as exc:
            raise StorageError(f"s3 head {key}: {exc}") from exc
        return StoredObject(
            key=key,
            etag=response["ETag"],
            size=response.get("ContentLength", 0),
            content_type=response.get("ContentType"),
            metadata=response.get("Metadata", {}),
            kms_key_id=_kms_key_id(response),
        )

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        kms_key_id: str | None = None,
    ) -> Written:
        """Write an object, optionally only if its ETag matches / it does not exist; kms_key_id:
        encrypt it with that KMS key (SSE-KMS), else the bucket's default encryption applies."""
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            "Metadata": dict(metadata or {}),
        }
        if kms_key_id:
            params["ServerSideEncryption"] = "aws:kms"
            params["SSEKMSKeyId"] = kms_key_id
        if if_match:
            params["IfMatch"] = if_match
        if if_none_match:
            params["IfNoneMatch"] = if_none_match
        try:
            response = self.client.put_object(**params)
        except ClientError as exc:
            raise _translate(exc, key) from exc
        except BotoCoreError as exc:
            raise StorageError(f"s3 put {key}: {exc}") from exc
        return Written(str(response["ETag"]), _version(response))

    def copy(
        self,
        source_key: str,
        destination_key: str,
        *,
        metadata: Mapping[str, str],
        content_type: str | None = None,
        source_etag: str | None = None,
        if_none_match: str | None = None,
        kms_key_id: str | None = None,
    ) -> None:
        """Server-side copy with new user metadata; only if the source still has source_etag and,
        with if_none_match='*', only if nothing exists at the destination (PreconditionFailed).

        kms_key_id: encrypt the copy with this KMS key (SSE-KMS). Without it S3 encrypts the copy
        with the bucket's default encryption, whatever the source's was (CopyObject,
        ServerSideEncryption: https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html).
        """
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": destination_key,
            "CopySource": {"Bucket": self.bucket, "Key": source_key},
            "MetadataDirective": "REPLACE",
            "Metadata": dict(metadata),
        }
        if content_type:
            params["ContentType"] = content_type
        if source_etag:
            params["CopySourceIfMatch"] = source_etag
        if if_none_match:
            # S3 CopyObject's If-None-Match: "copies the object only if the object key name at the
            # destination does not already exist", else 412 (409 on a concurrent write of the key).
            # https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
            params["IfNoneMatch"] = if_none_match
        if kms_key_id:
            params["ServerSideEncryption"] = "aws:kms"
            params["SSEKMSKeyId"] = kms_key_id
        try:
            self.client.copy_object(**params)
        except ClientError as exc:
            raise _translate(exc, source_key) from exc
        except BotoCoreError as exc:
            raise StorageError(f"s3 copy {source_key} -> {destination_key}: {exc}") from exc

    def delete(self, key: str, *, if_match: str | None = None, version_id: str | None = None) -> None:
        """Delete an object (S3 answers success when it is already gone).

        if_match: only while the current version still has this ETag; otherwise PreconditionFailed,
        and ObjectNotFound when there is no current version (S3's conditional deletes,
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html).
        version_id: remove that version for good instead of adding a delete marker (versioned bucket).
        """
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if if_match:
            params["IfMatch"] = if_match
        if version_id:
            params["VersionId"] = version_id
        try:
            self.client.delete_object(**params)
        except ClientError as exc:
            raise _translate(exc, key) from exc
        except BotoCoreError as exc:
            raise StorageError(f"s3 delete {key}: {exc}") from exc

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key under prefix."""
        yield from (item["Key"] for page in self._pages(prefix) for item in page.get("Contents", []))

    def list_objects(self, prefix: str) -> Iterator[Listed]:
        """Every key under prefix with its last-modified time."""
        for page in self._pages(prefix):
            for item in page.get("Contents", []):
                yield Listed(item["Key"], item["LastModified"])

    def list_folders(self, prefix: str) -> list[str]:
        """The next path segment of every key under prefix (S3 CommonPrefixes, without the slash)."""
        folders = []
        for page in self._pages(prefix, delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                folders.append(common["Prefix"][len(prefix) :].rstrip("/"))
        return folders

    def _pages(self, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            params["Delimiter"] = delimiter
        try:
            yield from self.client.get_paginator("list_objects_v2").paginate(**params)
        except ClientError as exc:
            raise _translate(exc, prefix) from exc
        except BotoCoreError as exc:
            raise StorageError(f"s3 list {prefix}: {exc}") from exc


def _version(response: Mapping[str, Any]) -> str | None:
    # Unversioned buckets answer without a version id (or, through some endpoints, "null").
    version = response.get("VersionId")
    return None if not version or version == "null" else str(version)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _kms_key_id(response: Mapping[str, Any]) -> str | None:
    if response.get("ServerSideEncryption") not in {"aws:kms", "aws:kms:dsse"}:
        return None
    return str(response.get("SSEKMSKeyId") or "") or None


# S3 answers GetObject / CopyObject of an SSE-KMS object whose key the caller may not use with
# 403 AccessDenied, and names the KMS action in the message ("... is not authorized to perform:
# kms:Decrypt on resource: arn:aws:kms:..."); a disabled or deleted key gives KMS.* codes.
# https://repost.aws/knowledge-center/decrypt-kms-encrypted-objects-s3
_KMS_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")


def _kms_denial(code: str, message: str) -> bool:
    return code.startswith("KMS.") or (code in {"AccessDenied", "403"} and "kms:" in message.lower())


def _translate(exc: ClientError, key: str) -> StorageError:
    code = _code(exc)
    message = exc.response.get("Error", {}).get("Message", "") or code
    if code in _NOT_FOUND:
        return ObjectNotFound(f"{key}: no such object")
    if _kms_denial(code, message):
        arn = _KMS_ARN.search(message)
        return ObjectUnreadable(f"{key}: {code} {message}", arn.group(0) if arn else None)
    if code in _PRECONDITION:
        return PreconditionFailed(f"{key}: {message}")
    return StorageError(f"s3 {exc.operation_name} {key}: {code} {message}".strip())
