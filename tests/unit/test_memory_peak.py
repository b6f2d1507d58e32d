"""The decode's real peak memory, measured in a fresh interpreter, against the estimate and the budget."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from docclass.images import decode_need
from docclass.memory import MB, classify_budget
from huge_images import header_only_png

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's peak-RSS reset (/proc/self/clear_refs)"
)


def decode_in_child(kind: str, width: int, height: int, memory_mb: int = 1024) -> dict:
    """tests/huge_images.py's measurement: the decode's peak RSS above where it started."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "layers" / "docclass"), str(ROOT / "tests")])
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "huge_images.py"),
            kind,
            str(width),
            str(height),
            str(memory_mb),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def largest_accepted_square(colour_type: int) -> int:
    """The side of the largest square PNG of this colour type that ClassifyFunction accepts."""
    budget = classify_budget(1024).per_document
    low, high = 1000, 20_000
    while high - low > 1:
        side = (low + high) // 2
        need = decode_need(Image.open(io.BytesIO(header_only_png(side, side, colour_type))))
        low, high = (side, high) if need + 2 * MB <= budget else (low, side)
    return low


@pytest.mark.parametrize(("kind", "colour_type"), [("png-rgba", 6), ("png-rgb", 2)])
def test_the_largest_accepted_decode_stays_under_the_budget(kind, colour_type):
    # given the largest square PNG of this kind that ClassifyFunction's budget accepts
    side = largest_accepted_square(colour_type)
    # when a fresh interpreter decodes it with that budget
    result = decode_in_child(kind, side, side)
    # then it was accepted, and its real peak stayed under the estimate and the budget
    assert result["refused"] == "", result
    assert result["peak_bytes"] <= result["estimate_bytes"] <= result["budget_bytes"], result
    # and the estimate is not wildly pessimistic (within its fixed margin plus 25%)
    assert result["estimate_bytes"] <= 1.25 * result["peak_bytes"] + 48 * MB, result


def test_a_refused_image_is_refused_without_allocating_its_pixels():
    # given the 0.57 MB PNG that declares 12000 x 12000 RGBA (1.9 GB decoded before this fix)
    result = decode_in_child("png-rgba", 12_000, 12_000)
    # then it is refused, and the process's peak barely moved
    assert "image too large to decode in memory" in result["refused"], result
    assert result["peak_bytes"] < 8 * MB, result
