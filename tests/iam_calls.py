"""Records the AWS calls the functions' own code makes while the tests run, and which function made each.

The IAM check (tests/iam_check.py, run by tests/conftest.py once every test is done) checks every
recorded call against the IAM policy of that function's role.

Only calls that handler code makes count: a test's own setup and checks, the local stack's SQS
polling (the Lambda service's work, not the handler's) and a test's fake that writes to S3 from
inside a handler are not the function's calls.

How a call is attributed:
- a handler runs inside `running_as(function)`, which names the function in a context variable;
  the tests' `load_handler` and the local stack's handler loader wrap every handler with it;
- the gallery's embedding workers inherit the variable (their thread pool is swapped for one that
  runs each task in the submitting thread's context);
- botocore's `BaseClient._make_api_call`, the one door every client call (paginators included)
  goes through, records the call when a function is named and the code that asked for it is the
  docclass library (the adapters), with no test code between that and the handler.
"""

from __future__ import annotations

import contextvars
import functools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
import botocore
from botocore.client import BaseClient
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = str(ROOT / "layers" / "docclass" / "docclass") + os.sep
TESTS = str(ROOT / "tests") + os.sep

# Request parameters that change which IAM actions a call needs, or on which resource (the rest,
# bodies above all, are dropped).
KEPT_PARAMETERS = (
    "Bucket",
    "Key",
    "VersionId",
    "CopySource",
    "Prefix",
    "Delimiter",
    "IfMatch",
    "Tagging",
    "TaggingDirective",
    "ACL",
    "GrantFullControl",
    "GrantRead",
    "GrantReadACP",
    "GrantWriteACP",
    "ObjectLockMode",
    "ObjectLockRetainUntilDate",
    "ObjectLockLegalHoldStatus",
    "modelId",
)

_RUNNING: contextvars.ContextVar[str | None] = contextvars.ContextVar("docclass_function", default=None)


@dataclass(frozen=True)
class Call:
    """One AWS request a function's code made, with what IAM needs to know about it."""

    function: str  # the template's logical id, e.g. ClassifyFunction
    service: str  # botocore's service name: s3, bedrock-runtime
    operation: str  # the API operation: GetObject, InvokeModel...
    params: tuple[tuple[str, str], ...]  # KEPT_PARAMETERS present in the request, as text
    region: str
    bucket_name: str  # BUCKET_NAME (the function's configured bucket) when the call was made
    error: str | None  # the error code S3 or Bedrock answered with (or the exception), None on success

    @property
    def param(self) -> dict[str, str]:
        return dict(self.params)


class CallRecorder:
    """Every distinct call recorded in this test session (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: set[Call] = set()

    def add(self, call: Call) -> None:
        with self._lock:
            self._calls.add(call)

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return sorted(self._calls, key=repr)


RECORDER = CallRecorder()


def running_as(function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """The handler, with every call its code makes attributed to function."""

    @functools.wraps(handler)
    def invoke(*args: Any, **kwargs: Any) -> Any:
        token = _RUNNING.set(function)
        try:
            return handler(*args, **kwargs)
        finally:
            _RUNNING.reset(token)

    _HANDLER_BOUNDARIES.add(invoke.__code__)  # one code object for every wrapper: the frame walk stops there
    return invoke


_HANDLER_BOUNDARIES: set[Any] = set()
_PLUMBING = tuple(
    str(Path(module.__file__).resolve().parent) + os.sep for module in (botocore, boto3) if module.__file__
)


def _made_by_library(frame: FrameType | None) -> bool:
    """Whether the code that asked for this call is docclass itself, not a test (or its fake)
    reached from the handler: the first frame outside botocore/boto3 is the library's, and no
    test frame comes before the handler's boundary (or the thread's start)."""
    while frame is not None and frame.f_code.co_filename.startswith(_PLUMBING):
        frame = frame.f_back
    if frame is None or not frame.f_code.co_filename.startswith(LIBRARY):
        return False
    while frame is not None and frame.f_code not in _HANDLER_BOUNDARIES:
        if frame.f_code.co_filename.startswith(TESTS):
            return False
        frame = frame.f_back
    return True


def _text(value: Any) -> str:
    if isinstance(value, dict):  # CopySource given as {"Bucket": ..., "Key": ..., "VersionId": ...}
        return "&".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


class _ContextPreservingPool(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose tasks run in the submitting thread's context (the function's name)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


@functools.cache
def _logical_id_of(function_dir: str) -> str:
    """The template's function whose CodeUri is functions/<function_dir>/."""
    from docclass_local.template import load_template

    resources = load_template()["Resources"]
    [name] = [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and str(resource["Properties"]["CodeUri"]).rstrip("/") == f"functions/{function_dir}"
    ]
    return name


def attribute_handler(function_dir: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """functions/<function_dir>/app.py's handler, its calls attributed to the template's function."""
    return running_as(_logical_id_of(function_dir), handler)


def _recording(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def make_api_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        function = _RUNNING.get()
        if function is None or not _made_by_library(sys._getframe(1)):
            return original(client, operation_name, api_params)
        error = None
        try:
            return original(client, operation_name, api_params)
        except ClientError as exc:
            error = str(exc.response.get("Error", {}).get("Code", "")) or "ClientError"
            raise
        except Exception as exc:  # no answer (a connection error): the request was still made
            error = type(exc).__name__
            raise
        finally:
            RECORDER.add(
                Call(
                    function=function,
                    service=client.meta.service_model.service_name,
                    operation=operation_name,
                    params=tuple((k, _text(api_params[k])) for k in KEPT_PARAMETERS if k in api_params),
                    region=client.meta.region_name or "",
                    bucket_name=os.environ.get("BUCKET_NAME", ""),
                    error=error,
                )
            )

    return make_api_call


def install() -> Iterator[None]:
    """Record the functions' calls until the generator is closed (a session fixture's body)."""
    import docclass.gallery
    import docclass_local.stack

    original_call = BaseClient._make_api_call
    original_pool = docclass.gallery.ThreadPoolExecutor  # type: ignore[attr-defined]
    original_loader = docclass_local.stack._load_handler

    def load_attributed(spec: Any) -> Callable[..., Any]:
        return running_as(spec.logical_id, original_loader(spec))

    BaseClient._make_api_call = _recording(original_call)  # type: ignore[method-assign]
    docclass.gallery.ThreadPoolExecutor = _ContextPreservingPool  # type: ignore[attr-defined,misc]
    docclass_local.stack._load_handler = load_attributed
    try:
        yield
    finally:
        BaseClient._make_api_call = original_call  # type: ignore[method-assign]
        docclass.gallery.ThreadPoolExecutor = original_pool  # type: ignore[attr-defined,misc]
        docclass_local.stack._load_handler = original_loader


class IntegrationRun:
    """What this session did with tests/integration: the IAM check may call a grant unused only when
    every integration test was collected, none deselected, and every one passed."""

    def __init__(self) -> None:
        self.collected: set[str] = set()
        self.passed: set[str] = set()
        self.deselected = 0
        self.narrowed: list[str] = []
        self.lost: list[str] = []  # processes whose records never arrived (a crashed xdist worker)

    def note_collection(self, config: Any, items: list[Any]) -> None:
        """pytest_collection_modifyitems: remember the integration tests and how the run was chosen."""
        self.collected = {item.nodeid for item in items if _is_integration(item.nodeid)}
        self.narrowed = [
            reason
            for reason, narrowed in (
                ("-k", bool(config.getoption("keyword", ""))),
                ("-m", bool(config.getoption("markexpr", ""))),
                ("a test id on the command line", any("::" in str(arg) for arg in config.args)),
                (
                    "--lf/--ff/--sw",
                    bool(getattr(config.option, "lf", False) or getattr(config.option, "stepwise", False)),
                ),
            )
            if narrowed
        ]

    def note_report(self, report: Any) -> None:
        """pytest_runtest_logreport: an integration test passed only if its call phase passed."""
        if report.when == "call" and report.passed and _is_integration(report.nodeid):
            self.passed.add(report.nodeid)

    def complete(self) -> tuple[bool, str]:
        """Whether the whole integration suite ran and passed in this session, and if not, why."""
        files = {path.name for path in (ROOT / "tests" / "integration").glob("test_*.py")}
        seen = {nodeid.split("::")[0].rsplit("/", 1)[-1] for nodeid in self.collected}
        if self.lost:
            return False, f"the records of {', '.join(self.lost)} were lost (did a worker crash?)"
        if self.narrowed:
            return False, f"the run was narrowed ({', '.join(self.narrowed)})"
        if self.deselected:
            return False, f"{self.deselected} tests were deselected"
        if files - seen:
            return False, f"not collected: {', '.join(sorted(files - seen))}"
        if self.collected - self.passed:
            return (
                False,
                f"{len(self.collected - self.passed)} integration tests did not pass (or were skipped)",
            )
        return True, ""


RUN = IntegrationRun()


def _is_integration(nodeid: str) -> bool:
    return nodeid.startswith("tests/integration/") or "/tests/integration/" in nodeid


# ------------------------------------------------------------------------------------------------
# One session, several processes: under pytest-xdist each worker records only the calls of the
# tests it ran. When its tests are done, a worker hands its records (plain JSON types) to the
# controller through config.workeroutput, which xdist sends back with the worker's "finished"
# event (pytest_testnodedown); the check then runs once, in the controller, over all of them.
# Without xdist the one process merges its own records the same way.
# ------------------------------------------------------------------------------------------------

WORKEROUTPUT_KEY = "docclass_iam_calls"


def session_records(
    recorder: CallRecorder | None = None, run: IntegrationRun | None = None
) -> dict[str, Any]:
    """What this process recorded and ran, as JSON-compatible values."""
    recorder, run = recorder or RECORDER, run or RUN
    return {
        "calls": [
            [
                c.function,
                c.service,
                c.operation,
                [list(p) for p in c.params],
                c.region,
                c.bucket_name,
                c.error,
            ]
            for c in recorder.calls
        ],
        "collected": sorted(run.collected),
        "passed": sorted(run.passed),
        "deselected": run.deselected,
        "narrowed": run.narrowed,
    }


class SessionRecords:
    """The records of every process of the session, merged: the IAM check's input."""

    def __init__(self) -> None:
        self.calls: set[Call] = set()
        self.run = IntegrationRun()
        self._done: set[str] = set()

    def add(self, process: str, records: dict[str, Any] | None) -> None:
        """Merge one process's session_records(); None: it ended without handing them over (a
        crashed worker), so the run cannot count as complete. A process counts once."""
        if process in self._done:
            return
        self._done.add(process)
        if records is None:
            self.run.lost.append(process)
            return
        for function, service, operation, params, region, bucket_name, error in records["calls"]:
            self.calls.add(
                Call(
                    function, service, operation, tuple((k, v) for k, v in params), region, bucket_name, error
                )
            )
        self.run.collected |= set(records["collected"])  # every worker collects the whole session
        self.run.passed |= set(records["passed"])
        self.run.deselected = max(self.run.deselected, records["deselected"])  # each counts the same ones
        self.run.narrowed = sorted(set(self.run.narrowed) | set(records["narrowed"]))

    def sorted_calls(self) -> list[Call]:
        return sorted(self.calls, key=repr)


SESSION = SessionRecords()
