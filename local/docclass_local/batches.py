"""Console lines for what one handler invocation of the local stack did (serve and demo print them)."""

from __future__ import annotations

from typing import Any

from docclass_local.status import locate


def describe_batch(stack: Any, report: Any) -> list[str]:
    """Console lines for one handler invocation: one per document or gallery change."""
    lines = []
    failed = set(report.failed)
    dead = set(report.dead_lettered)
    for key in report.keys:
        if key in dead:
            lines.append(
                f"dead-letter {key}: failed on every delivery, message moved to the dead-letter queue"
            )
        elif key in failed:
            lines.append(f"retry       {key}: {report.error or 'failed; will be retried'}")
        elif report.function == "GalleryFunction":
            lines.append(f"gallery     {key}")
        else:
            found = locate(stack.client("s3"), stack.bucket, key) if key.startswith("inbox/") else None
            if found is None:
                lines.append(f"inbox       {key}: not routed")
                continue
            destination, meta = found
            detail = meta.get("docclass-error") or (
                f"label={meta.get('docclass-label') or '-'} distance={meta.get('docclass-distance', '-')}"
                + (f" margin={meta['docclass-margin']}" if "docclass-margin" in meta else "")
            )
            lines.append(f"routed      {key} -> {destination}  {detail}")
    if report.function == "GalleryFunction" and len(report.keys) > len(failed):
        index = stack.status()["index"]
        lines.append(
            f"index       {index['vectors']} vectors: "
            + ", ".join(f"{label} {n}" for label, n in index["labels"].items())
        )
    return lines
