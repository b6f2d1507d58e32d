"""S3's SSE-KMS access check for the functions of the local stack (moto enforces no KMS permission).

On AWS, GetObject and CopyObject of an object encrypted with a customer managed KMS key need
kms:Decrypt on that key, and writing a copy encrypted with it needs kms:GenerateDataKey; without
them S3 answers 403 AccessDenied and names the KMS action and key in its message.
https://repost.aws/knowledge-center/decrypt-kms-encrypted-objects-s3
https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html

The functions' role is granted exactly the key of the template parameter KmsKeyArn (none when it
is empty), so this hook, on the session the functions' clients come from, answers the same way
for any other key. An object uploaded with `aws:kms` and no key id uses the AWS managed key
aws/s3, whose key policy lets every principal of the account use it through S3: readable.
HeadObject decrypts nothing and is let through, as S3 does. Objects under index/ and embeddings/
are written by the functions themselves with the bucket's default encryption and are not checked.
The object's encryption is looked up in moto's own S3 backend (the local stack's server and the
tests' mock run in this process), not with a HEAD: the check costs no request. A HEAD per read
made the 240-document fault test 28 s (27%) slower.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote

from botocore.exceptions import ClientError

from docclass.config import EMBEDDINGS_PREFIX, INDEX_PREFIX

ROLE = "arn:aws:sts::123456789012:assumed-role/docclass-local-function-role/docclass-local"


class KmsAccessCheck:
    """Refuses the functions' reads and copies of SSE-KMS objects under keys they are not granted."""

    def __init__(
        self,
        granted: Iterable[str],
        encryption_of: Callable[[str, str, str | None], tuple[str, str] | None] | None = None,
    ) -> None:
        self.granted = {key for key in granted if key}
        self._encryption_of = encryption_of or _moto_encryption_of
        self.refused: list[str] = []

    def install(self, events: Any) -> None:
        """Register on a botocore event emitter (a boto3 Session's `.events`)."""
        events.register("before-parameter-build.s3.GetObject", self._check_get)
        events.register("before-parameter-build.s3.CopyObject", self._check_copy)

    def _check_get(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        extra = {"VersionId": params["VersionId"]} if params.get("VersionId") else {}
        self._check_source(model.name, params["Bucket"], params["Key"], extra)

    def _check_copy(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        source = params["CopySource"]
        if isinstance(source, str):
            path, _sep, query = source.partition("?")
            bucket, key = unquote(path).lstrip("/").split("/", 1)
            version = parse_qs(query).get("versionId", [""])[0]
        else:
            bucket, key, version = source["Bucket"], source["Key"], source.get("VersionId", "")
        self._check_source(model.name, bucket, key, {"VersionId": version} if version else {})
        destination_key = params.get("SSEKMSKeyId")
        if params.get("ServerSideEncryption") == "aws:kms" and destination_key:
            self._refuse_unless_granted(model.name, "kms:GenerateDataKey", destination_key, params["Key"])

    def _check_source(self, operation: str, bucket: str, key: str, extra: dict[str, str]) -> None:
        if key.startswith((INDEX_PREFIX, EMBEDDINGS_PREFIX)):
            return
        found = self._encryption_of(bucket, key, extra.get("VersionId"))
        if found is None:
            return  # missing: the real call gives the real answer
        algorithm, kms_key = found
        if algorithm in {"aws:kms", "aws:kms:dsse"} and kms_key:
            self._refuse_unless_granted(operation, "kms:Decrypt", kms_key, key)

    def _refuse_unless_granted(self, operation: str, action: str, kms_key: str, key: str) -> None:
        if kms_key in self.granted:
            return
        self.refused.append(key)
        response: Any = {
            "Error": {
                "Code": "AccessDenied",
                "Message": (
                    f"User: {ROLE} is not authorized to perform: {action} on resource: {kms_key} "
                    f"because no identity-based policy allows the {action} action"
                ),
            },
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }
        raise ClientError(response, operation)


def _moto_encryption_of(bucket: str, key: str, version_id: str | None) -> tuple[str, str] | None:
    """(ServerSideEncryption, SSEKMSKeyId) of an object in moto's in-process S3, None if absent."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    try:
        obj = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key, version_id=version_id)
    except Exception:  # no such bucket or version: the real call answers
        return None
    if obj is None:
        return None
    return str(getattr(obj, "encryption", "") or ""), str(getattr(obj, "kms_key_id", "") or "")
