"""The S3 adapter: the only module that calls S3; ClientError codes become docclass exceptions."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from docclass.aws import new_client
from docclass.errors import ObjectNotFound, ObjectUnreadable, PreconditionFailed, StorageError

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
            self._client = new_client("s3")
        return self._client

    def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject | None:
        """Fetch an object; None when if_none_match equals its current ETag (not modified)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if if_none_match:
            params["IfNoneMatch"] = if_none_match
        try:
            response = self.client.get_object(**params)
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
            size=len(body),
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
    ) -> str:
        """Write an object, optionally only if its ETag matches / it does not exist; returns the ETag."""
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            "Metadata": dict(metadata or {}),
        }
        if if_match:
            params["IfMatch"] = if_match
        if if_none_match:
            params["IfNoneMatch"] = if_none_match
        try:
            return str(self.client.put_object(**params)["ETag"])
        except ClientError as exc:
            raise _translate(exc, key) from exc
        except BotoCoreError as exc:
            raise StorageError(f"s3 put {key}: {exc}") from exc

    def copy(
        self,
        source_key: str,
        destination_key: str,
        *,
        metadata: Mapping[str, str],
        content_type: str | None = None,
        source_etag: str | None = None,
        kms_key_id: str | None = None,
    ) -> None:
        """Server-side copy with new user metadata; only if the source still has source_etag.

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
        if kms_key_id:
            params["ServerSideEncryption"] = "aws:kms"
            params["SSEKMSKeyId"] = kms_key_id
        try:
            self.client.copy_object(**params)
        except ClientError as exc:
            raise _translate(exc, source_key) from exc
        except BotoCoreError as exc:
            raise StorageError(f"s3 copy {source_key} -> {destination_key}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Delete an object (S3 answers success when it is already gone)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            raise _translate(exc, key) from exc
        except BotoCoreError as exc:
            raise StorageError(f"s3 delete {key}: {exc}") from exc

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key under prefix."""
        yield from (item["Key"] for page in self._pages(prefix) for item in page.get("Contents", []))

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
