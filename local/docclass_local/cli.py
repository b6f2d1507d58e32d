"""The `docclass` command: serve, status, reclassify, demo, samples and eval (local tools, never deployed)."""

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


def cmd_reclassify(args: argparse.Namespace) -> int:
    """Send routed documents through classification again (docclass_local.reclassify)."""
    import boto3

    from docclass_local.reclassify import Options, parse_since, parse_source, run_command

    try:
        options = Options(
            source=parse_source(args.source),
            since=parse_since(args.since) if args.since else None,
            yes=args.yes,
            dry_run=args.dry_run,
            workers=args.workers,
        )
    except ValueError as exc:
        print(f"docclass reclassify: error: {exc}", file=sys.stderr)
        return 2
    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "docclass-local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "docclass-local"),
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    s3 = session.client("s3", endpoint_url=args.endpoint_url)

    def confirm(question: str) -> bool:
        try:
            return input(question).strip().lower() in {"y", "yes"}
        except EOFError:
            return False

    return run_command(s3, args.bucket, options, out=sys.stdout, confirm=confirm)


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

    reclassify = sub.add_parser(
        "reclassify",
        help="send routed documents through classification again (after gallery changes)",
        description="Move documents from unclassified/ or classified/<label>/ back to inbox/, each once; "
        "an interrupted run is finished by running the same command again.",
    )
    reclassify.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="PREFIX",
        help="unclassified/ or classified/<label>/ (or a folder below either)",
    )
    reclassify.add_argument(
        "--since", metavar="DATE", help="only documents routed there on or after DATE (ISO, UTC unless given)"
    )
    reclassify.add_argument(
        "--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL", f"http://127.0.0.1:{DEFAULT_PORT}")
    )
    reclassify.add_argument("--bucket", default=DEFAULT_BUCKET)
    reclassify.add_argument(
        "--workers", type=int, default=8, help="documents moved at once (default 8; 1: one at a time)"
    )
    reclassify.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reclassify.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    reclassify.set_defaults(func=cmd_reclassify)

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
