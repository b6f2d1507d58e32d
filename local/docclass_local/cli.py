"""The `docclass` command: serve, status, demo, samples and eval (local tools, never deployed)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

DEFAULT_PORT = 4566
DEFAULT_BUCKET = "docclass-local"


_PRINT_LOCK = threading.Lock()


def _print(line: str) -> None:
    # Handlers run on several threads: write each line whole.
    with _PRINT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _embedder_note(embedder: str) -> str:
    if embedder == "local":
        return "offline stand-in embedder docclass-local-v1 (not Titan)"
    return "Amazon Titan Multimodal Embeddings on Bedrock (needs AWS credentials)"


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the local stack until Ctrl-C or SIGTERM."""
    from docclass_local.batches import describe_batch
    from docclass_local.faults import FaultPlan
    from docclass_local.stack import LocalStack
    from docclass_local.template import parse_overrides

    holder: dict[str, Any] = {}

    def on_batch(report: Any) -> None:
        for line in describe_batch(holder["stack"], report):
            _print(line)

    try:
        faults = FaultPlan.parse(args.faults, seed=args.fault_seed)
        parameters = parse_overrides(args.parameter_overrides)
        if args.kms_key_arn:
            parameters["KmsKeyArn"] = args.kms_key_arn
        stack = LocalStack(
            host=args.host,
            port=args.port,
            bucket=args.bucket,
            embedder=args.embedder,
            log_level=args.log_level,
            on_batch=on_batch,
            faults=faults,
            parameters=parameters,
        )
    except ValueError as exc:
        print(f"docclass serve: error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    holder["stack"] = stack
    stack.start()
    try:
        _print(
            f"docclass serve: ready at {stack.endpoint_url}  bucket={stack.bucket}  "
            f"embedder={_embedder_note(args.embedder)}" + (f"  faults={args.faults}" if faults.any else "")
        )
        _print(
            f"  try: aws --endpoint-url {stack.endpoint_url} s3 cp page.png s3://{stack.bucket}/inbox/  "
            "(Ctrl-C stops)"
        )
        stop.wait()
    finally:
        _print("docclass serve: stopping (finishing the batches in progress)")
        stack.stop()
        if faults.any:
            _print(f"docclass serve: {stack.faults.summary()}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print what the bucket and queues hold."""
    import boto3

    from docclass_local.status import collect_status, format_status

    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "docclass-local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "docclass-local"),
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    s3 = session.client("s3", endpoint_url=args.endpoint_url)
    sqs = session.client("sqs", endpoint_url=args.endpoint_url)
    status = collect_status(s3, sqs, args.bucket, granted_kms_keys=[args.kms_key_arn])
    _print(json.dumps(status, indent=2) if args.json else format_status(status))
    return 0


def _local_clients(endpoint_url: str) -> tuple[Any, Any]:
    """S3 and SQS clients for the local stack (any credentials do)."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "docclass-local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "docclass-local"),
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    return session.client("s3", endpoint_url=endpoint_url), session.client("sqs", endpoint_url=endpoint_url)


def _confirm(question: str) -> bool:
    """Ask on the terminal; anything but y/yes is a no (and no terminal is a no)."""
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_reindex(args: argparse.Namespace) -> int:
    """Bring the index of (model, dimension) back to what gallery/ holds, through GalleryFunction."""
    from botocore.exceptions import BotoCoreError, ClientError

    from docclass.errors import DocclassError
    from docclass.index_store import IndexRepository
    from docclass.local_embedder import MODEL_ID as LOCAL_MODEL_ID
    from docclass.store import ObjectStore
    from docclass_local.progress import Progress
    from docclass_local.reindex import (
        indexed_vectors,
        notifications,
        plan_reindex,
        queued,
        send,
        wait_until_drained,
    )
    from docclass_local.status import queue_urls

    s3, sqs = _local_clients(args.endpoint_url)
    model_id = args.model or LOCAL_MODEL_ID
    try:
        queues = queue_urls(sqs, args.bucket)
        gallery_queue = queues.get(f"{args.bucket}-GalleryQueue")
        dead_letters = queues.get(f"{args.bucket}-GalleryDeadLetterQueue")
        if gallery_queue is None:
            raise DocclassError(
                f"no GalleryQueue for bucket {args.bucket} at {args.endpoint_url}: is `docclass serve` running?"
            )
        plan = plan_reindex(s3, args.bucket, model_id, args.dimension)
        _print(plan.describe())
        if args.dry_run or (not plan.work and plan.state != "unusable"):
            return 0
        if not args.yes and not _confirm("Proceed?"):
            print("docclass reindex: nothing done", file=sys.stderr)
            return 1
        dead_before = queued(sqs, dead_letters) if dead_letters else 0
        if plan.state == "unusable":
            snapshot = IndexRepository(ObjectStore(args.bucket, s3), model_id, args.dimension).start_again()
            _print(f"published an empty index ({snapshot})")
        with Progress(plan.work, "sending") as sending:
            send(sqs, gallery_queue, notifications(plan, args.bucket), sending.advance)
        target = len(plan.gallery)
        with Progress(target, "indexed") as indexed:

            def on_poll(left: int) -> None:
                vectors = indexed_vectors(s3, args.bucket, model_id, args.dimension)
                indexed.advance(max(0, min(target, vectors) - indexed.count))

            drained = wait_until_drained(
                sqs, gallery_queue, timeout=args.timeout, poll=args.poll, on_poll=on_poll
            )
        if not drained:
            print(
                f"docclass reindex: error: GalleryQueue not drained after {args.timeout:g} s; run it again later",
                file=sys.stderr,
            )
            return 1
        after = plan_reindex(s3, args.bucket, model_id, args.dimension)
        dead_after = queued(sqs, dead_letters) if dead_letters else 0
        if after.state == "absent" and after.gallery:
            raise DocclassError(
                f"GalleryFunction does not keep the index of {model_id} at {args.dimension} dimensions: "
                f"deploy with NextEmbeddingModelId={model_id} NextEmbeddingDimension={args.dimension} "
                "(or make it the live model), then run reindex again"
            )
    except (DocclassError, RuntimeError, BotoCoreError, ClientError) as exc:
        print(f"docclass reindex: error: {exc}", file=sys.stderr)
        return 1
    _print(
        f"index of {model_id} at {args.dimension} dimensions: {len(after.gallery) - len(after.missing)} of "
        f"{len(after.gallery)} gallery examples indexed, {len(after.stale)} stale entries left"
    )
    if after.missing:
        shown = ", ".join(key for key, _ in after.missing[:10]) + (" ..." if len(after.missing) > 10 else "")
        _print(f"  not indexed: {shown} (GalleryFunction's log says why, e.g. 'gallery object rejected')")
    if dead_after > dead_before:
        print(
            f"docclass reindex: error: {dead_after - dead_before} messages went to the gallery dead-letter queue",
            file=sys.stderr,
        )
        return 1
    return 0 if after.state == "usable" else 1


def cmd_samples(args: argparse.Namespace) -> int:
    """Write generated sample documents to a folder."""
    from docclass_local.samples import generate

    written = generate(
        Path(args.out_dir), per_class=args.per_class, seed=args.seed, dpi=args.dpi, fmt=args.format
    )
    labels = sorted({label for label, _ in written})
    _print(f"wrote {len(written)} documents in {len(labels)} classes to {args.out_dir}: {', '.join(labels)}")
    if args.packets:
        from docclass_local.samples import CLASSES
        from docclass_local.samples.packets import generate_packets

        packets = generate_packets(
            Path(args.out_dir), args.packets, seed=args.seed, dpi=args.dpi, classes=CLASSES
        )
        pages = sum(len(labels) for _, labels in packets)
        _print(
            f"wrote {len(packets)} packets ({pages} pages) to {Path(args.out_dir) / 'packets'}, "
            "their page labels in labels.json"
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the stack, upload a generated gallery and inbox, wait, print what happened."""
    from docclass_local.demo import run_demo

    return run_demo(
        gallery_per_class=args.gallery,
        inbox_per_class=args.inbox,
        seed=args.seed,
        dpi=args.dpi,
        verbose=args.verbose,
    )


def cmd_eval(args: argparse.Namespace) -> int:
    """Measure classification quality on folders of labelled images."""
    from docclass_local import evaluate

    return evaluate.run(args)


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The `docclass eval` arguments (here, so `docclass --help` does not import the evaluation)."""
    parser.add_argument(
        "gallery_dir", metavar="GALLERY_DIR", type=Path, help="labelled examples: <dir>/<label>/<file>"
    )
    parser.add_argument(
        "query_dir",
        metavar="QUERY_DIR",
        type=Path,
        nargs="?",
        help="labelled documents to classify against GALLERY_DIR (same layout)",
    )
    parser.add_argument(
        "--loo", action="store_true", help="leave-one-out: classify each gallery document against the others"
    )
    parser.add_argument("-k", "--k", type=int, default=1, help="neighbours that vote (default 1)")
    parser.add_argument(
        "--max-distance", type=float, default=None, help="beyond this distance a document is unclassified"
    )
    parser.add_argument(
        "--embedder",
        choices=("local", "bedrock"),
        default="local",
        help="local: the offline stand-in (default); bedrock: Amazon Titan (needs AWS credentials)",
    )
    parser.add_argument("--dimension", type=int, default=1024, help="embedding length: 256, 384 or 1024")
    parser.add_argument(
        "--report", type=Path, metavar="REPORT.html", help="also write a self-contained HTML report"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="docclass", description="docclass on your machine: local stack, demo, status, samples, eval"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run S3/SQS on localhost with both functions on the queues")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--bucket", default=DEFAULT_BUCKET)
    serve.add_argument("--embedder", choices=["local", "bedrock"], default="local")
    serve.add_argument(
        "--log-level", default="ERROR", help="the functions' Powertools log level (default ERROR)"
    )
    serve.add_argument(
        "--faults",
        default="",
        metavar="KIND=P,...",
        help="inject faults, e.g. bedrock=0.3,s3=0.05,s3-lost-response=0.2,crash-after-copy=0.05",
    )
    serve.add_argument(
        "--fault-seed", type=int, default=0, help="seed of the fault draws (reproducible runs)"
    )
    serve.add_argument(
        "--kms-key-arn",
        default="",
        help="the KMS key the functions may decrypt with (template parameter KmsKeyArn; default none)",
    )
    serve.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="Name=Value",
        help="template parameters for the local stack, as sam deploy takes them (e.g. SplitPackets=true MaxPages=5)",
    )
    serve.set_defaults(func=cmd_serve)

    status = sub.add_parser("status", help="index, pending, routed and dead-lettered documents")
    status.add_argument(
        "--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL", f"http://127.0.0.1:{DEFAULT_PORT}")
    )
    status.add_argument("--bucket", default=DEFAULT_BUCKET)
    status.add_argument(
        "--kms-key-arn",
        default="",
        help="the KMS key the functions are granted (KmsKeyArn); other SSE-KMS inbox objects are unreadable",
    )
    status.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    status.set_defaults(func=cmd_status)

    reindex = sub.add_parser(
        "reindex",
        help="bring the index back to what gallery/ holds (corrupt, missing or drifted), via GalleryFunction",
    )
    reindex.add_argument(
        "--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL", f"http://127.0.0.1:{DEFAULT_PORT}")
    )
    reindex.add_argument("--bucket", default=DEFAULT_BUCKET)
    reindex.add_argument(
        "--model", default="", help="the index's model id (default: the local stack's offline embedder)"
    )
    reindex.add_argument("--dimension", type=int, default=1024, help="the index's dimension (default 1024)")
    reindex.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reindex.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    reindex.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds to wait for the queue to drain"
    )
    reindex.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)
    reindex.set_defaults(func=cmd_reindex)

    demo = sub.add_parser("demo", help="the whole service on generated documents, end to end")
    demo.add_argument("--gallery", type=int, default=3, help="gallery examples per class")
    demo.add_argument("--inbox", type=int, default=5, help="inbox documents per class")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--dpi", type=int, default=150)
    demo.add_argument("--verbose", action="store_true", help="print every batch as it is processed")
    demo.set_defaults(func=cmd_demo)

    samples = sub.add_parser("samples", help="write generated sample documents to OUT_DIR/<class>/")
    samples.add_argument("out_dir")
    samples.add_argument("--per-class", type=int, default=8)
    samples.add_argument("--seed", type=int, default=0)
    samples.add_argument("--dpi", type=int, default=150)
    samples.add_argument("--format", default="jpg", choices=["jpg", "png", "tif"])
    samples.add_argument(
        "--packets",
        type=int,
        default=0,
        help="also write this many multi-page PDF packets (with their page labels)",
    )
    samples.set_defaults(func=cmd_samples)

    ev = sub.add_parser("eval", help="accuracy of the embedder + nearest neighbour on labelled folders")
    add_eval_arguments(ev)
    ev.set_defaults(func=cmd_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `docclass` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
