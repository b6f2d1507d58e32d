"""The S3 adapter's error mapping for SSE-KMS objects S3 will not decrypt (no network: a fake client)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from docclass.errors import ObjectUnreadable, StorageError
from docclass.store import ObjectStore

KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# The form of S3's answer to GetObject / CopyObject of an SSE-KMS object without kms:Decrypt.
KMS_DENIED = (
    "User: arn:aws:sts::111122223333:assumed-role/docclass-classify/docclass-classify is not "
    f"authorized to perform: kms:Decrypt on resource: {KEY_ARN} because no identity-based policy "
    "allows the kms:Decrypt action"
)


class Refusing:
    """An S3 client whose every call fails with the given error."""

    def __init__(self, code: str, message: str) -> None:
        self.error = ClientError(
            {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}},
            "GetObject",
        )

    def get_object(self, **_: Any) -> Any:
        raise self.error

    def copy_object(self, **_: Any) -> Any:
        raise self.error


def test_access_denied_naming_kms_decrypt_is_an_unreadable_object_with_its_key():
    store = ObjectStore("bucket", Refusing("AccessDenied", KMS_DENIED))
    with pytest.raises(ObjectUnreadable) as caught:
        store.get("inbox/a.png")
    assert caught.value.key_arn == KEY_ARN


def test_a_refused_copy_is_an_unreadable_object_too():
    store = ObjectStore("bucket", Refusing("AccessDenied", KMS_DENIED))
    with pytest.raises(ObjectUnreadable):
        store.copy("inbox/a.png", "classified/x/a.png", metadata={})


@pytest.mark.parametrize("code", ["KMS.DisabledException", "KMS.NotFoundException"])
def test_a_disabled_or_deleted_kms_key_is_an_unreadable_object(code):
    with pytest.raises(ObjectUnreadable):
        ObjectStore("bucket", Refusing(code, "key is disabled")).get("inbox/a.png")


def test_access_denied_for_s3_itself_stays_a_retried_storage_error():
    # a missing s3:GetObject is a deployment fault: retried, then dead-lettered, as before
    store = ObjectStore("bucket", Refusing("AccessDenied", "Access Denied"))
    with pytest.raises(StorageError) as caught:
        store.get("inbox/a.png")
    assert not isinstance(caught.value, ObjectUnreadable)
