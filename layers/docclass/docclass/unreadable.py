"""Objects S3 will not decrypt for us: SSE-KMS under a KMS key the functions are not granted.

S3 answers GetObject and CopyObject of such an object with 403 AccessDenied naming kms:Decrypt,
so it can be neither classified nor copied to failed/, and no retry can change that: the object
stays where it is, every one is counted (metric DocumentsUnreadable), and each container says
once per KMS key what to set (the template parameter KmsKeyArn). HeadObject returns the object's
KMS key without decrypting anything, so the key can be named even when S3's message does not.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from docclass.errors import ObjectUnreadable, StorageError
from docclass.observability import MetricUnit, error_once, metrics
from docclass.store import ObjectStore

logger = Logger(child=True)

METRIC = "DocumentsUnreadable"


def report_unreadable(store: ObjectStore, key: str, error: ObjectUnreadable) -> str:
    """Count an object S3 would not decrypt, explain the remedy once per key; returns the reason."""
    kms_key = error.key_arn or _kms_key_of(store, key) or "(unknown key)"
    reason = f"encrypted (SSE-KMS) with {kms_key}, which this function may not use"
    metrics.add_metric(name=METRIC, unit=MetricUnit.Count, value=1)
    first = error_once(
        f"objects encrypted with the KMS key {kms_key} cannot be read; they stay where they are",
        kms_key=kms_key,
        remedy=(
            f"deploy with the parameter KmsKeyArn={kms_key} (sam deploy --parameter-overrides), "
            "make sure the key policy lets the account's IAM policies grant it, then upload "
            "the objects again (or copy each onto itself) so that S3 sends a new event"
        ),
        reason=str(error),
    )
    if not first:
        logger.info("object unreadable (SSE-KMS); left where it is", extra={"kms_key": kms_key})
    return reason


def _kms_key_of(store: ObjectStore, key: str) -> str | None:
    try:
        head = store.head(key)
    except StorageError:
        return None
    return None if head is None else head.kms_key_id
