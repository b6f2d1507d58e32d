"""redrive, backfill and status as a user runs them against the local stack (both functions live)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import QUICK_STACK
from docclass_local.cli import main
from docclass_local.samples import documents
from docclass_local.stack import LocalStack


class SwitchableEmbedder:
    """The offline embedder behind a switch: throttled while `broken`, as Bedrock is in an outage."""

    broken = True

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id, self.dimension = inner.model_id, inner.dimension

    def embed(self, image: Any) -> Any:
        from docclass.errors import EmbeddingUnavailable

        if SwitchableEmbedder.broken:
            raise EmbeddingUnavailable("ThrottlingException: rate exceeded")
        return self.inner.embed(image)


def page(label: str, seed: int) -> bytes:
    ((_, _, data),) = documents(1, seed=seed, classes=(label,))
    return data


def status_of(stack: LocalStack, capsys: Any) -> dict[str, Any]:
    assert main(["status", "--endpoint-url", stack.endpoint_url, "--bucket", stack.bucket, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_redrive_after_an_outage_routes_the_dead_lettered_documents(monkeypatch, capsys):
    from docclass import services

    real = services.make_embedder
    monkeypatch.setattr(services, "make_embedder", lambda settings: SwitchableEmbedder(real(settings)))
    SwitchableEmbedder.broken = True
    with LocalStack(
        port=None,
        **QUICK_STACK,
        bucket="docclass-redrive",
        parameters={"MaxReceiveCount": "2", "IndexRefreshSeconds": "1"},
        retry_delay=0,
    ) as stack:
        # given a gallery and a document uploaded while the model is throttled: all dead-lettered
        s3 = stack.client("s3")
        for label in ("letter", "receipt"):
            s3.put_object(Bucket=stack.bucket, Key=f"gallery/{label}/example.png", Body=page(label, 0))
        s3.put_object(Bucket=stack.bucket, Key="inbox/2026/till roll.png", Body=page("receipt", 7))
        stack.wait_until_idle(timeout=120)
        where = ["--endpoint-url", stack.endpoint_url, "--bucket", stack.bucket]
        before = status_of(stack, capsys)
        assert before["dead_letters"] == {
            "docclass-redrive-GalleryDeadLetterQueue": 2,
            "docclass-redrive-InboxDeadLetterQueue": 1,
        }
        assert before["oldest_message_age"]["docclass-redrive-InboxDeadLetterQueue"] is not None  # peeked
        # when a dry run and an unconfirmed run are asked for, nothing moves
        assert main(["redrive", *where, "--dry-run"]) == 0
        assert main(["redrive", *where]) == 1
        capsys.readouterr()
        assert status_of(stack, capsys)["dead_letters"] == before["dead_letters"]
        # when the model is back and both are redriven (the gallery first, then a pause, the inbox)
        SwitchableEmbedder.broken = False
        assert main(["redrive", *where, "--yes", "--wait", "120", "--settle", "2"]) == 0
        out = capsys.readouterr().out
        # then the document was classified with the redriven examples, and the command says where
        assert "inbox/2026/till roll.png -> classified/receipt/2026/till roll.png" in out
        assert "gallery/receipt/example.png -> gallery/" in out
        # because the gallery went first, then a pause for the functions to load the new index
        assert out.index("moved gallery 2") < out.index("waiting 2 s") < out.index("moved inbox 1")
        assert "dead letters now: 0" in out
        after = status_of(stack, capsys)
    assert after["classified"] == {"receipt": 1} and after["index"]["vectors"] == 2
    assert after["pending"] == 0 and set(after["dead_letters"].values()) == {0}
    assert after["alarms"]["available"] is False


@pytest.mark.parametrize("interrupt", [False, True])
def test_backfill_classifies_an_archive_once_even_when_run_again(tmp_path, capsys, monkeypatch, interrupt):
    with LocalStack(port=None, **QUICK_STACK, bucket="docclass-backfill") as stack:
        # given a gallery and an archive of three documents in another bucket
        s3 = stack.client("s3")
        for label in ("letter", "receipt"):
            s3.put_object(Bucket=stack.bucket, Key=f"gallery/{label}/example.png", Body=page(label, 0))
        s3.create_bucket(Bucket="archive")
        for i, label in enumerate(("letter", "receipt", "letter")):
            s3.put_object(Bucket="archive", Key=f"2019/{label}-{i}.png", Body=page(label, 20 + i))
        stack.wait_until_idle(timeout=60)
        argv = [
            "backfill",
            "s3://archive/2019/",
            "--endpoint-url",
            stack.endpoint_url,
            "--bucket",
            stack.bucket,
        ]
        argv += ["--yes", "--rate", "50", "--checkpoint", str(tmp_path / "checkpoint.jsonl")]
        if interrupt:
            # a run stopped after its second copy, before recording it
            from docclass_local import backfill

            real = backfill._copy
            calls = []

            def copy_then_stop(*args: Any) -> str:
                calls.append(real(*args))
                if len(calls) == 2:
                    raise KeyboardInterrupt
                return calls[-1]

            monkeypatch.setattr(backfill, "_copy", copy_then_stop)
            assert main(argv) == 130  # Ctrl-C
            monkeypatch.undo()
            stack.wait_until_idle(timeout=60)
        # when the backfill runs (again)
        assert main(argv) == 0
        first = capsys.readouterr().out
        stack.wait_until_idle(timeout=60)
        assert main(argv) == 0
        second = capsys.readouterr().out
        status = status_of(stack, capsys)
    # then every document was classified exactly once, and the last run copied nothing
    assert status["classified"] == {"letter": 2, "receipt": 1}
    assert status["pending"] == 0
    assert "3 done before" in second and "0 to copy" in second
    if interrupt:
        assert "copied 1, pending 0, routed 1" in first and "1 done before" in first
    else:
        assert "copied 3" in first
