"""The repository's own files: no merge left half done."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A conflict's three marker lines as git writes them (seven characters at the start of a line).
MARKER = re.compile(r"^(<{7} |={7}$|>{7} )", re.MULTILINE)


def tracked_text_files() -> list[Path]:
    try:
        names = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    suffixes = {".md", ".py", ".yaml", ".yml", ".toml", ".json", ".html", ".css", ".js", ".txt", ""}
    return [ROOT / n.decode() for n in names if n and Path(n.decode()).suffix in suffixes]


def test_no_tracked_file_holds_a_merge_conflict_marker():
    files = tracked_text_files()
    assert len(files) > 50  # the listing worked
    marked = [
        str(path.relative_to(ROOT))
        for path in files
        if path.is_file() and MARKER.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert marked == []
