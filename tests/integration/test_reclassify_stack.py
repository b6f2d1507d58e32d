"""`docclass reclassify` end to end on the local stack: S3 events, SQS and ClassifyFunction running
on their own threads while the command works, as on AWS."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest

from conftest import QUICK_STACK, draw_page
from docclass_local.cli import main
from docclass_local.faults import SimulatedCrash
from docclass_local.reclassify import Options, run_command
from docclass_local.stack import LocalStack

KINDS = ("invoice", "letter", "form")


def contents(s3: Any, bucket: str) -> dict[str, list[str]]:
    """{SHA-256: keys} of every document-holding key (inbox, routed, staged)."""
    held: dict[str, list[str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.split("/", 1)[0] in {"inbox", "classified", "unclassified", "failed", "reclassify"}:
                data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                held.setdefault(hashlib.sha256(data).hexdigest(), []).append(key)
    return held


def test_an_interrupted_reclassify_run_twice_on_the_local_stack_leaves_each_document_once(capsys):
    with LocalStack(
        port=None, **QUICK_STACK, bucket="docclass-reclassify", parameters={"IndexRefreshSeconds": "0"}
    ) as stack:
        s3, bucket = stack.client("s3"), stack.bucket
        # given documents classified while only invoices had examples: all went to classified/invoice/
        for i in range(2):
            s3.put_object(Bucket=bucket, Key=f"gallery/invoice/invoice-{i}.png", Body=draw_page("invoice", i))
        stack.wait_until_idle(timeout=90)
        truth = {}
        for kind in KINDS:
            for seed in (50, 51):
                data = draw_page(kind, seed)
                s3.put_object(Bucket=bucket, Key=f"inbox/{kind}-{seed}.png", Body=data)
                truth[hashlib.sha256(data).hexdigest()] = f"classified/{kind}/{kind}-{seed}.png"
        stack.wait_until_idle(timeout=90)
        assert sorted(k for ks in contents(s3, bucket).values() for k in ks) == sorted(
            f"classified/invoice/{kind}-{seed}.png" for kind in KINDS for seed in (50, 51)
        )
        # and examples of the other kinds added since
        for kind in ("letter", "form"):
            for i in range(2):
                s3.put_object(Bucket=bucket, Key=f"gallery/{kind}/{kind}-{i}.png", Body=draw_page(kind, i))
        stack.wait_until_idle(timeout=90)
        # when a run dies as it sends its third document, while the function routes what it sent
        dying = stack.client("s3")
        copies = []

        def crash_on_third_send(params: dict[str, Any], **_: Any) -> None:
            if params["Key"].startswith("inbox/"):
                copies.append(params["Key"])
                if len(copies) == 3:
                    raise SimulatedCrash("injected: the CLI died right after sending its third document")

        # before the request is sent: the third document is then only in its staging copy
        dying.meta.events.register(
            "provide-client-params.s3.CopyObject", lambda params, **kw: crash_on_third_send(params)
        )
        with pytest.raises(SimulatedCrash):
            run_command(
                dying,
                bucket,
                Options("classified/invoice/", yes=True),
                out=io.StringIO(),
                confirm=lambda _: True,
                progress_stream=io.StringIO(),
            )
        stack.wait_until_idle(timeout=90)
        # and the same command is run again, as a user would
        capsys.readouterr()
        code = main(
            [
                *("reclassify", "--from", "classified/invoice/", "--endpoint-url", stack.endpoint_url),
                *("--bucket", bucket, "--yes"),
            ]
        )
        out = capsys.readouterr().out
        stack.wait_until_idle(timeout=90)
        # then every document is once, under its own kind, and the run is closed
        assert code == 0, out
        assert "resuming the interrupted run" in out
        held = contents(s3, bucket)
        assert held == {digest: [key] for digest, key in truth.items()}
