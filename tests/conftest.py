"""Shared fixtures: fake AWS credentials, a moto S3 bucket, a Lambda context, events/ and sample pages."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import random
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from iam_calls import RUN, SESSION, WORKEROUTPUT_KEY, attribute_handler, install, session_records
from PIL import Image, ImageDraw

# Powertools reads these when docclass.observability is imported (at collection time), as Lambda
# would have them set before the handler module is loaded.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "docclass")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DocclassTest")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
BUCKET = "docclass-local"  # the bucket named in events/*.json
SHARED_DOCS = ROOT.parent / "shared" / "data" / "docs"

# What the tests' local stacks (docclass_local.stack.LocalStack) change from `docclass serve`: an event
# source mapping waits at most 0.2 s to fill a batch (the template's GalleryQueue window is 5 s, paid
# once per wave of gallery uploads), and wait_until_idle checks every 0.1 s, not every 0.5 s. Changes
# still travel through S3 notifications and SQS in batches; only the waiting is shorter.
QUICK_STACK: dict[str, Any] = {"batching_window": 0.2, "idle_poll": 0.1}


def load_event(name: str) -> dict[str, Any]:
    """An event from events/, the same file `sam local invoke -e` uses."""
    return json.loads((EVENTS / name).read_text())


def load_handler(function: str) -> ModuleType:
    """functions/<function>/app.py as a module (both handlers are called app.py); the AWS calls its
    handler makes are recorded for tests/unit/test_iam.py."""
    path = ROOT / "functions" / function / "app.py"
    name = f"{function}_app"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.lambda_handler = attribute_handler(function, module.lambda_handler)
    return module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Which integration tests this session holds, for the IAM check (tests/iam_calls.py)."""
    RUN.note_collection(config, items)


def pytest_deselected(items: list[pytest.Item]) -> None:
    RUN.deselected += len(items)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    RUN.note_report(report)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[object]:
    """Once every test has run: the IAM check of the handlers' recorded calls (tests/iam_check.py).

    A pytest-xdist worker hands its records to the controller instead (config.workeroutput); the
    controller, or the only process, checks the records of all of them and reports the result as
    one more test."""
    result = yield
    if session.config.option.collectonly:
        return result
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[WORKEROUTPUT_KEY] = session_records()
    else:
        import iam_check  # here, not at the top: it imports docclass_local before the POWERTOOLS_* defaults

        SESSION.add("this process", session_records())
        report = iam_check.session_report(SESSION)
        if report is not None:
            session.config.hook.pytest_runtest_logreport(report=report)
    return result


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist (controller): a worker is done; keep its records for the IAM check."""
    SESSION.add(node.gateway.id, getattr(node, "workeroutput", {}).get(WORKEROUTPUT_KEY))


@pytest.fixture(scope="session", autouse=True)
def record_function_calls() -> Iterator[None]:
    """Record every S3 and Bedrock call the handlers make, for the IAM check (tests/iam_calls.py)."""
    yield from install()


@pytest.fixture(scope="session", autouse=True)
def moto_like_s3() -> None:
    """Conditional writes, copy conditions and event sequencers as S3 has them (docclass_local.moto_fixes)."""
    from docclass_local.moto_fixes import make_moto_behave_like_s3

    make_moto_behave_like_s3()


@pytest.fixture(scope="session", autouse=True)
def moto_server_lists_its_backends_once() -> Iterator[None]:
    """moto's server (the local stack's endpoint) looks for the backend of every request among its
    own package's directories: a listdir and some 200 stat calls per request (moto 5.2.5,
    moto/moto_server/werkzeug_app.py, get_backend_for_host -> backends.list_of_moto_modules).
    The directory does not change while the tests run: it is listed once. Measured alone, the
    injected-faults test of test_reliability.py went from 90 s to 76 s with it (2 busy cores).
    Only the tests do this; `docclass serve` is as moto is."""
    from moto import backends

    original = backends.list_of_moto_modules
    modules = tuple(original())
    backends.list_of_moto_modules = lambda: modules
    yield
    backends.list_of_moto_modules = original


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region for every test, so nothing can reach a real AWS account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "docclass",
        "POWERTOOLS_METRICS_NAMESPACE": "DocclassTest",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The functions' environment as template.yaml sets it, with the offline embedder."""
    from docclass import services

    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("EMBEDDER", "local")
    monkeypatch.setenv("EMBEDDING_DIMENSION", "1024")
    monkeypatch.setenv("NEIGHBOR_COUNT", "1")
    monkeypatch.setenv("MAX_DISTANCE", "")
    services.gallery_indexer.cache_clear()
    services.classifier.cache_clear()
    yield
    services.gallery_indexer.cache_clear()
    services.classifier.cache_clear()


@pytest.fixture
def s3() -> Iterator[Any]:
    """A moto S3 client with the events' bucket created."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context, with a clock the test controls.

    remaining_ms only goes down when the test (or a fake it injects) calls spend(): an invocation
    can run out of time without any real waiting. It starts at GalleryFunction's Timeout (300 s),
    the longer of the two, so that a test's handler call is never short of time unless it says so.
    """

    function_name: str = "docclass-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:docclass-test"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    remaining_ms: int = 300_000

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def get_remaining_time_in_millis(self) -> int:
        with self._lock:
            return max(0, self.remaining_ms)

    def spend(self, ms: int) -> None:
        """Let ms of the invocation's time pass (from any thread)."""
        with self._lock:
            self.remaining_ms -= ms


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """A Lambda context for calling handlers directly."""
    return FakeLambdaContext()


PAGE_KINDS = ("letter", "invoice", "form")


def draw_page(kind: str, seed: int = 0, size: tuple[int, int] = (850, 1100), fmt: str = "PNG") -> bytes:
    """A small synthetic page of a given layout; the seed varies text lengths and offsets."""
    rng = random.Random(f"{kind}-{seed}")
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    w = size[0]
    dx, dy = rng.randint(-10, 10), rng.randint(-10, 10)
    if kind == "letter":
        draw.rectangle((60 + dx, 50 + dy, 300 + dx, 90 + dy), fill=0)  # letterhead
        for i in range(28):
            y = 200 + dy + i * 28
            draw.rectangle((80 + dx, y, 80 + dx + rng.randint(450, 690), y + 10), fill=40)
    elif kind == "invoice":
        draw.rectangle((w - 320 + dx, 60 + dy, w - 60 + dx, 120 + dy), fill=0)
        for r in range(16):
            y = 300 + dy + r * 36
            draw.line((60, y, w - 60, y), fill=0, width=2)
            for c in range(4):
                x = 70 + c * (w - 120) // 4
                draw.rectangle((x + dx, y + 10, x + dx + rng.randint(40, 140), y + 22), fill=60)
        for c in range(5):
            x = 60 + c * (w - 120) // 4
            draw.line((x, 300 + dy, x, 300 + dy + 15 * 36), fill=0, width=2)
    elif kind == "form":
        for r in range(10):
            y = 120 + dy + r * 90
            draw.rectangle((80 + dx, y, 260 + dx, y + 14), fill=30)
            draw.rectangle((300 + dx, y - 10, w - 80, y + 40), outline=0, width=3)
            if rng.random() < 0.5:
                draw.rectangle((320 + dx, y + 5, 320 + dx + rng.randint(50, 300), y + 20), fill=90)
    else:
        raise ValueError(kind)
    out = io.BytesIO()
    page.convert("RGB").save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def page() -> Callable[..., bytes]:
    """draw_page as a fixture."""
    return draw_page


def blank_scan(seed: int = 0) -> Image.Image:
    """The empty back side of a scanned sheet at draw_page's size (850 x 1100: a letter at 100 dpi)."""
    from docclass_local.samples.packets import blank_page

    return blank_page(seed, dpi=100)


def draw_document(kinds: list[str | None], fmt: str = "PDF", seed: int = 0) -> bytes:
    """A multi-page PDF or TIFF of draw_page pages (None: a blank scanned page), as a scanner writes it."""
    pages = [
        blank_scan(seed=seed + i) if kind is None else Image.open(io.BytesIO(draw_page(kind, seed + i)))
        for i, kind in enumerate(kinds)
    ]
    out = io.BytesIO()
    extra = {"resolution": 100.0} if fmt == "PDF" else {}
    pages[0].save(out, format=fmt, save_all=True, append_images=pages[1:], **extra)
    return out.getvalue()
