"""The local stack: moto's S3/SQS server on localhost, resources from template.yaml, handlers on the queues.

Nothing here is deployed. The two Lambda handlers run unchanged, in this process, on real SQS
event payloads; `AWS_ENDPOINT_URL` is what points their boto3 clients at the local endpoint.
Differences from AWS, on purpose: a failed message becomes visible again after `retry_delay`
seconds instead of the queue's visibility timeout, so retries and dead-lettering take seconds.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from docclass.config import Settings
    from docclass.embeddings import Embedder

from docclass_local.faults import FaultInjector, FaultPlan, SimulatedCrash
from docclass_local.kms import KmsAccessCheck
from docclass_local.status import QUEUE_COUNTS, collect_status
from docclass_local.template import DEFAULT_TEMPLATE, FunctionSpec, LocalTemplate, read_local_template

REGION = "us-east-1"
ACCOUNT = "123456789012"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalContext:
    """The parts of a Lambda context that Powertools and the handlers read."""

    function_name: str
    memory_limit_in_mb: int
    timeout: int
    aws_request_id: str
    function_version: str = "$LATEST"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _load_handler(spec: FunctionSpec) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    module_name, _, function = spec.handler.rpartition(".")
    path = spec.code_uri / f"{module_name.replace('.', '/')}.py"
    unique = f"docclass_local_fn_{spec.logical_id}"
    loader = importlib.util.spec_from_file_location(unique, path)
    assert loader is not None and loader.loader is not None
    module: ModuleType = importlib.util.module_from_spec(loader)
    sys.modules[unique] = module
    loader.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = getattr(module, function)
    return handler


@dataclass(frozen=True)
class BatchReport:
    """What one handler invocation did, for the console and for tests."""

    function: str
    keys: list[str]
    failed: list[str]
    dead_lettered: list[str]
    error: str | None
    seconds: float


class LocalStack:
    """Runs the whole service on one machine; use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = 4566,
        bucket: str = "docclass-local",
        embedder: str = "local",
        template: Path = DEFAULT_TEMPLATE,
        parameters: Mapping[str, str] | None = None,
        retry_delay: float = 1.0,
        log_level: str = "ERROR",
        on_batch: Callable[[BatchReport], None] | None = None,
        faults: FaultPlan | None = None,
        handlers: Mapping[str, Callable[[dict[str, Any], Any], dict[str, Any]]] | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.bucket = bucket
        self.embedder = embedder
        # Read before the stack sets the environment for S3 and SQS on localhost.
        self.bedrock_region = (
            os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or boto3.session.Session().region_name
            or REGION
        )
        # The user's own endpoint for Bedrock (a proxy, a stub), if they set one; else boto3's own.
        self.bedrock_endpoint = os.environ.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME") or None
        self.retry_delay = retry_delay
        self.log_level = log_level
        self.on_batch = on_batch
        self.spec: LocalTemplate = read_local_template(
            template, bucket=bucket, overrides=dict(parameters or {}), account=ACCOUNT, region=REGION
        )
        self.endpoint_url = f"http://{host}:{self.port}"
        self._server: Any = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._saved_env: dict[str, str | None] = {}
        self._queue_urls: dict[str, str] = {}
        self._sqs: Any = None
        self._busy = 0
        self._busy_lock = threading.Lock()
        self.batches: list[BatchReport] = []
        self._stdout: Any = None
        self.faults = FaultInjector(faults or FaultPlan())
        self._session = boto3.session.Session(
            aws_access_key_id="docclass-local",
            aws_secret_access_key="docclass-local",  # noqa: S106 - moto accepts anything
            region_name=REGION,
        )
        self._restore: list[Callable[[], None]] = []
        self.kms = KmsAccessCheck([self.spec.parameters.get("KmsKeyArn", "")])
        # Other handlers for some functions (by logical id), e.g. a benchmark's reference pipeline.
        self._handler_overrides = dict(handlers or {})

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the endpoint, create the resources, start the function workers."""
        from moto.server import ThreadedMotoServer

        from docclass_local.moto_fixes import make_moto_behave_like_s3

        make_moto_behave_like_s3()

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per HTTP request otherwise
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        self._set_environment()
        self._create_resources()
        from docclass import services
        from docclass.observability import logger

        # Powertools read POWERTOOLS_LOG_LEVEL when docclass was imported; children keep their own level.
        for name in list(logging.root.manager.loggerDict):
            if name == logger.name or name.startswith(logger.name + "."):
                logging.getLogger(name).setLevel(self.log_level)
        # Metrics are disabled locally, but Powertools still prints its ColdStart metric and warns
        # about batches without metrics (an s3:TestEvent): keep both out of the console.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        if not isinstance(sys.stdout, _WithoutMetricLines):
            self._stdout = sys.stdout
            sys.stdout = _WithoutMetricLines(sys.stdout)
        services.gallery_indexer.cache_clear()
        services.classifier.cache_clear()
        self._isolate_function_clients()
        self._build_functions_with_their_memory()
        for spec in self.spec.functions.values():
            handler = self._handler_overrides.get(spec.logical_id) or _load_handler(spec)
            for worker in range(spec.max_concurrency):
                thread = threading.Thread(
                    target=self._worker, args=(spec, handler), name=f"{spec.logical_id}-{worker}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _isolate_function_clients(self) -> None:
        """Give the functions a fresh boto3 default session (with the fault hooks, if any).

        The functions create their clients from boto3's default session; the stack's own
        clients (polling, status, uploads) come from a session of their own and see no faults.
        """
        from docclass import services

        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        self._restore.append(lambda: setattr(boto3, "DEFAULT_SESSION", None))
        # S3's SSE-KMS check, which moto lacks: the functions may use the KmsKeyArn key only.
        self.kms.install(boto3.DEFAULT_SESSION.events)
        if self.embedder == "bedrock":
            plain = services.make_embedder
            services.make_embedder = self._bedrock_in_the_users_region
            self._restore.append(lambda: setattr(services, "make_embedder", plain))
        if self.faults.plan.any:
            self.faults.install(boto3.DEFAULT_SESSION.events)
            original = services.make_embedder
            services.make_embedder = lambda settings: self.faults.wrap_embedder(original(settings))
            self._restore.append(lambda: setattr(services, "make_embedder", original))

    def _bedrock_in_the_users_region(self, settings: Settings) -> Embedder:
        """The functions' Bedrock embedder, its client in the user's region (the stack's is local)."""
        from docclass.bedrock import BedrockEmbedder

        return BedrockEmbedder(
            settings.model_id,
            settings.dimension,
            options=settings.model_options,
            region=self.bedrock_region,
            ignore_configured_endpoint=self.bedrock_endpoint is None,
        )

    def _build_functions_with_their_memory(self) -> None:
        """Build each function's services while AWS_LAMBDA_FUNCTION_MEMORY_SIZE holds its MemorySize.

        Lambda gives every function its own value; here one process runs both, so the variable
        cannot hold both at once. Each function's services are built (and kept by their lru_cache
        factories) before any worker starts, then the variable is put back as it was.
        """
        from docclass import services

        factories = {"ClassifyFunction": services.classifier, "GalleryFunction": services.gallery_indexer}
        name = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
        saved = os.environ.get(name)
        try:
            for spec in self.spec.functions.values():
                factory = factories.get(spec.logical_id)
                if factory is not None and spec.logical_id not in self._handler_overrides:
                    os.environ[name] = str(spec.memory)
                    factory()
        finally:
            if saved is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = saved

    def stop(self) -> None:
        """Let the workers finish their batch, stop the endpoint, restore the environment."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        while self._restore:
            self._restore.pop()()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._stdout is not None:
            sys.stdout = self._stdout
            self._stdout = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def _set_environment(self) -> None:
        env = dict(self.spec.environment)
        env.update(
            {
                "EMBEDDER": self.embedder,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "docclass-local")
                if self.embedder == "bedrock"
                else "docclass-local",
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "docclass-local")
                if self.embedder == "bedrock"
                else "docclass-local",
                "POWERTOOLS_LOG_LEVEL": self.log_level,
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        # Only S3 and SQS are local; Bedrock is reached in the user's region with their credentials,
        # or where their own AWS_ENDPOINT_URL_BEDROCK_RUNTIME points (a proxy or a stub). Without
        # one, the client ignores AWS_ENDPOINT_URL (the local S3/SQS) and resolves Bedrock's
        # endpoint as boto3 does (see _bedrock_in_the_users_region).
        if self.embedder == "bedrock" and self.bedrock_endpoint:
            env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = self.bedrock_endpoint
        for name, value in env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    # -- clients and resources -------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client for the local endpoint."""
        return self._session.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint_url,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    def queue_name(self, logical_id: str) -> str:
        """The local name of a template queue."""
        return f"{self.bucket}-{logical_id}"

    def _create_resources(self) -> None:
        sqs, s3 = self.client("sqs"), self.client("s3")
        queues = self.spec.queues
        # Dead-letter queues first: the others name them in their redrive policy.
        for spec in sorted(queues.values(), key=lambda q: q.dead_letter is not None):
            attributes = dict(spec.attributes)
            if spec.dead_letter:
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": self._queue_arn(spec.dead_letter),
                        "maxReceiveCount": spec.max_receive_count,
                    }
                )
            url = sqs.create_queue(QueueName=self.queue_name(spec.logical_id), Attributes=attributes)[
                "QueueUrl"
            ]
            self._queue_urls[spec.logical_id] = url
        s3.create_bucket(Bucket=self.bucket)
        if self.spec.versioning:  # as deployed: deletes write delete markers, versions are kept
            s3.put_bucket_versioning(
                Bucket=self.bucket, VersioningConfiguration={"Status": self.spec.versioning}
            )
        s3.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": self._queue_arn(n.queue),
                        "Events": [n.event],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": n.prefix}]}},
                    }
                    for n in self.spec.notifications
                ]
            },
        )

    def _queue_arn(self, logical_id: str) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.queue_name(logical_id)}"

    # -- the event source mapping ----------------------------------------------------------

    def _receive_batch(self, sqs: Any, url: str, spec: FunctionSpec) -> list[dict[str, Any]]:
        """Up to BatchSize messages, waiting at most the batching window once the first arrives."""
        batch: list[dict[str, Any]] = []
        deadline: float | None = None
        while not self._stop.is_set() and len(batch) < spec.batch_size:
            wait = 1 if deadline is None else max(0, min(1, int(deadline - time.monotonic())))
            try:
                response = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(10, spec.batch_size - len(batch)),
                    WaitTimeSeconds=wait,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception:
                if batch:  # never drop messages already received: they would stay invisible
                    break
                raise
            batch.extend(response.get("Messages", []))
            if batch and deadline is None:
                deadline = time.monotonic() + spec.batching_window
            if deadline is not None and time.monotonic() >= deadline:
                break
        return batch

    def _worker(self, spec: FunctionSpec, handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> None:
        sqs = self.client("sqs")
        url = self._queue_urls[spec.queue]
        arn = self._queue_arn(spec.queue)
        max_receive = self.spec.queues[spec.queue].max_receive_count
        while not self._stop.is_set():
            try:
                messages = self._receive_batch(sqs, url, spec)
            except Exception:
                if self._stop.is_set():
                    return
                time.sleep(0.2)
                continue
            if not messages:
                continue
            with self._busy_lock:
                self._busy += 1
            try:
                self._invoke(spec, handler, sqs, url, arn, messages, max_receive)
            except BaseException:  # a worker must not die: its messages would wait out the visibility timeout
                logging.getLogger(__name__).exception("local stack worker %s failed", spec.logical_id)
            finally:
                with self._busy_lock:
                    self._busy -= 1

    def _invoke(
        self,
        spec: FunctionSpec,
        handler: Callable[[dict[str, Any], Any], dict[str, Any]],
        sqs: Any,
        url: str,
        arn: str,
        messages: list[dict[str, Any]],
        max_receive: int | None,
    ) -> None:
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }
        context = LocalContext(spec.logical_id, spec.memory, spec.timeout, str(uuid.uuid4()))
        started = time.monotonic()
        error = None
        try:
            response = handler(event, context)
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        except (Exception, SimulatedCrash) as exc:  # as on Lambda: the whole batch failed
            error = f"{type(exc).__name__}: {exc}"
            failed = {m["MessageId"] for m in messages}
        seconds = time.monotonic() - started
        keys, failed_keys, dead, done = [], [], [], []
        for m in messages:
            message_keys = _keys_of(m["Body"])
            keys.extend(message_keys)
            if m["MessageId"] in failed:
                failed_keys.extend(message_keys)
                receives = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                if max_receive is not None and receives >= max_receive:
                    dead.extend(message_keys)
                _quietly(
                    sqs.change_message_visibility,
                    QueueUrl=url,
                    ReceiptHandle=m["ReceiptHandle"],
                    VisibilityTimeout=int(self.retry_delay),
                )
            else:
                done.append(m["ReceiptHandle"])
        # As the event source mapping does: the succeeded messages leave in DeleteMessageBatch calls.
        for start in range(0, len(done), 10):
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(done[start : start + 10])]
            _quietly(sqs.delete_message_batch, QueueUrl=url, Entries=entries)
        report = BatchReport(spec.logical_id, keys, failed_keys, dead, error, seconds)
        self.batches.append(report)
        if self.on_batch is not None:
            self.on_batch(report)

    def redrive(self) -> int:
        """Move every dead-lettered message back to its source queue (what an operator does once
        the cause is fixed); returns how many were moved."""
        sqs = self.client("sqs")
        moved = 0
        for spec in self.spec.queues.values():
            if spec.dead_letter is None:
                continue
            dead_url = self._queue_urls[spec.dead_letter]
            while True:
                messages = sqs.receive_message(QueueUrl=dead_url, MaxNumberOfMessages=10).get("Messages", [])
                if not messages:
                    break
                for m in messages:
                    sqs.send_message(QueueUrl=self._queue_urls[spec.logical_id], MessageBody=m["Body"])
                    sqs.delete_message(QueueUrl=dead_url, ReceiptHandle=m["ReceiptHandle"])
                    moved += 1
        return moved

    # -- observing -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The same dict `docclass status --json` prints."""
        return collect_status(
            self.client("s3"), self.client("sqs"), self.bucket, granted_kms_keys=self.kms.granted
        )

    def queued_messages(self) -> int:
        """Messages waiting or in flight in the stack's queues, dead-letter queues aside.

        Only the queues' counters: cheap enough to poll while a benchmark runs, unlike status(),
        which also lists the bucket.
        """
        if self._sqs is None:
            self._sqs = self.client("sqs")
        dead = {spec.dead_letter for spec in self.spec.queues.values() if spec.dead_letter}
        total = 0
        for logical_id, url in self._queue_urls.items():
            if logical_id in dead:
                continue
            # "All": moto builds the attribute dict once for it, but three times per attribute named.
            counts = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            total += sum(int(counts.get(name, 0)) for name in QUEUE_COUNTS)
        return total

    def wait_until_idle(self, timeout: float = 120.0, poll: float = 0.5) -> dict[str, Any]:
        """Block until no message waits or runs (dead letters aside); returns the final status.

        Documents whose messages went to a dead-letter queue stay in inbox/: they are reported by
        status, not waited for.
        """
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while True:
            idle = self.queued_messages() == 0 and self._busy == 0
            now = time.monotonic()
            if idle:
                quiet_since = quiet_since or now
                if now - quiet_since >= 2 * poll:  # twice in a row: nothing was in flight between reads
                    return self.status()
            else:
                quiet_since = None
            if now > deadline:
                raise TimeoutError(f"still pending after {timeout:.0f} s: {self.status()['pending_detail']}")
            time.sleep(poll)


class _WithoutMetricLines:
    """A stdout that drops CloudWatch EMF lines (the local stack does not publish metrics)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._dropped = threading.local()

    def write(self, text: str) -> int:
        # print() writes the line and its newline in two calls: drop both.
        dropped = text.startswith('{"_aws":') or (text == "\n" and getattr(self._dropped, "last", False))
        self._dropped.last = dropped and text != "\n"
        return len(text) if dropped else int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _keys_of(body: str) -> list[str]:
    from docclass.events import parse_s3_notification

    try:
        return [change.key for change in parse_s3_notification(json.loads(body))]
    except (ValueError, KeyError, TypeError):
        return []


def _quietly(call: Callable[..., Any], **kwargs: Any) -> None:
    """Hand a message back or delete it, retried: a call lost under load would leave the message
    invisible for the queue's whole visibility timeout (30 minutes for GalleryQueue)."""
    for attempt in range(5):
        try:
            call(**kwargs)
            return
        except ClientError as exc:
            # A receipt handle that expired meanwhile is harmless: the message is redelivered anyway.
            if exc.response.get("Error", {}).get("Code") in _HARMLESS_SQS_CODES:
                return
        except Exception:  # noqa: S110 - a connection error under load: try again
            pass
        time.sleep(0.05 * 2**attempt)
    logging.getLogger(__name__).warning(
        "local stack: %s failed 5 times; the message waits out its visibility timeout", call
    )


_HARMLESS_SQS_CODES = {"ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight"}
