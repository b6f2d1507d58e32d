"""The `docclass` command imports FAISS only for the commands that search an index."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Runs one command in a fresh interpreter and reports which heavy modules it loaded.
PROBE = """
import json, sys
from docclass_local.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "faiss": "faiss" in sys.modules,
                  "evaluate": "docclass_local.evaluate" in sys.modules}))
"""


def run_command(*argv: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["eval", "--help"], ["samples", "--help"]])
def test_help_does_not_import_faiss_nor_the_evaluation(argv):
    # given a fresh interpreter / when the help is printed
    found = run_command(*argv)
    # then
    assert found["code"] == 0
    assert found["faiss"] is False
    assert found["evaluate"] is False


def test_writing_samples_does_not_import_faiss(tmp_path):
    # given / when
    found = run_command("samples", str(tmp_path), "--per-class", "1", "--dpi", "50")
    # then
    assert found["code"] == 0
    assert found["faiss"] is False
    assert len(list(tmp_path.rglob("*.jpg"))) == 8


def test_no_module_of_docclass_local_imports_the_cli():
    # given: the cli is the top of docclass_local; a module importing it back makes a cycle
    import ast
    from pathlib import Path

    import docclass_local

    root = Path(docclass_local.__file__).parent
    # when
    importers = []
    for path in root.rglob("*.py"):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n == "docclass_local.cli" for n in names):
                importers.append(path.relative_to(root).as_posix())
    # then
    assert importers == []


def test_docclass_status_loads_no_faiss_numpy_nor_pillow():
    # given a fresh interpreter
    probe = (
        "import sys, docclass_local.status, docclass.config, docclass.routing;"
        "print(sorted(m for m in ('faiss', 'numpy', 'PIL') if m in sys.modules))"
    )
    # when the modules behind `docclass status` are imported
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=False
    )
    # then the library's package import did not drag in the index and image stack
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
