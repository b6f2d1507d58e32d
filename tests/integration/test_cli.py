"""The `docclass` command as a user runs it: serve in a subprocess, status, samples and demo."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from PIL import Image

from docclass_local.cli import main
from docclass_local.samples import CLASSES, documents
from docclass_local.stack import free_port


@pytest.fixture
def served():
    """`docclass serve` on a free port in its own process; yields (endpoint, process)."""
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "docclass_local.cli", "serve", "--port", str(port), "--bucket", "cli-test"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    ready = process.stdout.readline()
    assert "ready at" in ready, ready
    yield f"http://127.0.0.1:{port}", process
    if process.poll() is None:
        process.kill()


def test_serve_classifies_uploads_live_and_stops_cleanly_on_sigterm(served):
    endpoint, process = served
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    # given a gallery of two classes uploaded with a plain S3 client
    for label, name, data in documents(1, classes=("letter", "receipt")):
        s3.put_object(Bucket="cli-test", Key=f"gallery/{label}/{name}", Body=data)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "index       2 vectors" not in (line := process.stdout.readline()):
        pass
    # when a document arrives in the inbox
    ((_, _, data),) = documents(1, seed=3, classes=("receipt",))
    s3.put_object(Bucket="cli-test", Key="inbox/till roll.jpg", Body=data)
    line = ""
    while time.monotonic() < deadline and "inbox/till roll.jpg" not in line:
        line = process.stdout.readline()
    # then serve prints where it went, and the object is there
    assert "-> classified/receipt/till roll.jpg" in line
    s3.head_object(Bucket="cli-test", Key="classified/receipt/till roll.jpg")
    # and status (another process) agrees
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "docclass_local.cli",
            "status",
            "--endpoint-url",
            endpoint,
            "--bucket",
            "cli-test",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    status = json.loads(out)
    assert status["classified"] == {"receipt": 1}
    assert status["index"]["vectors"] == 2
    assert status["pending"] == 0
    # when SIGTERM arrives, serve exits 0 and says it stopped
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "stopping" in rest


def test_samples_writes_every_class(tmp_path: Path, capsys):
    assert main(["samples", str(tmp_path), "--per-class", "2"]) == 0
    for label in CLASSES:
        files = sorted((tmp_path / label).iterdir())
        assert len(files) == 2
        with Image.open(files[0]) as image:
            assert image.size[0] > 100
    assert f"wrote {2 * len(CLASSES)} documents" in capsys.readouterr().out


def test_demo_routes_everything_and_exits_zero(capsys, monkeypatch):
    # the packet is drawn with seeds of its own, never the gallery's (its pages would be examples)
    from docclass_local.samples import packets

    seeds: list[int] = []
    real_packet = packets.packet
    monkeypatch.setattr(
        packets, "packet", lambda labels, seed, dpi=150: seeds.append(seed) or real_packet(labels, seed, dpi)
    )
    assert main(["demo", "--gallery", "2", "--inbox", "1"]) == 0
    assert seeds and all(seed >= 10_000 for seed in seeds)
    out = capsys.readouterr().out
    assert "accuracy:" in out
    assert "offline stand-in" in out
    assert "PROBLEM" not in out
    # every image classified, and the packet split into at least two sections (a PDF of its own each)
    assert "packets split 1" in out
    # (ReviewMargin on: a close call waits under review/<label>/ instead of classified/)
    counts = re.search(r"status: classified (\d+), for review (\d+)", out)
    assert counts is not None
    sections = out.count("/demo/packet 001/part-")
    assert sections >= 2 and int(counts.group(1)) + int(counts.group(2)) == len(CLASSES) + sections
    # and it ends by saying how to open the review page on the demo's bucket
    assert "docclass demo --keep" in out and "docclass review --endpoint-url http://127.0.0.1:4566" in out


def test_demo_reports_documents_left_in_inbox_or_routed_twice(s3):
    from conftest import BUCKET
    from docclass.store import ObjectStore
    from docclass_local.demo import _results

    s3.put_object(
        Bucket=BUCKET,
        Key="classified/letter/demo/a.jpg",
        Body=b"x",
        Metadata={"docclass-label": "letter", "docclass-distance": "0.1"},
    )
    s3.put_object(Bucket=BUCKET, Key="inbox/demo/b.jpg", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="classified/letter/demo/c.jpg", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="failed/demo/c.jpg", Body=b"x")
    truth = {"inbox/demo/a.jpg": "letter", "inbox/demo/b.jpg": "form", "inbox/demo/c.jpg": "form"}
    rows, problems = _results(ObjectStore(BUCKET, s3), truth)
    assert [r["predicted"] for r in rows] == ["letter", None, None]
    assert any("inbox/demo/b.jpg is still in inbox/" in p for p in problems)
    assert any("inbox/demo/c.jpg found in 2 places" in p for p in problems)
    assert not any("demo/a.jpg" in p for p in problems)
