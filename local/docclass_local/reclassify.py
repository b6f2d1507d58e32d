"""`docclass reclassify`: send routed documents through classification again, each moved once, none lost.

The order of operations, and why
--------------------------------
ClassifyFunction moves inbox/<path> to classified/<label>/<path> (or unclassified/<path>) with a
conditional copy, then a conditional delete, and it treats a destination name that already holds
a copy carrying its source's ETag (docclass-source-etag) as its own earlier copy. The obvious
reclassify, "copy classified/invoice/a.png to inbox/a.png, then delete classified/invoice/a.png",
loses documents: between the two steps the function may route inbox/a.png back to
classified/invoice/a.png. The old object is still there and carries the same source ETag (same
bytes), so the function takes it for its own copy and deletes inbox/a.png; had the old object
been gone, the new copy would have the same key and, S3 ETags depending on the bytes only
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html), the same ETag. Either way the
CLI's delete then removes the only copy, and a conditional delete (If-Match, which general purpose
buckets support with an ETag only:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html) cannot tell the two
objects apart.

So the origin is gone *before* the inbox copy exists, and a staging copy that no function watches
holds the document in between. For each document K (ETag E) with inbox path P:

1. copy K to reclassify/staged/K (If-None-Match: *, CopySourceIfMatch E), with E and the run id
   in its metadata;
2. delete K (If-Match E);
3. copy the staged object to inbox/P (If-None-Match: *), marked docclass-reclassified =
   "<run id> E"; ClassifyFunction keeps that one docclass-* key on the copy it routes;
4. delete the staged object.

At every moment one of K, the staged copy, inbox/P or the routed copy holds the document, and
the function only ever sees inbox/P after K is gone: there is nothing for it to race with.
An interrupted run leaves at most the documents in flight under reclassify/staged/. The next run
finishes each of them first, deciding from what it finds, in this order:
- K still there (step 2 not done), or routed back to K by the function: drop the staged copy;
- inbox/P carries this document's marker (sent, not yet routed): drop the staged copy;
- a copy carrying the marker at one of its possible destinations (sent and routed): drop it;
- otherwise step 3 never happened: send it now.
inbox/P is looked at before the destinations because the function writes the routed copy before
it deletes inbox/P: a document sent before the first look is found by one of the two.

Each document is moved once across reruns: a run is one record, reclassify/run.json (its id,
--from and --since), written with If-None-Match: * so that two runs never overlap. Running the same
command again after an interruption resumes that run: a document whose docclass-reclassified names
this run was already sent, and is skipped. A completed run deletes its record; the next command is
a new run, which may reclassify the same documents again (after more gallery changes, say). A run
with other options while one is unfinished is refused.

--since DATE selects documents whose S3 LastModified (when they were routed there) is at or after
DATE; with a resumed run it is part of the run's identity, like --from.

inbox/P may hold a new upload with the same name: it is never overwritten. Before step 1 the
document is skipped and reported; if the upload lands between steps 2 and 3, the staged copy is
put back at K (or K's next free name, as the function names them) and reported the same way.

Packets: a section (classified/<label>/<stem>/part-NN-pA-B.pdf, metadata docclass-packet) is
refused with a message: it is a page range cut from the original under packets/, and sending it
alone would classify a fragment. Its packet stays as split.

Residual risk, stated: if S3 applies step 3 but loses its answer, botocore sends the copy again
at once; only if the function routed and deleted inbox/P within that retry's backoff would a second
inbox copy be made. For a document not encrypted with SSE-KMS that copy has the same ETag, and the
function recognises its own earlier copy at the destination and makes no second one.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TextIO
from urllib.parse import unquote

from docclass.config import CLASSIFIED_PREFIX, INBOX_PREFIX, REVIEW_PREFIX, UNCLASSIFIED_PREFIX
from docclass.errors import DocclassError, ObjectNotFound, PreconditionFailed, StorageError
from docclass.routing import (
    PACKET_METADATA,
    RECLASSIFIED_METADATA,
    SOURCE_ETAG_METADATA,
    destination_names,
    is_folder_marker,
    primary_destinations,
    validate_label,
)
from docclass.store import Listed, ObjectStore, StoredObject
from docclass_local.progress import Progress

RECLASSIFY_PREFIX = "reclassify/"
RUN_KEY = f"{RECLASSIFY_PREFIX}run.json"
STAGED_PREFIX = f"{RECLASSIFY_PREFIX}staged/"
# On a staged copy: the ETag of the object it was copied from, and the run that staged it.
ORIGIN_ETAG_METADATA = "docclass-reclassify-origin-etag"
RUN_METADATA = "docclass-reclassify-run"
# How many documents of each kind of skip the summary names (the rest are counted).
SHOWN = 5
# Documents in flight at once: each takes 7 S3 requests one after the other, so one at a time
# (about 20-50 ms a request on AWS) would take hours for 100,000 documents. The rate at which they
# are then classified is ClassifyFunction's (its MaximumConcurrency), not this one.
DEFAULT_WORKERS = 8

# What happened to one document; the value is what the summary prints.
Status = Literal["sent", "already-sent", "section", "taken", "changed", "gone", "left", "error"]


class RunConflict(Exception):
    """Another reclassify run is unfinished (or just started): this one must not overlap it."""


@dataclass(frozen=True)
class Run:
    """One reclassify run: what it selects, and whether it resumes an interrupted one."""

    id: str
    source: str
    since: datetime | None
    resumed: bool = False

    def record(self) -> bytes:
        """The run record's body."""
        since = self.since.isoformat() if self.since else None
        return json.dumps({"run": self.id, "from": self.source, "since": since}).encode()


@dataclass(frozen=True)
class Result:
    """What happened to one document (key: where it was), and a word on why."""

    key: str
    status: Status
    detail: str = ""


def parse_source(text: str) -> str:
    """--from: unclassified/ or classified/<label>/ (or a folder below either); ValueError otherwise."""
    prefix = text.strip().lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if prefix.startswith(UNCLASSIFIED_PREFIX):
        return prefix
    if prefix.startswith(CLASSIFIED_PREFIX):
        label = prefix[len(CLASSIFIED_PREFIX) :].split("/", 1)[0]
        if label:
            try:
                validate_label(label)
            except DocclassError as exc:
                raise ValueError(str(exc)) from exc
            return prefix
    raise ValueError(f"--from {text!r}: use unclassified/ or classified/<label>/")


def parse_since(text: str) -> datetime:
    """--since: an ISO date or date-time; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(
            f"--since {text!r}: use an ISO date such as 2026-11-30 or 2026-11-30T08:00Z"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def document_path(key: str) -> str:
    """The inbox path of a routed document: unclassified/<path> or classified/<label>/<path>."""
    if key.startswith(UNCLASSIFIED_PREFIX):
        return key[len(UNCLASSIFIED_PREFIX) :]
    if key.startswith(CLASSIFIED_PREFIX):
        _, _, path = key[len(CLASSIFIED_PREFIX) :].partition("/")
        if path:
            return path
    raise ValueError(f"{key} is not under unclassified/ or classified/<label>/")


def new_run_id() -> str:
    """A run id: the UTC time it started and a random suffix (two runs in one second differ)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def open_run(store: ObjectStore, source: str, since: datetime | None) -> Run:
    """The unfinished run of these options, resumed; or a new run (not yet recorded).

    RunConflict when an unfinished run has other options: it must be finished first.
    """
    try:
        held = store.get(RUN_KEY)
    except ObjectNotFound:
        return Run(new_run_id(), source, since)
    assert held is not None and held.body is not None
    record = json.loads(held.body)
    recorded_since = datetime.fromisoformat(record["since"]) if record.get("since") else None
    if record.get("from") != source or recorded_since != since:
        command = f"--from {record.get('from')}" + (
            f" --since {record['since']}" if record.get("since") else ""
        )
        raise RunConflict(
            f"run {record.get('run')} ({command}) was interrupted and is unfinished: "
            f"run `docclass reclassify {command}` again to finish it first"
        )
    return Run(str(record["run"]), source, since, resumed=True)


def record_run(store: ObjectStore, run: Run) -> None:
    """Write the run record, unless one exists (RunConflict: another run started meanwhile)."""
    if run.resumed:
        return
    try:
        store.put(RUN_KEY, run.record(), content_type="application/json", if_none_match="*")
    except PreconditionFailed as exc:
        held = store.get(RUN_KEY)
        if held is not None and held.body == run.record():
            return  # this very PUT, whose answer was lost and which botocore sent again
        raise RunConflict("another reclassify run started meanwhile; wait for it or finish it") from exc


def close_run(store: ObjectStore) -> None:
    """Delete the run record: the run is complete."""
    with contextlib.suppress(ObjectNotFound):
        store.delete(RUN_KEY)


class Reclassifier:
    """Moves documents of one run back to inbox/ through the staging prefix (see the module docstring)."""

    def __init__(self, store: ObjectStore, run: Run) -> None:
        self.store = store
        self.run = run

    def selected(self) -> list[Listed]:
        """The documents under the run's --from (and --since) now, in key order."""
        return [
            item
            for item in self.store.list_objects(self.run.source)
            if not is_folder_marker(item.key)
            and (self.run.since is None or item.last_modified >= self.run.since)
        ]

    def staged(self) -> list[str]:
        """Documents an interrupted run left between their origin and inbox/."""
        return [key for key in self.store.list_keys(STAGED_PREFIX) if not is_folder_marker(key)]

    def check(self, key: str) -> tuple[Result | None, StoredObject | None]:
        """Why a document is not to be sent (a Result), or its HEAD when it is; writes nothing."""
        head = self.store.head(key)
        if head is None:
            return Result(key, "gone", "deleted before its turn"), None
        if PACKET_METADATA in head.metadata:
            packet = unquote(head.metadata[PACKET_METADATA])
            return Result(
                key, "section", f"a section of the packet {packet}: sections are not reclassified"
            ), None
        if head.metadata.get(RECLASSIFIED_METADATA, "").split(" ")[0] == self.run.id:
            return Result(key, "already-sent", "sent by this run before it was interrupted"), None
        inbox = INBOX_PREFIX + document_path(key)
        if self.store.head(inbox) is not None:
            return Result(key, "taken", f"{inbox} holds another upload: left where it is"), None
        return None, head

    def reclassify(self, key: str) -> Result:
        """Send one routed document back to inbox/ (steps 1-4 of the module docstring)."""
        skip, head = self.check(key)
        if skip is not None:
            return skip
        assert head is not None
        staged_key = STAGED_PREFIX + key
        metadata = dict(head.metadata)
        metadata[ORIGIN_ETAG_METADATA] = head.etag.strip('"')
        metadata[RUN_METADATA] = self.run.id
        try:
            self.store.copy(
                key,
                staged_key,
                metadata=metadata,
                content_type=head.content_type,
                source_etag=head.etag,
                if_none_match="*",
                kms_key_id=head.kms_key_id,
            )
        except ObjectNotFound:
            return Result(key, "gone", "deleted before its turn")
        except PreconditionFailed:
            held = self.store.head(staged_key)
            if held is None:
                return Result(key, "changed", "replaced while being reclassified: left for a later run")
            if held.metadata.get(RUN_METADATA) != self.run.id or held.metadata.get(
                ORIGIN_ETAG_METADATA
            ) != head.etag.strip('"'):
                return Result(key, "error", f"{staged_key} is held by another run")
            # else: this very copy, whose answer was lost and which botocore sent again
        staged = self.store.head(staged_key)
        if staged is None:
            return Result(key, "error", f"{staged_key} vanished after it was written")
        try:
            self.store.delete(key, if_match=head.etag)
        except PreconditionFailed:
            # Another document took the key since it was read: it stays; this one is not moved.
            self._discard(staged)
            return Result(key, "changed", "replaced while being reclassified: left for a later run")
        except ObjectNotFound:
            pass  # our own delete, applied and then retried by botocore (or a user's): go on
        return self._send(staged, key)

    def recover(self, staged_key: str) -> Result:
        """Finish a document an interrupted run left under reclassify/staged/ (module docstring)."""
        origin = staged_key[len(STAGED_PREFIX) :]
        staged = self.store.head(staged_key)
        if staged is None:
            return Result(origin, "already-sent", "finished by another process")
        marker = _marker_of(staged)
        held = self.store.head(origin)
        if held is not None and held.metadata.get(RECLASSIFIED_METADATA) == marker:
            self._discard(staged)
            return Result(origin, "already-sent", f"already routed to {origin}")
        if held is not None and _same_document(held, staged):
            self._discard(staged)
            return Result(origin, "left", "its origin was never deleted: the staging copy was dropped")
        path = document_path(origin)
        inbox = self.store.head(INBOX_PREFIX + path)
        if inbox is not None and inbox.metadata.get(RECLASSIFIED_METADATA) == marker:
            self._discard(staged)
            return Result(origin, "already-sent", f"waiting in {INBOX_PREFIX + path}")
        routed = self.routed_copy(path, marker)
        if routed is not None:
            self._discard(staged)
            return Result(origin, "already-sent", f"already routed to {routed}")
        return self._send(staged, origin)

    def routed_copy(self, path: str, marker: str) -> str | None:
        """Where the function put the copy carrying this marker, if it did: every destination's
        name for this path (the function's ~<etag> names included, whatever the ETag)."""
        for primary in primary_destinations(
            path, self.store.list_folders(CLASSIFIED_PREFIX), self.store.list_folders(REVIEW_PREFIX)
        ):
            for name in self._names_at(primary):
                head = self.store.head(name)
                if head is not None and head.metadata.get(RECLASSIFIED_METADATA) == marker:
                    return name
        return None

    def _names_at(self, primary: str) -> Iterator[str]:
        """The keys present that the function may have given a document bound for `primary`."""
        before, after = destination_names(primary, "Q")[1].rsplit("~Q", 1)
        variant = re.compile(re.escape(before) + r"~[0-9A-Za-z]+" + re.escape(after))
        stem = primary[: len(before)] if primary.endswith(after) else primary
        for key in self.store.list_keys(stem):
            if key == primary or variant.fullmatch(key):
                yield key

    def _send(self, staged: StoredObject, origin: str) -> Result:
        """Step 3 then 4: the staged copy to inbox/, marked; or back where it was if inbox/ is taken."""
        inbox = INBOX_PREFIX + document_path(origin)
        marker = _marker_of(staged)
        metadata = {k: v for k, v in staged.metadata.items() if not k.startswith("docclass-")}
        metadata[RECLASSIFIED_METADATA] = marker
        try:
            self.store.copy(
                staged.key,
                inbox,
                metadata=metadata,
                content_type=staged.content_type,
                source_etag=staged.etag,
                if_none_match="*",
                kms_key_id=staged.kms_key_id,
            )
        except PreconditionFailed:
            held = self.store.head(inbox)
            if held is None:
                if self.routed_copy(document_path(origin), marker) is None:
                    return Result(origin, "error", f"could not copy to {inbox}; kept at {staged.key}")
            elif held.metadata.get(RECLASSIFIED_METADATA) != marker:
                return self._put_back(staged, origin, inbox)
            # else: this very copy, whose answer was lost and which botocore sent again
        self._discard(staged)
        return Result(origin, "sent", inbox)

    def _put_back(self, staged: StoredObject, origin: str, inbox: str) -> Result:
        """inbox/<path> was taken after the origin was deleted: the staged copy goes back to the
        origin's key, or to its next free name (the function's ~<etag> names)."""
        metadata = {k: v for k, v in staged.metadata.items() if k not in (ORIGIN_ETAG_METADATA, RUN_METADATA)}
        for name in destination_names(origin, staged.metadata.get(ORIGIN_ETAG_METADATA, "")):
            try:
                self.store.copy(
                    staged.key,
                    name,
                    metadata=metadata,
                    content_type=staged.content_type,
                    source_etag=staged.etag,
                    if_none_match="*",
                    kms_key_id=staged.kms_key_id,
                )
            except PreconditionFailed:
                held = self.store.head(name)
                if held is None:
                    raise
                if not _same_document(held, staged):
                    continue  # another document holds the name: the next one
            self._discard(staged)
            return Result(origin, "taken", f"{inbox} holds another upload: put back at {name}")
        raise StorageError(f"every name for {origin} holds another document; kept at {staged.key}")

    def _discard(self, staged: StoredObject) -> None:
        """Delete a staged copy once the document is safe elsewhere."""
        # ObjectNotFound: our own delete, retried by botocore after its answer was lost
        with contextlib.suppress(ObjectNotFound):
            self.store.delete(staged.key, if_match=staged.etag)


def _marker_of(staged: StoredObject) -> str:
    """The docclass-reclassified value the document of this staged copy is sent with:
    "<run id> <origin ETag>"; with the inbox path it is looked for under, it names one document."""
    run = staged.metadata.get(RUN_METADATA, "")
    return f"{run} {staged.metadata.get(ORIGIN_ETAG_METADATA, '')}"


def _same_document(held: StoredObject, staged: StoredObject) -> bool:
    """Whether `held` is the object `staged` was copied from (or a copy of it put back there).

    The ETag tells for a plain object; an SSE-KMS copy has an ETag of its own, and then the
    docclass-source-etag both carry (from the inbox upload they were routed from) tells.
    """
    if held.etag.strip('"') == staged.metadata.get(ORIGIN_ETAG_METADATA):
        return True
    source = staged.metadata.get(SOURCE_ETAG_METADATA)
    return bool(source) and held.metadata.get(SOURCE_ETAG_METADATA) == source


# -- the command -------------------------------------------------------------------------------


@dataclass
class Options:
    """What the user asked for."""

    source: str
    since: datetime | None = None
    yes: bool = False
    dry_run: bool = False
    workers: int = DEFAULT_WORKERS


def run_command(
    s3: object,
    bucket: str,
    options: Options,
    *,
    out: TextIO,
    confirm: Callable[[str], bool],
    progress_stream: TextIO | None = None,
) -> int:
    """`docclass reclassify` against one bucket: plan, confirm, work with progress, summarise.

    Returns the exit code: 0 when every document was sent or skipped for a stated reason, 1 on any
    error (the run stays open: the same command finishes it) or when the user declines.
    """
    try:
        return _run(ObjectStore(bucket, s3), bucket, options, out, confirm, progress_stream)
    except (RunConflict, DocclassError) as exc:
        # A run that cannot start or list; errors of one document are in the summary instead.
        print(f"docclass reclassify: {exc}", file=out)
        return 1


def _run(
    store: ObjectStore,
    bucket: str,
    options: Options,
    out: TextIO,
    confirm: Callable[[str], bool],
    progress_stream: TextIO | None,
) -> int:
    run = open_run(store, options.source, options.since)
    worker = Reclassifier(store, run)
    staged = worker.staged()
    selected = worker.selected()
    since = f" routed since {options.since.isoformat()}" if options.since else ""
    print(
        f"reclassify: {len(selected)} documents under s3://{bucket}/{options.source}{since} go back to "
        f"{INBOX_PREFIX} to be classified again with the current gallery",
        file=out,
    )
    if run.resumed:
        print(f"  resuming the interrupted run {run.id}: documents it already sent are skipped", file=out)
    if staged:
        print(
            f"  {len(staged)} documents the interrupted run left under {STAGED_PREFIX} are finished first",
            file=out,
        )
    if options.dry_run:
        return _dry_run(worker, selected, out)
    if not selected and not staged:
        if run.resumed:
            close_run(store)
        print("nothing to do", file=out)
        return 0
    if not options.yes and not confirm("Proceed? [y/N] "):
        print("nothing done", file=out)
        return 1
    record_run(store, run)
    results: list[Result] = []
    with Progress(len(staged) + len(selected), "reclassify", stream=progress_stream) as progress:
        recovered = [(key, key[len(STAGED_PREFIX) :]) for key in staged]
        results += _each(worker.recover, recovered, options.workers, progress)
        # A document finished above may be back in the folder read: one line for it is enough.
        finished = {r.key for r in results if r.status != "left"}
        progress.advance(sum(1 for item in selected if item.key in finished))
        todo = [(item.key, item.key) for item in selected if item.key not in finished]
        results += _each(worker.reclassify, todo, options.workers, progress)
    errors = _summarise(results, out)
    if errors:
        print(f"{errors} errors: the run stays open; run the same command again to finish it", file=out)
        return 1
    close_run(store)
    return 0


def _each(
    step: Callable[[str], Result], items: list[tuple[str, str]], workers: int, progress: Progress
) -> list[Result]:
    """step(argument) for each (argument, key), `workers` at a time; a document's error is its Result.

    Documents are independent (each touches its own keys), so any number may be in flight. An
    interruption (Ctrl-C, a crash) lets the ones in flight finish their current request, starts no
    other, and leaves each where the module docstring's recovery finds it.
    """
    if workers <= 1:
        results = []
        for argument, key in items:
            results.append(_guarded(step, argument, key))
            progress.advance()
        return results
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_guarded, step, argument, key) for argument, key in items]
        try:
            results = []
            for future in as_completed(futures):
                results.append(future.result())
                progress.advance()
            return results
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _guarded(step: Callable[[str], Result], argument: str, key: str) -> Result:
    try:
        return step(argument)
    except DocclassError as exc:
        return Result(key, "error", str(exc))


def _dry_run(worker: Reclassifier, selected: list[Listed], out: TextIO) -> int:
    results = []
    for item in selected:
        skip, _ = worker.check(item.key)
        results.append(skip or Result(item.key, "sent", INBOX_PREFIX + document_path(item.key)))
    sent = [r for r in results if r.status == "sent"]
    print(f"dry run: would send {len(sent)} documents; nothing was changed", file=out)
    for result in sent[:SHOWN]:
        print(f"  {result.key} -> {result.detail}", file=out)
    if len(sent) > SHOWN:
        print(f"  ... and {len(sent) - SHOWN} more", file=out)
    _summarise([r for r in results if r.status != "sent"], out)
    return 0


_HEADINGS: dict[str, str] = {
    "sent": "sent to inbox/",
    "already-sent": "already sent by this run",
    "left": "left where they were by the interrupted run",
    "section": "skipped: sections of a split packet",
    "taken": "skipped: their inbox/ name holds another upload",
    "changed": "skipped: replaced while being reclassified",
    "gone": "skipped: deleted meanwhile",
    "error": "errors",
}


def _summarise(results: list[Result], out: TextIO) -> int:
    """Print a count per outcome, naming the first few of each skip; returns the number of errors."""
    for status, heading in _HEADINGS.items():
        these = sorted((r for r in results if r.status == status), key=lambda r: r.key)
        if not these:
            continue
        print(f"{heading}: {len(these)}", file=out)
        if status == "sent":
            continue
        shown = these if status == "error" else these[:SHOWN]
        for result in shown:
            print(f"  {result.key}: {result.detail}", file=out)
        if len(these) > len(shown):
            print(f"  ... and {len(these) - len(shown)} more", file=out)
    return sum(1 for r in results if r.status == "error")
