"""Per-document overhead of docclass vs the original approach's pipeline, through the local stack.

Usage (from the repo root):

    .venv/bin/python bench/overhead.py [--quick] [--docs 20]

"Overhead" is everything a classify invocation does except the embedding model's own work:
fetch the document from S3, decode, normalise, encode the model request, search, decide, route
(copy + delete). Both pipelines call the same zero-latency stand-in for Titan
(reference/fake_bedrock.py); docclass through its real BedrockEmbedder (Titan), so its real JPEG request
encoding is measured, the reference through its PNG request; the stand-in's own time is
subtracted. Each document is uploaded to inbox/docclass/... and inbox/reference/... in turn (the
order alternates), one at a time, so each invocation carries exactly one document: the time from
the handler receiving the SQS event to its return is that document's overhead. The floor is a bare
full-resolution decode (Image.open(...).load()) of the same bytes.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")  # one core, as a 1-vCPU Lambda; before numpy loads

import argparse
import base64
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference.fake_bedrock import FakeBedrockRuntime
from reference.handlers import ReferenceFunctions
from reference.harness import (
    Dispatcher,
    Invocation,
    both,
    docclass_handler,
    docclass_uses_titan_with,
    median,
    p95,
    seed_gallery,
    timing_stack,
    write_report,
)
from reference.method import prepare_png, request_body

# Classes whose generated pages are US-letter sized (receipt and id_card are not).
LETTER_CLASSES = ("invoice", "bank_statement", "letter", "form", "memo", "resume")
FORMATS = ("JPEG", "PNG", "TIFF")
JPEG_QUALITY = 85
DOCCLASS, REFERENCE = "inbox/docclass/", "inbox/reference/"


def render_pages(count: int) -> list[tuple[str, str, dict[str, bytes]]]:
    """(label, name, {format: bytes}) for count distinct 300-dpi letter pages."""
    from docclass_local import samples

    pages = []
    for i in range(count):
        label = LETTER_CLASSES[i % len(LETTER_CLASSES)]
        image = samples.render(label, 7000 + i, dpi=300)
        files = {fmt: samples.encode(image, fmt, quality=JPEG_QUALITY) for fmt in FORMATS}
        pages.append((label, f"{label}-{i:03d}", files))
    return pages


def wait_for(dispatcher: Dispatcher, key: str, timeout: float = 300.0) -> Invocation:
    deadline = time.monotonic() + timeout
    while True:
        invocation = dispatcher.done.get(timeout=max(0.1, deadline - time.monotonic()))
        if key in invocation.keys:
            return invocation


def floor_seconds(data: bytes) -> float:
    started = time.perf_counter()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
    return time.perf_counter() - started


def through_stack(pages: list[tuple[str, str, dict[str, bytes]]]) -> dict[str, dict[str, list[float]]]:
    """Seconds per document, per format and per pipeline ("docclass", "reference", "floor")."""

    fake = FakeBedrockRuntime()
    reference = ReferenceFunctions(fake)
    timings: dict[str, dict[str, list[float]]] = {
        f: {"docclass": [], "reference": [], "floor": []} for f in FORMATS
    }
    with docclass_uses_titan_with(fake):
        dispatcher = Dispatcher(
            {DOCCLASS: docclass_handler("classify"), REFERENCE: reference.classify_handler}, [fake], DOCCLASS
        )
        gallery = both(docclass_handler("gallery"), reference.gallery_handler)
        with timing_stack(dispatcher, gallery) as stack:
            s3 = seed_gallery(stack, LETTER_CLASSES)
            # Warm both containers (index load, first imports) on documents that are not measured.
            for prefix in (DOCCLASS, REFERENCE):
                key = f"{prefix}warmup.jpg"
                s3.put_object(Bucket=stack.bucket, Key=key, Body=pages[-1][2]["JPEG"][:-2] + b"\xff\xd9")
                wait_for(dispatcher, key)
            for i, (_label, name, files) in enumerate(pages):
                for fmt in FORMATS:
                    data = files[fmt]
                    order = (
                        (DOCCLASS, REFERENCE) if (i + FORMATS.index(fmt)) % 2 == 0 else (REFERENCE, DOCCLASS)
                    )
                    for prefix in order:
                        key = f"{prefix}{fmt.lower()}/{name}.{fmt.lower()}"
                        s3.put_object(Bucket=stack.bucket, Key=key, Body=data)
                        invocation = wait_for(dispatcher, key)
                        if invocation.failures:
                            raise RuntimeError(f"{key} failed in {invocation.pipeline}")
                        timings[fmt]["docclass" if prefix == DOCCLASS else "reference"].append(
                            invocation.seconds
                        )
                    timings[fmt]["floor"].append(floor_seconds(data))
                print(f"  page {i + 1}/{len(pages)} done", file=sys.stderr)
            stack.wait_until_idle(timeout=60)
            routed = {
                p: s3.list_objects_v2(Bucket=stack.bucket, Prefix="classified/").get("KeyCount", 0)
                for p in (0,)
            }[0]
            left = s3.list_objects_v2(Bucket=stack.bucket, Prefix="inbox/").get("KeyCount", 0)
        expected = 2 * (len(pages) * len(FORMATS) + 1)
        if routed != expected or left:
            raise RuntimeError(f"routed {routed} of {expected} documents, {left} left in inbox/")
        print(f"  Bedrock calls (stand-in): {fake.calls}", file=sys.stderr)
    return timings


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over 8x8 blocks of two greyscale images (a simple, blockwise SSIM)."""
    h, w = (a.shape[0] // 8) * 8, (a.shape[1] // 8) * 8
    blocks_a = a[:h, :w].reshape(h // 8, 8, w // 8, 8).astype(np.float64)
    blocks_b = b[:h, :w].reshape(h // 8, 8, w // 8, 8).astype(np.float64)
    mu_a, mu_b = blocks_a.mean(axis=(1, 3)), blocks_b.mean(axis=(1, 3))
    var_a, var_b = blocks_a.var(axis=(1, 3)), blocks_b.var(axis=(1, 3))
    cov = ((blocks_a - mu_a[:, None, :, None]) * (blocks_b - mu_b[:, None, :, None])).mean(axis=(1, 3))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    return float(np.mean(num / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def hot_path(pages: list[tuple[str, str, dict[str, bytes]]]) -> dict[str, dict[str, list[float]]]:
    """Stage times outside the stack, interleaved: docclass's load_image with the former Lanczos
    filter and with the current one, docclass's request encoding, the reference's PNG request;
    plus the quality of the current filter against Lanczos."""
    from docclass import images
    from docclass.bedrock import BedrockEmbedder

    current = images._RESAMPLE
    out: dict[str, dict[str, list[float]]] = {}
    for fmt in FORMATS:
        t: dict[str, list[float]] = {
            k: []
            for k in ("lanczos", "current", "encode", "doc_body", "reference", "ref_body", "psnr", "ssim")
        }
        for _label, _name, files in pages:
            data = files[fmt]
            images._RESAMPLE = Image.Resampling.LANCZOS
            started = time.perf_counter()
            before = images.load_image(data)
            t["lanczos"].append(time.perf_counter() - started)
            images._RESAMPLE = current
            started = time.perf_counter()
            page = images.load_image(data)
            t["current"].append(time.perf_counter() - started)
            started = time.perf_counter()
            jpeg = images.encode_jpeg(page, quality=BedrockEmbedder().jpeg_quality)
            body = json.dumps({"inputImage": base64.b64encode(jpeg).decode("ascii"), "embeddingConfig": {}})
            t["encode"].append(time.perf_counter() - started)
            t["doc_body"].append(len(body))
            started = time.perf_counter()
            png = prepare_png(data)
            t["reference"].append(time.perf_counter() - started)
            t["ref_body"].append(len(request_body(png, 1024)))
            a, b = np.asarray(before.convert("L")), np.asarray(page.convert("L"))
            t["psnr"].append(psnr(np.asarray(before), np.asarray(page)))
            t["ssim"].append(ssim(a, b))
        images._RESAMPLE = current
        out[fmt] = t
    return out


def ms(values: list[float]) -> str:
    return f"{1000 * median(values):.0f} / {1000 * p95(values):.0f}"


def report(pages: list, stack_t: dict, hot: dict) -> str:
    n = len(pages)
    lines = [
        f"{n} generated 300-dpi letter pages per format (about 2550x3300 px; JPEG at quality {JPEG_QUALITY},",
        "PNG, TIFF with LZW), each through both pipelines in the same run, alternating which goes first.",
        "Milliseconds per document, median / p95; the stand-in model's own time is subtracted.",
        "",
        "| Format | MB (median) | floor: bare decode | docclass | reference | reference ÷ docclass (median of per-page ratios) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for fmt in FORMATS:
        t = stack_t[fmt]
        size = median([len(files[fmt]) for _l, _n, files in pages]) / 1e6
        ratios = [r / d for r, d in zip(t["reference"], t["docclass"], strict=True)]
        lines.append(
            f"| {fmt} | {size:.1f} | {ms(t['floor'])} | **{ms(t['docclass'])}** | {ms(t['reference'])} | "
            f"**{median(ratios):.1f}x** |"
        )
    lines += [
        "",
        "Where the time goes, outside the stack (same pages, interleaved; ms median / p95):",
        "",
        "| Format | docclass load_image, Lanczos (before) | docclass load_image, Hamming (now) | docclass request (JPEG q90 + base64 + JSON) | reference decode + 2048x2048 + PNG | reference request body (median MB) | Hamming vs Lanczos: PSNR / SSIM (min) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt in FORMATS:
        h = hot[fmt]
        lines.append(
            f"| {fmt} | {ms(h['lanczos'])} | {ms(h['current'])} | {ms(h['encode'])} | {ms(h['reference'])} | "
            f"{median(h['ref_body']) / 1e6:.1f} | {min(h['psnr']):.1f} dB / {min(h['ssim']):.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=20, help="pages per format (default 20)")
    parser.add_argument("--quick", action="store_true", help="5 pages per format")
    args = parser.parse_args()
    count = 5 if args.quick else args.docs
    print(f"rendering {count} pages ...", file=sys.stderr)
    pages = render_pages(count)
    print("through the local stack ...", file=sys.stderr)
    stack_t = through_stack(pages)
    print("hot path stages ...", file=sys.stderr)
    hot = hot_path(pages)
    table = report(pages, stack_t, hot)
    print(table)
    path = write_report(
        "overhead",
        "Per-document overhead (docclass vs the original approach)",
        table + "\n\n" + interpretation(stack_t, hot),
    )
    print(f"\nwritten to {path}", file=sys.stderr)


def interpretation(stack_t: dict, hot: dict) -> str:
    jpeg = stack_t["JPEG"]
    ref_body, doc_body = median(hot["JPEG"]["ref_body"]) / 1e6, median(hot["JPEG"]["doc_body"]) / 1e6
    rest = 1000 * (median(jpeg["docclass"]) - median(hot["JPEG"]["current"]) - median(hot["JPEG"]["encode"]))
    return (
        "Titan's own latency is not in these numbers (the stand-in answers instantly); in AWS every "
        "document also waits for one InvokeModel round trip, which is likely to dominate docclass's "
        "time per page, so expect the end-to-end gap to be smaller than the ratios above, though the "
        f"reference also uploads a {ref_body:.1f} MB request body (base64 of a 2048x2048 PNG) per page "
        f"where docclass sends {doc_body:.1f} MB (base64 of a JPEG at quality 90). The reference's time "
        "is almost all its PNG encode of a noisy 2048x2048 scan; docclass's is the decode (the floor), "
        "the shrink to at most 2048 px (now Hamming instead of Lanczos: about half the time, the same "
        "picture to within the PSNR/SSIM shown) and a JPEG encode of about 10 ms; the remaining "
        f"~{rest:.0f} ms on JPEG pages are the S3 round trips to the local moto server (GET the page, "
        "embedding-cache GET and PUT, the index pointer's conditional GET, copy, delete) and hashing, "
        "which in AWS become network round trips of similar or greater cost. PNG and TIFF pages decode "
        "several times slower than JPEG and move 7-10 MB through S3, so docclass is closer to its floor "
        "there and the ratio smaller."
    )


if __name__ == "__main__":
    main()
