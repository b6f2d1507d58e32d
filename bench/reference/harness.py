"""What the benchmark scripts share: docclass's handlers, the fake Titan wiring, timing and reports."""

from __future__ import annotations

import contextlib
import importlib.util
import math
import queue
import shlex
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fake_bedrock import FakeBedrockRuntime

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def docclass_handler(function_dir: str) -> Handler:
    """functions/<function_dir>/app.py's lambda_handler, loaded as the local stack loads it."""
    path = REPO / "functions" / function_dir / "app.py"
    name = f"bench_docclass_{function_dir}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    handler: Handler = module.lambda_handler
    return handler


@contextlib.contextmanager
def docclass_uses_titan_with(client: FakeBedrockRuntime) -> Iterator[None]:
    """docclass's real BedrockEmbedder on Titan (its real request encoding), talking to the given client."""
    from docclass import services
    from docclass.bedrock import BedrockEmbedder

    original = services.make_embedder

    def make(settings: Any) -> BedrockEmbedder:
        return BedrockEmbedder(settings.model_id, settings.dimension, bedrock_client=client)

    services.make_embedder = make  # type: ignore[assignment]
    services.gallery_indexer.cache_clear()
    services.classifier.cache_clear()
    try:
        yield
    finally:
        services.make_embedder = original
        services.gallery_indexer.cache_clear()
        services.classifier.cache_clear()


def event_keys(event: dict[str, Any]) -> list[str]:
    """The object keys named by an SQS batch of S3 notifications."""
    import json
    from urllib.parse import unquote_plus

    keys = []
    for record in event.get("Records", []):
        body = json.loads(record.get("body", "{}"))
        keys += [unquote_plus(r["s3"]["object"]["key"]) for r in body.get("Records", []) if "s3" in r]
    return keys


@dataclass
class Invocation:
    """One timed handler invocation."""

    pipeline: str
    keys: list[str]
    seconds: float  # handler wall time minus the stand-in model's own time
    model_seconds: float
    failures: int


@dataclass
class Dispatcher:
    """One function's handler that sends each batch to the pipeline its keys name, and times it."""

    routes: dict[str, Handler]  # key prefix -> handler
    clients: Sequence[FakeBedrockRuntime]
    default: str
    done: queue.Queue[Invocation] = field(default_factory=queue.Queue)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        # A batch can mix both pipelines' documents: each handler gets its own records, timed apart.
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in event.get("Records", []):
            keys = event_keys({"Records": [record]})
            pipeline = next((p for p in self.routes if keys and keys[0].startswith(p)), self.default)
            groups.setdefault(pipeline, []).append(record)
        failures: list[dict[str, str]] = []
        for pipeline, records in groups.items():
            sub_event = {**event, "Records": records}
            model_before = sum(c.thread_seconds() for c in self.clients)
            started = time.perf_counter()
            response = self.routes[pipeline](sub_event, context)
            elapsed = time.perf_counter() - started
            model = sum(c.thread_seconds() for c in self.clients) - model_before
            failed = response.get("batchItemFailures", [])
            failures += failed
            self.done.put(Invocation(pipeline, event_keys(sub_event), elapsed - model, model, len(failed)))
        return {"batchItemFailures": failures}


def both(*handlers: Handler) -> Handler:
    """One handler that runs every given handler on the same event (e.g. both pipelines' gallery)."""
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failed: dict[str, dict[str, str]] = {}
        with lock:
            for h in handlers:
                for item in h(event, context).get("batchItemFailures", []):
                    failed[item["itemIdentifier"]] = item
        return {"batchItemFailures": list(failed.values())}

    return handler


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def p95(values: Sequence[float]) -> float:
    """95th percentile, nearest rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def command_line() -> str:
    argv = [".venv/bin/python", str(Path(sys.argv[0]).resolve().relative_to(REPO)), *sys.argv[1:]]
    return shlex.join(argv)


def write_report(name: str, title: str, body: str) -> Path:
    """bench/results/<name>.md: title, the exact command, then the body."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    text = f"## {title}\n\n```bash\n{command_line()}\n```\n\nMeasured {stamp}.\n\n{body.strip()}\n"
    path.write_text(text)
    return path


def timing_stack(classify: Handler, gallery: Handler) -> Any:
    """A local stack running these handlers, ClassifyFunction without a batching window: it only
    delays an invocation (not part of the measured time), and 0 keeps a run short."""
    import dataclasses

    from docclass_local.stack import LocalStack

    stack = LocalStack(port=None, handlers={"ClassifyFunction": classify, "GalleryFunction": gallery})
    function = stack.spec.functions["ClassifyFunction"]
    stack.spec.functions["ClassifyFunction"] = dataclasses.replace(function, batching_window=0)
    return stack


def seed_gallery(stack: Any, classes: Sequence[str]) -> Any:
    """Upload two generated examples of each class and wait until they are indexed; the S3 client."""
    from docclass_local import samples

    s3 = stack.client("s3")
    for label, name, body in samples.documents(2, seed=3, dpi=150, classes=classes):
        s3.put_object(Bucket=stack.bucket, Key=f"gallery/{label}/{name}", Body=body)
    stack.wait_until_idle(timeout=300)
    return s3
