"""Peak memory of decoding each kind of input, against the functions' memory budgets.

Usage (from the repo root):

    .venv/bin/python bench/memory.py [--quick]

Every input is decoded by docclass.images.load_image in a fresh child interpreter
(tests/huge_images.py: the input is built first, then Linux's peak-RSS mark is reset through
/proc/self/clear_refs, so the peak is the decode's alone, above the RSS it started from). Each row
gives the header-based estimate (docclass.images.decode_need), the measured peak with
ClassifyFunction's budget (1024 MB: 368 MB per document), whether each function accepts it, and,
for a refused input, the peak of the same decode without a budget: what it would have cost. One
more child measures what a document holds after its decode (JPEG re-encode and the offline
embedder on a 2048 x 2048 page), the figure behind docclass.memory.AFTER_DECODE_MB.

Writes bench/results/memory.md (and prints it). --quick leaves out the unbudgeted decodes of the
refused inputs (up to 1.5 GB each) and the largest inputs.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, RESULTS, child_env, command_line, markdown_table, write_results

TESTS = REPO_ROOT / "tests"
MIB = 1024 * 1024

# (label, kind in tests/huge_images.py, width, height, in the quick run)
INPUTS = [
    ("300-dpi letter JPEG", "jpeg", 2550, 3300, True),
    ("300-dpi letter PNG, RGB", "png-rgb", 2550, 3300, True),
    ("300-dpi letter PNG, 16-bit grey", "png-grey16", 2550, 3300, True),
    ("300-dpi letter PNG, 16-bit RGBA", "png-rgba16", 2550, 3300, True),
    ("300-dpi letter TIFF, RGB (Deflate)", "tiff-rgb", 2550, 3300, True),
    ("600-dpi letter JPEG (draft 1/2)", "jpeg", 5100, 6600, False),
    ("600-dpi letter JPEG, progressive", "jpeg-progressive", 5100, 6600, False),
    ("600-dpi letter PNG, RGBA", "png-rgba", 5100, 6600, True),
    ("600-dpi letter TIFF, RGB", "tiff-rgb", 5100, 6600, False),
    ("4000 x 4000 WebP (lossless)", "webp", 4000, 4000, False),
    ("8000 x 8000 JPEG (draft 1/2)", "jpeg", 8000, 8000, False),
    ("8000 x 8000 PNG, 16-bit RGBA", "png-rgba16", 8000, 8000, True),
    ("16000 x 11000 TIFF, RGB", "tiff-rgb", 16000, 11000, True),
    ("12000 x 12000 PNG, RGBA (0.57 MB file)", "png-rgba", 12000, 12000, True),
    ("13000 x 13000 PNG, RGBA", "png-rgba", 13000, 13000, True),
]

AFTER_DECODE_CHILD = r"""
import io, json, sys
sys.path.insert(0, sys.argv[1])
from huge_images import _status
from PIL import Image
from docclass.images import encode_jpeg, load_image
from docclass.local_embedder import LocalEmbedder
grey = Image.effect_noise((2048, 2048), 40)
buffer = io.BytesIO()
Image.merge("RGB", (grey, grey, grey)).save(buffer, "PNG")
page = load_image(buffer.getvalue())
embedder = LocalEmbedder(dimension=1024)
embedder.embed(load_image(encode_jpeg(page)))  # warm: first-call allocations are not per document
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
start = _status("VmRSS")
body = encode_jpeg(page)
vector = embedder.embed(page)
print(json.dumps({"peak_bytes": _status("VmHWM") - start, "jpeg_bytes": len(body)}))
"""


def decode(kind: str, width: int, height: int, memory_mb: int) -> dict:
    """One decode in a fresh interpreter (tests/huge_images.py), as JSON."""
    proc = subprocess.run(
        [sys.executable, str(TESTS / "huge_images.py"), kind, str(width), str(height), str(memory_mb)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} {width}x{height} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _env() -> dict[str, str]:
    env = child_env()
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}:{TESTS}"
    return env


def after_decode() -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", AFTER_DECODE_CHILD, str(TESTS)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer inputs, no unbudgeted decodes")
    parser.add_argument("--output", type=Path, default=RESULTS / "memory.md")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO_ROOT / "layers" / "docclass"))
    from docclass.memory import classify_budget, gallery_budget

    classify, gallery = classify_budget(1024), gallery_budget(1536, 4)
    rows = []
    for label, kind, width, height, quick in INPUTS:
        if args.quick and not quick:
            continue
        result = decode(kind, width, height, 1024)
        need = result["estimate_bytes"] + result["file_bytes"]
        refused = bool(result["refused"])
        without = "-"
        if refused and not args.quick:
            without = f"{decode(kind, width, height, 0)['peak_bytes'] / MIB:,.0f}"
        rows.append(
            [
                label,
                f"{result['file_bytes'] / 1e6:.2f}",
                f"{need / MIB:,.0f}",
                f"{result['peak_bytes'] / MIB:,.0f}",
                "refused" if refused else "accepted",
                "accepted" if need <= gallery.per_document else "refused",
                without,
            ]
        )
        print(label, rows[-1][1:], flush=True)
    after = after_decode()
    table = markdown_table(
        [
            "input",
            "file MB",
            "estimate MB (decode + file)",
            "peak MB, ClassifyFunction",
            f"ClassifyFunction ({classify.per_document // MIB} MB)",
            f"GalleryFunction ({gallery.per_document // MIB} MB each of 4)",
            "peak MB without a budget",
        ],
        rows,
        "lrrrllr",
    )
    machine = {"machine": platform.machine(), "python": platform.python_version()}
    import PIL

    machine["pillow"] = PIL.__version__
    text = f"""# Decode memory per input kind

```bash
{command_line()}
```

Machine: {json.dumps(machine)} (the development machine: 2 shared cores). MB = MiB.

Peak = the decode's peak RSS above the RSS it started from, in a fresh interpreter
(docclass.images.load_image with ClassifyFunction's budget; a refused input stops at its header).
The estimate is what the budget check compares, from the header alone. Budgets
(docclass/memory.py): ClassifyFunction 1024 MB - 128 runtime - 480 index - 48 after the decode =
{classify.per_document // MIB} MB; GalleryFunction (1536 - 128) / 4 - 48 = {gallery.per_document // MIB} MB per image, 4 at once.

{table}

After the decode, a document holds its page, the JPEG re-encode and the embedder's working arrays:
{after["peak_bytes"] / MIB:,.0f} MB measured for a 2048 x 2048 page with the offline embedder (JPEG body
{after["jpeg_bytes"] / 1e6:.1f} MB), besides the page itself (16 MB); docclass.memory reserves 48 MB for it.
"""
    write_results(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
