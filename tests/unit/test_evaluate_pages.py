"""`docclass eval` on PDFs: every page of a query scored, every multi-page document decided."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from conftest import draw_document, draw_page
from docclass_local.cli import add_eval_arguments
from docclass_local.evaluate import command as ev


def run(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser(prog="docclass eval")
    add_eval_arguments(parser)
    return ev.run(parser.parse_args([str(a) for a in argv]))


def test_a_query_pdf_is_scored_page_by_page_and_decided_as_a_document(tmp_path, capsys):
    # given a gallery of images and one PDF example, and a query folder holding a 3-page invoice PDF
    gallery, queries = tmp_path / "gallery", tmp_path / "queries"
    for kind in ("invoice", "letter", "form"):
        (gallery / kind).mkdir(parents=True)
        (gallery / kind / f"{kind}.png").write_bytes(draw_page(kind, seed=1))
    (gallery / "form" / "form-scan.pdf").write_bytes(draw_document(["form", "letter"], seed=30))
    (queries / "invoice").mkdir(parents=True)
    (queries / "invoice" / "packet.pdf").write_bytes(
        draw_document(["invoice", None, "invoice", "letter"], seed=20)
    )
    # when
    assert run(gallery, queries, "--json", "--dimension", "256") == 0
    out = json.loads(capsys.readouterr().out)
    # then the gallery took the PDF's first page only, each non-blank query page is a query,
    # and the document is decided from its pages
    assert out["gallery_labels"] == {"form": 2, "invoice": 1, "letter": 1}
    assert out["queries"] == 3
    multi = out["multi_page_documents"]
    assert (multi["count"], multi["right"]) == (1, 1)
    assert multi["results"][0]["key"] == "invoice/packet.pdf"
    assert multi["results"][0]["reason"] == "2 of 3 pages"


def test_the_text_report_says_how_multi_page_documents_did(tmp_path, capsys):
    gallery, queries = tmp_path / "gallery", tmp_path / "queries"
    for kind in ("invoice", "letter"):
        (gallery / kind).mkdir(parents=True)
        (gallery / kind / f"{kind}.png").write_bytes(draw_page(kind, seed=1))
    (queries / "letter").mkdir(parents=True)
    (queries / "letter" / "long.pdf").write_bytes(draw_document(["letter", "letter"], seed=40))
    assert run(gallery, queries, "--dimension", "256") == 0
    assert "1 of 1 multi-page document right" in capsys.readouterr().out


def test_an_unreadable_pdf_is_reported_not_counted(tmp_path, capsys):
    gallery, queries = tmp_path / "gallery", tmp_path / "queries"
    (gallery / "letter").mkdir(parents=True)
    (gallery / "letter" / "a.png").write_bytes(draw_page("letter"))
    (queries / "letter").mkdir(parents=True)
    (queries / "letter" / "ok.png").write_bytes(draw_page("letter", seed=3))
    (queries / "letter" / "bad.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
    assert run(gallery, queries, "--json", "--dimension", "256") == 0
    out = json.loads(capsys.readouterr().out)
    assert [u["key"] for u in out["unreadable"]] == ["letter/bad.pdf"]
    assert "cannot open PDF" in out["unreadable"][0]["reason"]
