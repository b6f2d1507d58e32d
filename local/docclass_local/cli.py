"""The `docclass` command: serve, status, redrive, reindex, reclassify, backfill, review, demo, samples and eval
(local tools, never deployed)."""

from __future__ import annotations

import argparse
import json
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


def _embedder_note(embedder: str, model_id: str = "", dimension: str = "") -> str:
    if embedder == "local":
        return "offline stand-in embedder docclass-local-v1 (not Titan)"
    from docclass.models import DEFAULT_MODEL_ID, resolve

    model = resolve(model_id or DEFAULT_MODEL_ID)
    return (
        f"{model.family.name} on Bedrock ({model.model_id} at {dimension or 1024} dimensions; "
        "your AWS credentials, billed per image)"
    )


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
        if args.model_id or args.dimension:
            if args.embedder != "bedrock":
                raise ValueError("--model-id and --dimension choose a Bedrock model: add --embedder bedrock")
            parameters.update({"EmbeddingModelId": args.model_id} if args.model_id else {})
            parameters.update({"EmbeddingDimension": str(args.dimension)} if args.dimension else {})
        if args.embedder == "bedrock":
            _check_bedrock_choice(parameters)
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
            "embedder="
            + _embedder_note(
                args.embedder,
                parameters.get("EmbeddingModelId", ""),
                parameters.get("EmbeddingDimension", ""),
            )
            + (f"  faults={args.faults}" if faults.any else "")
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


def _check_bedrock_choice(parameters: dict[str, str]) -> None:
    """The model and dimension of a Bedrock run, checked before anything starts (ValueError says why)."""
    from docclass.config import Settings
    from docclass.errors import ConfigError

    try:
        Settings(
            bucket="serve",
            model_id=parameters.get("EmbeddingModelId") or Settings.model_id,
            dimension=int(parameters.get("EmbeddingDimension") or Settings.dimension),
        )
    except (ConfigError, ValueError) as exc:
        raise ValueError(str(exc)) from None


def _operate(command: str, work: Any, args: argparse.Namespace) -> int:
    """Run a day-2 command: any error is one line on stderr and exit status 1."""
    from botocore.exceptions import BotoCoreError, ClientError

    from docclass.errors import DocclassError
    from docclass_local.target import CommandError

    try:
        return int(work(args))
    except CommandError as exc:
        message = str(exc)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        message = f"{exc.operation_name}: {error.get('Code', '')} {error.get('Message', '')}".strip()
    except (BotoCoreError, DocclassError) as exc:
        message = str(exc)
    print(f"docclass {command}: error: {message}", file=sys.stderr)
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    """Print what the bucket and queues hold, and what needs attention (alarms, ages, freshness)."""
    return _operate("status", _status, args)


def _status(args: argparse.Namespace) -> int:
    from docclass_local.health import collect_health, format_health
    from docclass_local.status import unreadable_sse_kms
    from docclass_local.target import resolve_target

    target = resolve_target(args)
    status = collect_health(target)
    if args.kms_key_arn:  # the key the functions are granted: its objects are readable after all
        from docclass.store import ObjectStore

        status["unreadable_sse_kms"] = unreadable_sse_kms(
            ObjectStore(target.bucket, target.s3), status["unreadable_sse_kms"], [args.kms_key_arn]
        )
    _print(json.dumps(status, indent=2, default=str) if args.json else format_health(status))
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    """Bring the index of (model, dimension) back to what gallery/ holds, through GalleryFunction."""
    return _operate("reindex", _reindex, args)


def _reindex(args: argparse.Namespace) -> int:
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
    from docclass_local.target import CommandError, confirm, resolve_target, vector_space

    target = resolve_target(args)
    parameters = target.parameters

    def space(model: str, following: bool = False) -> str:
        # The index is kept under the model's vector space (its id without an inference profile
        # prefix, with the options that change its vectors: docclass.models.Model.vector_space).
        return model if target.local else vector_space(model, parameters, following=following)

    live = (
        LOCAL_MODEL_ID if target.local else space(parameters.get("EmbeddingModelId", "")),
        int(parameters.get("EmbeddingDimension", "1024") or 1024),
    )
    dimension = args.dimension or live[1]
    kept = {live}
    upcoming = None
    if parameters.get("NextEmbeddingModelId"):
        upcoming = (
            parameters["NextEmbeddingModelId"],
            int(parameters.get("NextEmbeddingDimension", "1024") or 1024),
        )
        kept.add((space(upcoming[0], following=True), upcoming[1]))
    # --model names the next model's index when it and the dimension are the next model's (the same
    # model as the live one, with other options, is a next index of its own)
    model_id = space(args.model, following=upcoming == (args.model, dimension)) if args.model else live[0]
    hint = (
        f"GalleryFunction does not keep the index of {model_id} at {dimension} dimensions: deploy with "
        f"NextEmbeddingModelId={args.model or model_id} NextEmbeddingDimension={dimension} "
        "(or make it the live model), "
        "then run reindex again"
    )
    if not target.local and (model_id, dimension) not in kept:
        raise CommandError(hint)
    s3, sqs = target.s3, target.sqs
    plan = plan_reindex(s3, target.bucket, model_id, dimension)
    _print(f"reindex on {target.description}")
    _print(plan.describe())
    if args.dry_run or (not plan.work and plan.state != "unusable"):
        return 0
    confirm(args, "go ahead?")
    dead_before = queued(sqs, target.queues.gallery_dlq)
    if plan.state == "unusable":
        snapshot = IndexRepository(ObjectStore(target.bucket, s3), model_id, dimension).start_again()
        _print(f"published an empty index ({snapshot})")
    with Progress(plan.work, "sending") as sending:
        send(sqs, target.queues.gallery, notifications(plan, target.bucket), sending.advance)
    goal = len(plan.gallery)
    with Progress(goal, "indexed") as indexed:

        def on_poll(left: int) -> None:
            vectors = indexed_vectors(s3, target.bucket, model_id, dimension)
            indexed.advance(max(0, min(goal, vectors) - indexed.count))

        drained = wait_until_drained(
            sqs, target.queues.gallery, timeout=args.timeout, poll=args.poll, on_poll=on_poll
        )
    if not drained:
        raise CommandError(f"GalleryQueue not drained after {args.timeout:g} s; run reindex again later")
    after = plan_reindex(s3, target.bucket, model_id, dimension)
    if after.state == "absent" and after.gallery:
        raise CommandError(hint)
    _print(
        f"index of {model_id} at {dimension} dimensions: {len(after.gallery) - len(after.missing)} of "
        f"{len(after.gallery)} gallery examples indexed, {len(after.stale)} stale entries left"
    )
    if after.missing:
        shown = ", ".join(key for key, _ in after.missing[:10]) + (" ..." if len(after.missing) > 10 else "")
        _print(f"  not indexed: {shown} (GalleryFunction's log says why, e.g. 'gallery object rejected')")
    dead_after = queued(sqs, target.queues.gallery_dlq)
    if dead_after > dead_before:
        raise CommandError(f"{dead_after - dead_before} messages went to the gallery dead-letter queue")
    return 0 if after.state == "usable" else 1


def cmd_redrive(args: argparse.Namespace) -> int:
    """Move dead letters back to their source queues and report where their documents went."""
    return _operate("redrive", _redrive, args)


def _redrive(args: argparse.Namespace) -> int:
    import time

    from docclass_local.redrive import follow, plan_redrive, redrive
    from docclass_local.target import confirm, resolve_target

    target = resolve_target(args)
    # The gallery first: documents redriven before the index has their examples would be classified
    # without them (a ClassifyFunction instance sees a new index within IndexRefreshSeconds).
    moves = sorted(plan_redrive(target, args.queue), key=lambda m: m.which != "gallery")
    total = sum(move.waiting for move in moves)
    how = "one by one (local stack)" if target.local else "with an SQS message move task"
    _print(f"redrive on {target.description}, {how}:")
    for move in moves:
        _print(
            f"  {move.dead_letter_url.rsplit('/', 1)[-1]}: {move.waiting} -> {move.source_url.rsplit('/', 1)[-1]}"
        )
    if total == 0:
        _print("nothing to redrive")
        return 0
    if args.dry_run:
        _print(f"dry run: would move {total} messages; nothing changed")
        return 0
    confirm(args, f"move {total} dead letters back to their source queues?")
    settle = (
        args.settle
        if args.settle is not None
        else float(target.parameters.get("IndexRefreshSeconds", "30") or 0)
    )
    gallery_moved = False
    for move in moves:
        if move.waiting == 0:
            continue
        if move.which == "inbox" and gallery_moved and settle > 0:
            _print(f"waiting {settle:.0f} s for ClassifyFunction to load the new index (IndexRefreshSeconds)")
            time.sleep(settle)
        redrive(target, [move], rate=args.rate)
        _print(f"moved {move.which} {move.moved}")
        gallery_moved = gallery_moved or (move.which == "gallery" and move.moved > 0)
        if args.wait <= 0:
            continue
        places = follow(target, [move], timeout=args.wait)
        _print(f"where the redriven {move.which} documents are now (after up to {args.wait:.0f} s):")
        for key, where in places.items():
            _print(f"  {key} -> {where}")
        if not move.keys_complete:
            _print("  (a sample: the dead-letter queue held more messages than were peeked)")
    if args.wait > 0:
        again = sum(m.waiting for m in plan_redrive(target, args.queue))
        _print(f"dead letters now: {again}" + (" (failed again: see the function logs)" if again else ""))
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    """Copy an archive into inbox/ at a bounded rate, resumably, so that it is classified."""
    return _operate("backfill", _backfill, args)


def _backfill(args: argparse.Namespace) -> int:
    from docclass_local.backfill import (
        Checkpoint,
        Source,
        default_checkpoint,
        default_rate,
        list_sources,
        run_backfill,
    )
    from docclass_local.target import CommandError, confirm, resolve_target

    source = Source.parse(args.source)
    target = resolve_target(args)
    if source.bucket == target.bucket:
        raise CommandError("the source is the stack's own bucket: use reclassify for documents already there")
    rate = args.rate if args.rate is not None else default_rate(target)
    if rate <= 0:
        raise CommandError("--rate must be positive")
    path = Path(args.checkpoint) if args.checkpoint else default_checkpoint(source, target.bucket)
    checkpoint = Checkpoint(path)
    objects = list(list_sources(target.s3, source))
    todo = [o for o in objects if not checkpoint.done(o.key)]
    minutes = len(todo) / rate / 60
    _print(
        f"backfill {source.uri} -> s3://{target.bucket}/inbox/ ({target.description}): "
        f"{len(objects)} objects, {len(objects) - len(todo)} done before (checkpoint {path}), "
        f"{len(todo)} to copy at {rate:g}/s (about {minutes:.0f} min)"
    )
    for obj in todo[:5]:
        _print(f"  {obj.key} -> {obj.destination}")
    if len(todo) > 5:
        _print(f"  ... and {len(todo) - 5} more")
    if not todo:
        return 0
    if args.dry_run:
        _print("dry run: nothing copied, checkpoint not written")
        return 0
    confirm(args, f"copy {len(todo)} objects into s3://{target.bucket}/inbox/?")
    try:
        report = run_backfill(target, source, objects, checkpoint, rate=rate)
    except KeyboardInterrupt:
        print(
            f"docclass backfill: interrupted; run the same command again to resume ({path})", file=sys.stderr
        )
        raise
    finally:
        checkpoint.close()
    _print(f"backfill: {report.line()}")
    for error in report.errors[:10]:
        print(f"docclass backfill: failed: {error}", file=sys.stderr)
    return 1 if report.counts["failed"] else 0


def cmd_reclassify(args: argparse.Namespace) -> int:
    """Send routed documents through classification again (docclass_local.reclassify)."""
    from docclass_local.reclassify import Options, parse_since, parse_source, run_command
    from docclass_local.target import resolve_target

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

    def confirm(question: str) -> bool:
        try:
            return input(question).strip().lower() in {"y", "yes"}
        except EOFError:
            return False

    def work(args: argparse.Namespace) -> int:
        target = resolve_target(args)
        return run_command(target.s3, target.bucket, options, out=sys.stdout, confirm=confirm)

    return _operate("reclassify", work, args)


def cmd_review(args: argparse.Namespace) -> int:
    """Serve the review page on the stack's bucket until Ctrl-C."""
    return _operate("review", _review, args)


def _review(args: argparse.Namespace) -> int:
    import getpass
    import logging

    from docclass.store import ObjectStore
    from docclass_local.review.documents import check_includes
    from docclass_local.review.server import LOOPBACK, ReviewServer
    from docclass_local.target import CommandError, resolve_target

    if args.host not in LOOPBACK:
        print(
            f"docclass review: warning: listening on {args.host}: anyone who can reach this address and "
            "read the page can move documents in the bucket with your credentials",
            file=sys.stderr,
        )
    try:
        includes = check_includes(args.include)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    target = resolve_target(args)
    # A port in use: Werkzeug says so itself and exits with status 1.
    server = ReviewServer(
        ObjectStore(target.bucket, target.s3),
        who=args.reviewer or getpass.getuser(),
        includes=includes,
        host=args.host,
        port=args.port,
        trusted=args.trusted_host,
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per thumbnail request
    _print(f"docclass review: {target.description}: open {server.url}  (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        _print("docclass review: stopped")
    return 0


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
        keep=args.keep,
        # Kept up for `docclass review`: on the port `docclass review` and `status` assume.
        port=DEFAULT_PORT if args.keep else None,
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
        help="local: the offline stand-in (default); bedrock: a Bedrock model (needs AWS credentials)",
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--report", type=Path, metavar="REPORT.html", help="also write a self-contained HTML report"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model-id, --dimension and the models' options, as the template's parameters name them."""
    from docclass.models import COHERE_INPUT_TYPES, NOVA_DETAIL_LEVELS, NOVA_EMBEDDING_PURPOSES, ModelOptions

    defaults = ModelOptions()
    parser.add_argument(
        "--model-id",
        default="amazon.titan-embed-image-v1",
        metavar="ID",
        help="with --embedder bedrock: the model or inference profile id (default amazon.titan-embed-image-v1; "
        "also amazon.nova-2-multimodal-embeddings-v1:0, cohere.embed-v4:0, us./eu./global. profiles)",
    )
    parser.add_argument(
        "--dimension", type=int, default=1024, help="embedding length; each model has its own (default 1024)"
    )
    parser.add_argument(
        "--nova-detail-level",
        choices=NOVA_DETAIL_LEVELS,
        default=defaults.nova_detail_level,
        help=f"Nova's image detail level (template NovaDetailLevel; default {defaults.nova_detail_level})",
    )
    parser.add_argument(
        "--nova-purpose",
        choices=NOVA_EMBEDDING_PURPOSES,
        default=defaults.nova_embedding_purpose,
        help=f"Nova's embeddingPurpose (template NovaEmbeddingPurpose; default {defaults.nova_embedding_purpose})",
    )
    parser.add_argument(
        "--cohere-input-type",
        choices=COHERE_INPUT_TYPES,
        default=defaults.cohere_input_type,
        help=f"Cohere's input_type (template CohereInputType; default {defaults.cohere_input_type})",
    )


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
    serve.add_argument(
        "--embedder",
        choices=["local", "bedrock"],
        default="local",
        help="local: the offline stand-in (default); bedrock: a Bedrock model (needs AWS credentials)",
    )
    serve.add_argument(
        "--model-id",
        default="",
        metavar="ID",
        help="with --embedder bedrock: the model (default amazon.titan-embed-image-v1), as EmbeddingModelId",
    )
    serve.add_argument(
        "--dimension", type=int, default=0, help="with --embedder bedrock: the vectors' length (default 1024)"
    )
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

    from docclass_local.target import add_target_arguments

    status = sub.add_parser(
        "status", help="index, pending, routed and dead-lettered documents, alarms, ages, freshness"
    )
    add_target_arguments(status, changes=False)
    status.add_argument(
        "--kms-key-arn",
        default="",
        help="the KMS key the functions are granted (KmsKeyArn); other SSE-KMS inbox objects are unreadable",
    )
    status.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    status.set_defaults(func=cmd_status)

    reindex = sub.add_parser(
        "reindex",
        help="bring an index back to what gallery/ holds (unusable, drifted, or a next model's), via GalleryFunction",
    )
    add_target_arguments(reindex)
    reindex.add_argument(
        "--model", default="", help="the index's model id (default: the stack's EmbeddingModelId)"
    )
    reindex.add_argument(
        "--dimension",
        type=int,
        default=0,
        help="the index's dimension (default: the stack's EmbeddingDimension)",
    )
    reindex.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds to wait for the queue to drain"
    )
    reindex.add_argument("--poll", type=float, default=5.0, help=argparse.SUPPRESS)
    reindex.set_defaults(func=cmd_reindex)
    redrive = sub.add_parser(
        "redrive", help="move dead letters back to their queues, then say where they went"
    )
    add_target_arguments(redrive)
    redrive.add_argument("--queue", choices=("both", "inbox", "gallery"), default="both")
    redrive.add_argument(
        "--rate",
        type=int,
        default=None,
        help="messages per second of an SQS move task (default: SQS chooses)",
    )
    redrive.add_argument(
        "--wait",
        type=float,
        default=300,
        metavar="SECONDS",
        help="how long to wait for the redriven documents to be routed before reporting (0: do not wait)",
    )
    redrive.add_argument(
        "--settle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="pause between the gallery's redrive and the inbox's (default: the stack's IndexRefreshSeconds)",
    )
    redrive.set_defaults(func=cmd_redrive)

    backfill = sub.add_parser(
        "backfill", help="classify an archive: copy s3://OTHER-BUCKET/prefix/ into inbox/"
    )
    backfill.add_argument("source", metavar="s3://OTHER-BUCKET/prefix/")
    add_target_arguments(backfill)
    backfill.add_argument(
        "--rate",
        type=float,
        default=None,
        help="copies per second (default: the stack's ClassifyMaxConcurrency, one per function instance)",
    )
    backfill.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="the resume record (default .docclass-backfill-<bucket>-<hash>.jsonl here)",
    )
    backfill.set_defaults(func=cmd_backfill)
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
    add_target_arguments(reclassify)
    reclassify.add_argument(
        "--workers", type=int, default=8, help="documents moved at once (default 8; 1: one at a time)"
    )
    reclassify.set_defaults(func=cmd_reclassify)

    review = sub.add_parser(
        "review",
        help="a web page on 127.0.0.1 to review unclassified/ and review/ documents and teach the gallery",
    )
    add_target_arguments(review, changes=False)
    review.add_argument("--port", type=int, default=8765, help="the page's port (default 8765)")
    review.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1; others warn)"
    )
    review.add_argument(
        "--trusted-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this host name (repeatable); any other Host is refused",
    )
    review.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="classified/<label>/",
        help="also list the documents under this prefix, to audit a class (repeatable)",
    )
    review.add_argument(
        "--reviewer", default="", help="the name docclass-reviewed records (default: your OS user name)"
    )
    review.set_defaults(func=cmd_review)

    demo = sub.add_parser("demo", help="the whole service on generated documents, end to end")
    demo.add_argument("--gallery", type=int, default=3, help="gallery examples per class")
    demo.add_argument("--inbox", type=int, default=5, help="inbox documents per class")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--dpi", type=int, default=150)
    demo.add_argument("--verbose", action="store_true", help="print every batch as it is processed")
    demo.add_argument(
        "--keep",
        action="store_true",
        help=f"then keep the local stack up on port {DEFAULT_PORT} (for docclass review) until Ctrl-C",
    )
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
