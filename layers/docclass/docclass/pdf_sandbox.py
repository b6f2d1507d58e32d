"""PDFium in a process of its own, so a PDF that takes too long or too much memory to draw costs
its document, never the function.

Why a process: PDFium parses a page's whole content stream before it draws anything, in one C call
that nothing in Python can interrupt, and a page's content can be tiny compressed and huge once
expanded. Measured on these machines: a 963-byte PDF (one form of 10,000 rectangles drawn 1,000
times) took 37 s and 3.3 GB to load its page, and a 100 KB PDF of 4 million rectangles 6 s and
1.4 GB. In the function's own process that is a timeout or an out-of-memory kill: Lambda stops the
invocation (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-configuration.html), the
whole SQS batch comes back after the visibility timeout, and after maxReceiveCount deliveries it
is dead-lettered with the document still in inbox/
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).

So every PDFium call runs in one worker process per function instance, started on the first PDF
and kept for the next ones:
- the PDF reaches it as a file in the temporary directory (Lambda's /tmp is not function memory),
  which PDFium reads as it needs, so the worker holds no second copy of the bytes;
- before each call the worker lowers its address-space limit (RLIMIT_AS) to its own size plus what
  the document may still use (the memory budget less the bytes the function holds); PDFium aborts
  when an allocation fails, and the document is refused;
- each call has a deadline, after which the function kills the worker; the next PDF starts a new
  one, and documents opened in the old one are opened again in the new one.
The worker is started without the function's environment (so without its AWS credentials): it
reads untrusted bytes and needs nothing but its files.
Requests and answers are a JSON header and raw bytes over the worker's stdin and stdout (its own
prints go to stderr); nothing is pickled. PDFium is not thread-safe, and the worker is one thread:
one lock serialises the calls of every thread of the function.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import math
import os
import resource
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

# A new worker must say it is ready (interpreter started, pypdfium2 imported) within this time.
STARTUP_SECONDS = 30.0
# Answers larger than this are not read: a page is at most 2049 x 2049 x 4 bytes.
_MAX_PAGE_ANSWER = 64 * 1024 * 1024
# A page PDFium has not drawn in this time is refused, and the worker killed. A letter page draws
# in 0.05-0.2 s on these machines (bench/results/pdf_render.md); Lambda at 1024 MB has about 0.6
# of a vCPU. The functions' time budgets count it once per page (docclass/invocation.py).
PAGE_SECONDS = 10.0

_FRAME = struct.Struct(">IQ")  # header length, payload length
# An image drawn over at least this share of its page makes the page a scan.
_SCAN_COVER = 0.8
_POINTS_PER_INCH = 72


def render_size(width_pt: float, height_pt: float, scale: float, max_side: int) -> tuple[int, int]:
    """The bitmap PDFium renders at scale (it rounds each side up), at most max_side + 1."""
    return (
        max(1, min(max_side + 1, -(-int(width_pt * scale * 1000) // 1000))),
        max(1, min(max_side + 1, -(-int(height_pt * scale * 1000) // 1000))),
    )


class SandboxError(Exception):
    """The worker could not answer: it died or ran past its deadline."""


class SandboxUnavailable(RuntimeError):
    """The worker would not start (a deployment problem, not the document's): retried, never failed/."""


class SandboxTimeout(SandboxError):
    """The call ran past its deadline; the worker was killed."""


class SandboxDied(SandboxError):
    """The worker stopped during the call (PDFium aborts when an allocation fails)."""

    def __init__(self, returncode: int | None) -> None:
        self.returncode = returncode
        self.signal_name = ""
        if returncode is not None and returncode < 0:
            try:
                self.signal_name = signal.Signals(-returncode).name
            except ValueError:
                self.signal_name = f"signal {-returncode}"
        super().__init__(f"the PDF renderer stopped ({self.signal_name or f'exit status {returncode}'})")

    @property
    def out_of_memory(self) -> bool:
        """PDFium aborts (SIGABRT) when an allocation fails under the address-space limit; the
        kernel's out-of-memory killer sends SIGKILL (the worker offers itself first)."""
        return self.returncode in (-signal.SIGABRT, -signal.SIGKILL)


class DocumentError(Exception):
    """PDFium refused the document or page (raised in the function's process with the worker's answer)."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        super().__init__(str(answer.get("error")))


def _write_frame(stream: IO[bytes], header: dict[str, Any], payload: bytes | memoryview = b"") -> None:
    head = json.dumps(header).encode()
    stream.write(_FRAME.pack(len(head), len(payload)))
    stream.write(head)
    if payload:
        stream.write(payload)
    stream.flush()


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    head_size, payload_size = _FRAME.unpack(_read_exact(stream, _FRAME.size))
    header = json.loads(_read_exact(stream, head_size))
    return header, _read_exact(stream, payload_size) if payload_size else b""


# --- the function's side --------------------------------------------------------------------------


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    generation: int

    def call(self, header: dict[str, Any], payload: bytes, timeout: float) -> tuple[dict[str, Any], bytes]:
        """One request and its answer; SandboxTimeout or SandboxDied when there is none."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            _write_frame(self.process.stdin, header, payload)
        except (BrokenPipeError, OSError):
            raise SandboxDied(self.process.wait()) from None
        return self.receive(timeout, None if header.get("op") == "extract" else _MAX_PAGE_ANSWER)

    def receive(
        self, timeout: float, max_payload: int | None = _MAX_PAGE_ANSWER
    ) -> tuple[dict[str, Any], bytes]:
        """The worker's next frame, within timeout seconds, with at most max_payload bytes."""
        assert self.process.stdout is not None
        with _DeadlineReader(self.process.stdout.fileno(), time.monotonic() + timeout) as reader:
            try:
                head_size, payload_size = _FRAME.unpack(reader.read(_FRAME.size))
                answer = json.loads(reader.read(head_size))
                if max_payload is not None and payload_size > max_payload:
                    raise EOFError  # not an answer this protocol gives: treat the worker as broken
                body = reader.read(payload_size) if payload_size else b""
            except TimeoutError:
                self.kill()
                raise SandboxTimeout(f"no answer within {timeout:g} s") from None
            except EOFError:
                self.kill()
                raise SandboxDied(self.process.wait()) from None
        return answer, body

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class _DeadlineReader:
    """Reads a pipe until a deadline (the worker's stdout is read unbuffered, with select)."""

    def __init__(self, fd: int, deadline: float) -> None:
        self.fd = fd
        self.deadline = deadline
        self.selector = selectors.DefaultSelector()
        self.selector.register(fd, selectors.EVENT_READ)

    def __enter__(self) -> _DeadlineReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.selector.close()

    def read(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            left = self.deadline - time.monotonic()
            if left <= 0 or not self.selector.select(left):
                raise TimeoutError
            chunk = os.read(self.fd, min(size - len(out), 1 << 20))
            if not chunk:
                raise EOFError
            out += chunk
        return bytes(out)


class Sandbox:
    """The worker process of this function instance, started on first use and after each kill."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._worker: _Worker | None = None
        self._generations = itertools.count(1)
        self._ids = itertools.count(1)
        self._dir: str | None = None
        self.started = 0  # workers started, for tests and logs

    def new_id(self) -> int:
        return next(self._ids)

    def file_for(self, data: bytes) -> str:
        """Write a document's bytes where the worker can read them (deleted by the caller).

        One directory per process, named after it: a Lambda container that was stopped (timeout,
        out of memory) keeps /tmp for the next process, so the first PDF of a process removes the
        directories of processes that no longer run. A write that fails (/tmp full: 512 MB unless
        EphemeralStorage says more) leaves nothing behind.
        """
        with self.lock:
            if self._dir is None or not os.path.isdir(self._dir):
                self._dir = _fresh_directory()
            directory = self._dir
        fd, path = tempfile.mkstemp(suffix=".pdf", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        return path

    def worker(self) -> _Worker:
        """The running worker (call under the lock)."""
        if self._worker is not None and self._worker.process.poll() is None:
            return self._worker
        if self._worker is not None:
            self._worker.kill()
        # The child imports docclass and pypdfium2 from wherever this process found them (Lambda
        # puts layers on sys.path, not on PYTHONPATH). It gets nothing else of the environment: it
        # parses untrusted bytes, and the function's AWS credentials are in its variables.
        env = {
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
        }
        _not_dumpable()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "docclass.pdf_sandbox"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            raise SandboxUnavailable(f"cannot start the PDF renderer: {exc}") from exc
        worker = _Worker(process, next(self._generations))
        try:
            hello, _ = worker.receive(STARTUP_SECONDS)
        except SandboxError as exc:
            raise SandboxUnavailable(f"the PDF renderer did not start: {exc}") from exc
        if not hello.get("ready"):
            worker.kill()
            raise SandboxUnavailable(f"the PDF renderer did not start: {hello}")
        self._worker = worker
        self.started += 1
        return worker

    def call(
        self, header: dict[str, Any], payload: bytes = b"", *, timeout: float
    ) -> tuple[dict[str, Any], bytes, int]:
        """(answer, payload, generation of the worker that answered); DocumentError for a refusal."""
        with self.lock:
            worker = self.worker()
            answer, body = worker.call(header, payload, timeout)
        if "error" in answer:
            raise DocumentError(answer)
        return answer, body, worker.generation

    @property
    def generation(self) -> int:
        """The running worker's generation (0: none running); documents of another one are gone."""
        worker = self._worker
        return worker.generation if worker is not None and worker.process.poll() is None else 0

    def stop(self) -> None:
        with self.lock:
            if self._worker is not None:
                self._worker.kill()
                self._worker = None


_DIR_PREFIX = "docclass-pdf-"


def _fresh_directory() -> str:
    """This process's directory for PDFs under the temporary directory; those of gone processes removed."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        if name.startswith(_DIR_PREFIX) and name[len(_DIR_PREFIX) :].isdigit():
            pid = int(name[len(_DIR_PREFIX) :])
            if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    directory = os.path.join(root, f"{_DIR_PREFIX}{os.getpid()}")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    atexit.register(shutil.rmtree, directory, True)
    return directory


def _prctl(option: int, value: int) -> bool:
    """Linux prctl(2); False where it is not available."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4


def _not_dumpable() -> None:
    """Make this process's /proc entries (its environment, with the function's AWS credentials,
    its memory) unreadable to other processes of the same user, such as the worker: without it a
    worker that PDFium's parsing let an attacker run could read /proc/<parent>/environ."""
    _prctl(_PR_SET_DUMPABLE, 0)


SANDBOX = Sandbox()
atexit.register(SANDBOX.stop)


# --- the worker's side ----------------------------------------------------------------------------


def _status_bytes(field: str) -> int:
    """A size from /proc/self/status (VmSize, VmRSS) in bytes; 0 where there is none."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# An idle worker holding this much more than when it started exits; the next PDF starts a new one.
_BLOATED_BYTES = 64 * 1024 * 1024


class _Requests:
    """What the worker answers: documents by id, opened from their files, and their pages."""

    def __init__(self) -> None:
        import pypdfium2

        self.pdfium = pypdfium2
        self.documents: dict[int, Any] = {}
        # The size of the process once ready: a request may add its allowance to this, never to
        # what an earlier request left behind (the limit must not creep up document by document).
        self.baseline = _status_bytes("VmSize")
        self.baseline_rss = _status_bytes("VmRSS")

    def limit(self, allowance: int | None) -> None:
        """Let this request take at most `allowance` bytes beyond the process's size when ready."""
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        soft = hard if allowance is None else self.baseline + max(0, allowance)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    def bloated(self) -> bool:
        """Idle and still holding much more than when ready (allocator caches after a heavy page)."""
        return not self.documents and _status_bytes("VmRSS") > self.baseline_rss + _BLOATED_BYTES

    def answer(self, header: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        self.limit(header.get("allowance"))
        handler = getattr(self, "op_" + str(header.get("op")), None)
        if handler is None:
            return {"error": f"unknown request {header.get('op')!r}"}, b""
        try:
            result: tuple[dict[str, Any], bytes] = handler(header)
            return result
        except self.pdfium.PdfiumError as exc:
            return {"error": str(exc), "code": getattr(exc, "err_code", None)}, b""

    def op_open(self, header: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        pdfium = self.pdfium
        try:
            document = pdfium.PdfDocument(header["path"])
        except pdfium.PdfiumError as exc:
            raw = pdfium.raw
            code = getattr(exc, "err_code", None)
            # pypdfium2 refuses a document of no pages with PDFium's last error, which is then
            # stale: open it through the raw API to tell an empty document from a damaged one.
            empty = False
            if code not in (raw.FPDF_ERR_PASSWORD, raw.FPDF_ERR_SECURITY):
                handle = raw.FPDF_LoadDocument(header["path"].encode(), None)
                if handle:
                    empty = raw.FPDF_GetPageCount(handle) == 0
                    raw.FPDF_CloseDocument(handle)
            kind = {raw.FPDF_ERR_PASSWORD: "password", raw.FPDF_ERR_SECURITY: "security"}.get(code, "")
            return {"error": str(exc), "kind": "empty" if empty else kind}, b""
        self.documents[header["id"]] = document
        return {"pages": len(document)}, b""

    def op_page(self, header: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """Render page `number` so its longer side fits max_side, at max_dpi at most and never finer
        than a scan's own image; refuse it first if it has no size, holds an image over max_pixels,
        or would need more than max_need bytes (then the answer says how many)."""
        page = self.documents[header["id"]][header["number"] - 1]
        try:
            width_pt, height_pt = page.get_size()
            if not (width_pt > 0 and height_pt > 0):
                return {"refused": f"has no size ({width_pt} x {height_pt} pt)"}, b""
            images, native, too_large = self._images(page, width_pt * height_pt, header["max_pixels"])
            if too_large:
                return {"refused": f"holds an image too large: {too_large}"}, b""
            max_side = header["max_side"]
            scale = min(max_side / max(width_pt, height_pt), header["max_dpi"] / _POINTS_PER_INCH)
            if header.get("max_area"):  # a model that caps the page's area (Cohere Embed v4)
                scale = min(scale, math.sqrt(header["max_area"] / (width_pt * height_pt)))
            if native is not None:
                # A scanned page is rendered at the scan's own resolution at most: more pixels
                # would only be interpolated.
                scale = min(scale, native)
            # A hair under the exact ratio: PDFium rounds each side up, and 216 pt x 300/72 must be
            # 900 px, not 901.
            scale *= 1 - 1e-9
            width, height = render_size(width_pt, height_pt, scale, max_side)
            # PDFium's bitmap (3 bytes a pixel), Pillow's RGB copy of it in the function (4 bytes a
            # pixel) and what decoding the page's images takes.
            need = width * height * 7 + images + header.get("fixed_need", 0)
            if header.get("max_need") is not None and need > header["max_need"]:
                return {"over_budget": need, "width": width, "height": height}, b""
            bitmap = page.render(scale=scale, may_draw_forms=False, rev_byteorder=True)
            try:
                answer = {"width": bitmap.width, "height": bitmap.height, "stride": bitmap.stride}
                answer["mode"] = bitmap.mode
                return answer, bytes(bitmap.buffer)
            finally:
                bitmap.close()
        finally:
            page.close()

    def _images(self, page: Any, page_area: float, max_pixels: int) -> tuple[int, float | None, str]:
        """Bytes PDFium may take to decode the page's images, the scan's scale (pixels per point) if
        one image covers most of the page, and why an image is too large to draw ("" if none is).

        Measured on these machines (a 16000 x 16000 grey or 12000 x 12000 RGB image on a letter
        page, rendered at 2048 px): PDFium decodes Flate and DCT images a row at a time while it
        downsamples them (35-94 MB beyond the interpreter), while a JPEG 2000 (JPXDecode) image took
        179 MB for 144 M pixels; it is counted at 1.25 bytes a pixel. An image past Pillow's own
        bomb limit is refused outright, as an image file of that size would be.
        """
        need = 0
        native: float | None = None
        for image in page.get_objects(filter=[self.pdfium.raw.FPDF_PAGEOBJ_IMAGE], max_depth=4):
            try:
                width, height = image.get_px_size()
                filters = image.get_filters()
                left, bottom, right, top = image.get_bounds()
            except self.pdfium.PdfiumError:
                continue  # an image PDFium cannot size is one it will not draw either
            if width * height > max_pixels:
                return need, native, f"{width}x{height} px (limit {max_pixels} px)"
            if "JPXDecode" in filters:
                need += width * height * 5 // 4
            drawn = (right - left) * (top - bottom)
            if drawn >= _SCAN_COVER * page_area and right > left:
                scale = max(width, height) / max(right - left, top - bottom)
                native = scale if native is None else max(native, scale)
        return need, native, ""

    def op_extract(self, header: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """Pages first..last as a PDF of their own: the pages' objects copied, not re-rendered."""
        import io

        part = self.pdfium.PdfDocument.new()
        try:
            part.import_pages(self.documents[header["id"]], list(range(header["first"] - 1, header["last"])))
            out = io.BytesIO()
            part.save(out)
        finally:
            part.close()
        return {}, out.getvalue()

    def op_close(self, header: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        document = self.documents.pop(header["id"], None)
        if document is not None:
            document.close()
        return {}, b""


def serve() -> None:
    """The worker's loop: one request at a time until its stdin closes."""
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever PDFium or Python prints goes to stderr, never into an answer
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # a function that dies takes its worker with it
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as score:
        score.write("1000")  # if memory runs out anyway, the kernel stops the worker, not the function
    side = _Requests()
    _write_frame(answers, {"ready": True})
    while True:
        try:
            header, _ = _read_frame(requests)
        except EOFError:
            return
        try:
            answer, payload = side.answer(header)
        except MemoryError:
            answer, payload = {"error": "out of memory", "memory": True}, b""
        except Exception as exc:  # an answer for every request: the function must not wait for none
            answer, payload = {"error": f"{type(exc).__name__}: {exc}"}, b""
        _write_frame(answers, answer, payload)
        if side.bloated():
            return


if __name__ == "__main__":
    serve()
