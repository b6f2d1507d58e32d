"""docclass eval: the pure core on hand-made vectors, run() on generated folders, and the progress bar."""

from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from docclass.decide import Candidate
from docclass_local import evaluate as ev
from docclass_local.cli import add_eval_arguments
from docclass_local.progress import Progress

SHARED_DOCS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "docs"


def v(x: float, y: float) -> np.ndarray:
    return np.array([x, y], dtype=np.float32)


# Two gallery examples on a line; each query's nearest distance is chosen by hand:
#   a/q1 1.0 right, a/q2 2.0 right, a/q3 3.0 wrong (nearer to b), b/q1 1.0 right,
#   b/q2 4.0 right, b/q3 5.0 wrong (nearer to a), b/q4 1.0 right.
GALLERY = [("a", "a/g.png", v(0, 0)), ("b", "b/g.png", v(10, 0))]
QUERIES = [
    ("a", "a/q1.png", v(1, 0)),
    ("a", "a/q2.png", v(2, 0)),
    ("a", "a/q3.png", v(7, 0)),
    ("b", "b/q1.png", v(9, 0)),
    ("b", "b/q2.png", v(6, 0)),
    ("b", "b/q3.png", v(0, 5)),
    ("b", "b/q4.png", v(10, 1)),
]


def by_key(result: ev.EvalResult) -> dict[str, ev.QueryResult]:
    return {r.key: r for r in result.results}


# --------------------------------------------------------------------------- the core


def test_known_case_gives_exact_accuracy_confusion_precision_recall():
    summary = ev.summarise(ev.evaluate(GALLERY, QUERIES, k=1))

    assert summary.mode == "queries"
    assert (summary.queries, summary.correct, summary.classified) == (7, 5, 7)
    assert summary.accuracy == pytest.approx(5 / 7)
    assert summary.coverage == 1.0
    assert summary.columns == ("a", "b")  # no unclassified column without a MaxDistance
    assert summary.confusion == ((2, 1), (1, 3))
    a, b = summary.per_class
    assert (a.label, a.support, a.predicted, a.correct) == ("a", 3, 3, 2)
    assert a.precision == pytest.approx(2 / 3) and a.recall == pytest.approx(2 / 3)
    assert (b.label, b.support, b.predicted, b.correct) == ("b", 4, 4, 3)
    assert b.precision == pytest.approx(3 / 4) and b.recall == pytest.approx(3 / 4)
    assert {m.key for m in summary.mistakes} == {"a/q3.png", "b/q3.png"}


def test_known_case_distance_spread_of_right_and_wrong_answers():
    summary = ev.summarise(ev.evaluate(GALLERY, QUERIES))

    # right: 1, 1, 1, 2, 4 ; wrong: 3, 5 (numpy's linear percentile)
    assert summary.right == ev.DistanceStats(5, 1.0, 1.0, pytest.approx(3.2), 4.0)
    assert summary.wrong == ev.DistanceStats(2, 3.0, 4.0, pytest.approx(4.8), 5.0)


def test_known_case_suggests_the_threshold_with_the_best_f1_of_right_and_kept():
    suggestion = ev.summarise(ev.evaluate(GALLERY, QUERIES)).suggestion

    # F1 = 2*right_kept/(kept + 5) for the last kept distance 1, 2, 3, 4, 5:
    #      6/8, 8/9, 8/10, 10/11, 10/12 -> keep up to 4, cut halfway to 5.
    assert suggestion.max_distance == 4.5
    assert (suggestion.kept, suggestion.total) == (6, 7)
    assert suggestion.accuracy_on_kept == pytest.approx(5 / 6)
    assert suggestion.coverage == pytest.approx(6 / 7)
    assert suggestion.f1 == pytest.approx(10 / 11)
    assert (suggestion.right_rejected, suggestion.wrong_rejected) == (0, 1)


def test_known_case_margins_are_the_gap_to_the_nearest_other_label():
    results = by_key(ev.evaluate(GALLERY, QUERIES))

    # a/q3 sits at 7: b's example is 3 away, a's 7; b/q3 at (0, 5): a's 5, b's sqrt(125)
    assert [c.label for c in results["a/q3.png"].candidates] == ["b", "a"]
    assert results["a/q3.png"].margin == pytest.approx(4.0)
    assert results["b/q3.png"].margin == pytest.approx(125**0.5 - 5)
    assert results["b/q2.png"].margin == pytest.approx(2.0)


def test_known_case_review_margins_that_catch_a_quarter_to_all_of_the_mistakes():
    options = ev.summarise(ev.evaluate(GALLERY, QUERIES)).review

    # labelled margins: 2 (b/q2), 4 (a/q3 wrong), 6, 6.18 (b/q3 wrong), 8, 8, 9.05; a margin just
    # above a mistake's catches it, and everything nearer
    assert [o.review_margin for o in options] == [None, 5, 7.1]
    off, first, both = options
    assert (off.review, off.caught, off.mistakes, off.accuracy_on_rest) == (0, 0, 2, pytest.approx(5 / 7))
    assert (first.review, first.caught, first.accuracy_on_rest) == (2, 1, pytest.approx(4 / 5))
    assert (both.review, both.caught, both.accuracy_on_rest) == (4, 2, 1.0)


def test_a_vote_that_picks_a_farther_label_has_a_negative_margin_and_is_caught():
    # k=3: two b examples at 4 and 4.5 outvote one a example at 3 (a negative margin)
    gallery = [("a", "a/g.png", v(3, 0)), ("b", "b/1.png", v(-4, 0)), ("b", "b/2.png", v(0, 4.5))]
    queries = [("a", "a/q.png", v(0, 0)), ("b", "b/q.png", v(-4, 1))]

    result = ev.evaluate(gallery, queries, k=3)
    options = ev.summarise(result).review

    assert by_key(result)["a/q.png"].margin == pytest.approx(-1.0)
    # halfway from -1 to the other query's margin, sqrt(50) - 1
    assert [o.review_margin for o in options] == [None, 2.5]
    assert (options[1].review, options[1].caught) == (1, 1)


def test_without_mistakes_the_only_review_option_is_off():
    right = [q for q in QUERIES if q[1] not in {"a/q3.png", "b/q3.png"}]
    assert [o.review_margin for o in ev.summarise(ev.evaluate(GALLERY, right)).review] == [None]


def query(key: str, label: str, predicted: str, *candidates: tuple[str, float]) -> ev.QueryResult:
    nearest = next(d for name, d in candidates if name == predicted)
    return ev.QueryResult(
        key, label, predicted, nearest, f"{predicted}/g.png", predicted,
        tuple(Candidate(name, d, f"{name}/g.png") for name, d in candidates),
    )  # fmt: skip


def summary_of(*results: ev.QueryResult) -> ev.Summary:
    return ev.summarise(ev.EvalResult("queries", 1, None, {"a": 1, "b": 1}, tuple(results)))


def test_an_offered_review_margin_catches_what_its_row_says_at_the_services_four_decimals():
    # a mistake and a right answer whose margins differ only past docclass-margin's 4 decimals
    options = summary_of(
        query("x.png", "b", "a", ("a", 0.3), ("b", 0.3 + 0.12346)),
        query("y.png", "a", "a", ("a", 0.3), ("b", 0.3 + 0.12347)),
        query("z.png", "a", "a", ("a", 0.1), ("b", 0.5)),
    ).review
    # and a mistake whose margin rounds to -0.0
    tiny = summary_of(
        query("x.png", "b", "a", ("a", 0.30004), ("b", 0.3)), query("z.png", "a", "a", ("a", 0.1), ("b", 0.5))
    ).review

    assert [(o.caught, o.mistakes) for o in options] == [(0, 1), (1, 1)]
    assert options[1].review == 2  # the two cannot be told apart at four decimals
    assert [(o.caught, o.mistakes) for o in tiny] == [(0, 1), (1, 1)] and tiny[1].review_margin > 0


def test_a_tiny_review_margin_is_printed_as_the_template_parameter_takes_it():
    summary = summary_of(
        query("x.png", "b", "a", ("a", 0.3), ("b", 0.3)),  # wrong, margin 0
        query("y.png", "a", "a", ("a", 0.3), ("b", 0.3001)),
    )
    run_ = ev.Run("g", "q", "local", "docclass-local-v1", 2, 2, 2, 0.1, [], summary)

    assert [o.review_margin for o in summary.review] == [None, 0.00005]
    assert "\n  0.00005 " in ev.render_text(run_) and "e-05" not in ev.render_html(run_)


def test_a_multi_page_document_counts_once_in_the_review_table_by_its_pages_decision():
    # three pages of one invoice: two close calls between a and b, one clear; the pages vote a
    pages = [
        query("doc.pdf#page=1", "a", "a", ("a", 0.30), ("b", 0.31)),
        query("doc.pdf#page=2", "a", "a", ("a", 0.30), ("b", 0.32)),
        query("doc.pdf#page=3", "a", "b", ("b", 0.20), ("a", 0.60)),
    ]
    options = summary_of(*pages, query("x.png", "b", "a", ("a", 0.4), ("b", 0.45))).review

    # the document's margin: b's nearest page (0.20) less a's (0.30); it is right, x.png is wrong
    assert [(o.labelled, o.mistakes) for o in options] == [(2, 1), (2, 1)]
    assert options[1].review == 2  # the document's negative margin is below any offered value


def test_the_summary_counts_the_documents_whose_true_label_is_a_candidate():
    summary = summary_of(
        query("x.png", "b", "a", ("a", 0.3), ("b", 0.35)),  # wrong, b is candidate 2
        query("y.png", "c", "a", ("a", 0.3), ("b", 0.4)),  # wrong, c nowhere
        query("z.png", "a", "a", ("a", 0.1), ("b", 0.5)),
    )
    run_ = ev.Run("g", "q", "local", "docclass-local-v1", 2, 3, 3, 0.1, [], summary)

    text, page = ev.render_text(run_), ev.render_html(run_)

    assert (summary.candidates_right, summary.documents_scored) == (2, 3)
    assert "the true label is among the 3 candidates of 2 of 3 documents (66.7%)" in text
    assert "margin 0.0500; the true label is candidate 2 (0.3500)" in page
    assert "the true label is not among the candidates" in page


def test_the_candidates_are_found_past_the_first_hits_when_one_label_crowds_them():
    # 100 examples of a around the query, then one each of b and c farther than all of them
    rng = np.random.default_rng(3)
    crowd = [("a", f"a/{i}.png", v(1 + rng.random() * 0.1, rng.random() * 0.1)) for i in range(100)]
    gallery = [*crowd, ("b", "b/1.png", v(5, 0)), ("c", "c/1.png", v(0, 6))]

    result = by_key(ev.evaluate(gallery))["a/0.png"]

    assert [c.label for c in result.candidates] == ["a", "b", "c"]
    assert result.candidates[0].example != "a/0.png"  # leave-one-out: never itself


def test_max_distance_leaves_far_documents_unclassified_in_their_own_column():
    summary = ev.summarise(ev.evaluate(GALLERY, QUERIES, max_distance=3.5))

    assert summary.columns == ("a", "b", "unclassified")
    assert summary.confusion == ((2, 1, 0), (0, 2, 2))
    assert (summary.correct, summary.classified) == (4, 5)
    assert summary.accuracy == pytest.approx(4 / 7)
    assert summary.coverage == pytest.approx(5 / 7)
    assert summary.accuracy_on_kept == pytest.approx(4 / 5)
    far = by_key(ev.evaluate(GALLERY, QUERIES, max_distance=3.5))["b/q2.png"]
    assert (far.predicted, far.answer, far.distance, far.neighbor) == (None, "b", 4.0, "b/g.png")


def test_the_suggestion_ignores_the_max_distance_of_the_run():
    with_limit = ev.summarise(ev.evaluate(GALLERY, QUERIES, max_distance=0.5)).suggestion
    assert with_limit.max_distance == 4.5


def test_leave_one_out_never_matches_a_document_with_itself():
    gallery = [
        ("a", "a/1.png", v(0, 0)),
        ("a", "a/2.png", v(1, 0)),
        ("b", "b/1.png", v(5, 0)),
        ("b", "b/2.png", v(7, 0)),
    ]
    for k in (1, 3):
        result = ev.evaluate(gallery, None, k=k)
        assert result.mode == "loo"
        assert all(r.neighbor != r.key and r.distance > 0 for r in result.results)
    found = by_key(ev.evaluate(gallery, None))
    assert (found["a/1.png"].neighbor, found["a/1.png"].distance) == ("a/2.png", 1.0)
    assert (found["b/1.png"].neighbor, found["b/1.png"].distance) == ("b/2.png", 2.0)


def test_leave_one_out_matches_an_identical_file_under_another_key():
    gallery = [
        ("a", "a/original.png", v(0, 0)),
        ("b", "b/copy.png", v(0, 0)),  # the same bytes filed under another label
        ("a", "a/other.png", v(3, 0)),
    ]
    found = by_key(ev.evaluate(gallery, None))

    assert (found["a/original.png"].neighbor, found["a/original.png"].distance) == ("b/copy.png", 0.0)
    assert found["a/original.png"].predicted == "b"
    assert found["b/copy.png"].neighbor == "a/original.png"


def test_leave_one_out_of_a_lone_document_is_unclassified():
    result = ev.evaluate([("a", "a/only.png", v(1, 0))], None)

    (only,) = result.results
    assert (only.predicted, only.answer, only.distance, only.neighbor) == (None, None, None, None)
    summary = ev.summarise(result)
    assert summary.columns == ("a", "unclassified")
    assert any("single example" in note for note in summary.notes)


def test_the_core_refuses_bad_input():
    with pytest.raises(ValueError, match="empty"):
        ev.evaluate([], None)
    with pytest.raises(ValueError, match="duplicate"):
        ev.evaluate([("a", "x", v(0, 0)), ("b", "x", v(1, 0))], None)
    with pytest.raises(ValueError, match="k must"):
        ev.evaluate(GALLERY, QUERIES, k=0)


def test_no_threshold_is_suggested_when_the_farthest_answer_is_right():
    suggestion = ev.suggest_max_distance([(0.1, True), (0.2, False), (0.3, True)])
    assert suggestion.max_distance is None
    assert suggestion.kept == 3


def test_no_threshold_is_suggested_without_right_answers():
    assert ev.suggest_max_distance([(0.1, False), (0.2, False)]).max_distance is None
    assert ev.suggest_max_distance([]).max_distance is None


def test_the_suggested_threshold_is_a_short_number_strictly_between_kept_and_rejected():
    suggestion = ev.suggest_max_distance([(0.31234, True), (0.31250, True), (0.31270, False)])
    assert 0.31250 < suggestion.max_distance < 0.31270
    assert len(repr(suggestion.max_distance)) <= len("0.31260")


def test_short_names_are_distinct_and_short():
    names = ["scientific_publication", "scientific_report", "specification", "memo", "unclassified"]
    short = ev.short_names(names)
    assert len(set(short.values())) == len(names)
    assert all(len(s) <= 3 for s in short.values())
    assert short["memo"] == "mem"


# --------------------------------------------------------------------------- run() on folders


def draw(layout: str, seed: int) -> Image.Image:
    """A small page in one of three clearly different layouts; the seed moves things a little."""
    rng = random.Random(f"{layout}{seed}")
    page = Image.new("L", (240, 310), 255)
    pen = ImageDraw.Draw(page)
    dx, dy = rng.randint(-4, 4), rng.randint(-4, 4)
    if layout == "letter":  # a dark letterhead, then lines of text
        pen.rectangle((20 + dx, 16 + dy, 110 + dx, 34 + dy), fill=0)
        for i in range(18):
            y = 60 + dy + i * 13
            pen.rectangle((24 + dx, y, 24 + dx + rng.randint(150, 195), y + 5), fill=50)
    elif layout == "table":  # a ruled grid over the whole page
        for r in range(13):
            pen.line((16, 30 + dy + r * 20, 224, 30 + dy + r * 20), fill=0, width=2)
        for c in range(5):
            pen.line((16 + c * 52 + dx, 30 + dy, 16 + c * 52 + dx, 270 + dy), fill=0, width=2)
    else:  # "poster": a few big solid blocks
        pen.ellipse((40 + dx, 30 + dy, 200 + dx, 170 + dy), fill=20)
        pen.rectangle((30 + dx, 200 + dy, 210 + dx, 280 + dy), fill=90)
    return page.convert("RGB")


def make_folder(root: Path, per_label: int = 4, seed: int = 0) -> Path:
    for label in ("letter", "table", "poster"):
        (root / label).mkdir(parents=True)
        for i in range(per_label):
            draw(label, seed + i).save(root / label / f"{label}_{i}.png")
    return root


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="docclass eval")
    add_eval_arguments(p)
    return p


def run(*argv: str | Path) -> int:
    return ev.run(parser().parse_args([str(a) for a in argv]))


def test_run_loo_json_on_generated_layouts(tmp_path, capsys):
    gallery = make_folder(tmp_path / "gallery")
    (gallery / "letter" / ".DS_Store").write_bytes(b"\x00hidden")  # skipped, not unreadable

    code = run(gallery, "--loo", "--json", "--dimension", "256")

    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "loo"
    assert out["queries"] == 12
    assert out["gallery_labels"] == {"letter": 4, "poster": 4, "table": 4}
    assert out["embedder"] == "local" and "NOT Amazon Titan" in out["model_note"]
    assert out["dimension"] == 256
    assert out["unreadable"] == []
    assert out["accuracy"] >= 0.75  # three layouts that nothing should confuse
    assert len(out["confusion"]) == 3 and sum(map(sum, out["confusion"])) == 12


def test_run_prints_a_readable_report_for_a_query_folder(tmp_path, capsys):
    gallery = make_folder(tmp_path / "gallery", per_label=3)
    queries = make_folder(tmp_path / "queries", per_label=2, seed=50)

    code = run(gallery, queries, "--dimension", "256", "--max-distance", "2")

    assert code == 0
    text = capsys.readouterr().out
    assert "docclass-local-v1" in text and "NOT Amazon Titan" in text
    assert "Titan" not in text.replace("NOT Amazon Titan", "")
    assert "accuracy" in text and "confusion matrix" in text and "suggested MaxDistance" in text
    assert "6 classified" in text


def known_case_run() -> ev.Run:
    result = ev.evaluate(GALLERY, QUERIES)
    return ev.Run(
        gallery_dir="g", query_dir="q", embedder="local", model_id="docclass-local-v1", dimension=2,
        documents=9, distinct_images=9, seconds=0.1, unreadable=[], summary=ev.summarise(result),
        results=result.results,
    )  # fmt: skip


def test_the_reports_offer_each_review_margin_with_what_it_sends_to_review():
    run_ = known_case_run()

    text = ev.render_text(run_)
    page = ev.render_html(run_)
    data = run_.to_dict()

    table = text[text.index("ReviewMargin ") :].splitlines()
    assert table[1].split() == ["off", "0", "(0.0%)", "0", "of", "2", "71.4%"]
    assert table[2].split() == ["5", "2", "(28.6%)", "1", "of", "2", "80.0%"]
    assert table[3].split() == ["7.1", "4", "(57.1%)", "2", "of", "2", "100.0%"]
    assert '<td class="name">7.1</td><td>4 (57.1%)</td><td>2 of 2</td><td>100.0%</td>' in page
    assert [o["review_margin"] for o in data["review"]] == [None, 5, 7.1]
    assert json.loads(json.dumps(data))["mistakes"][0]["candidates"][0]["label"] in {"a", "b"}


def test_an_unreadable_file_is_counted_not_fatal(tmp_path, capsys):
    gallery = make_folder(tmp_path / "gallery", per_label=3)
    (gallery / "table" / "notes.txt").write_text("not a scan at all\n")

    code = run(gallery, "--loo", "--json", "--dimension", "256")

    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["queries"] == 9
    assert out["documents"] == 10
    (bad,) = out["unreadable"]
    assert bad["key"] == "table/notes.txt" and "text" in bad["reason"]


def test_identical_files_are_embedded_once(tmp_path, capsys):
    gallery = make_folder(tmp_path / "gallery", per_label=2)
    (gallery / "poster" / "again.png").write_bytes((gallery / "poster" / "poster_0.png").read_bytes())

    assert run(gallery, "--loo", "--json", "--dimension", "256") == 0

    out = json.loads(capsys.readouterr().out)
    assert (out["documents"], out["distinct_images"]) == (7, 6)
    assert out["accuracy"] > 0


def test_html_report_is_one_self_contained_page(tmp_path, capsys):
    gallery = make_folder(tmp_path / "gallery", per_label=3)
    draw("letter", 99).save(gallery / "table" / "misfiled.png")  # a letter filed as a table: a mistake
    report = tmp_path / "report.html"

    code = run(gallery, "--loo", "--dimension", "256", "--report", report)

    assert code == 0
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<html") == 1
    assert page.rstrip().endswith("</html>")
    assert "http://" not in page and "https://" not in page
    assert "data:image/jpeg;base64," in page
    assert "table/misfiled.png" in page
    assert "NOT Amazon Titan" in page
    assert "<svg" in page
    assert str(report) in capsys.readouterr().out


def test_report_text_is_escaped(tmp_path):
    gallery = tmp_path / "gallery"
    (gallery / "letter").mkdir(parents=True)
    (gallery / "table").mkdir()
    draw("letter", 1).save(gallery / "letter" / "a.png")
    draw("table", 1).save(gallery / "letter" / '<b>"x"&.png')  # a mistake with markup in its name
    draw("table", 2).save(gallery / "table" / "b.png")
    report = tmp_path / "r.html"

    assert run(gallery, "--loo", "--dimension", "256", "--report", report, "--json") == 0

    page = report.read_text(encoding="utf-8")
    # Jinja2 (markupsafe) writes a double quote as &#34;, the same text as &quot;.
    assert '<b>"x"&.png' not in page and "&lt;b&gt;&#34;x&#34;&amp;.png" in page


def test_a_missing_folder_exits_2_with_a_message(tmp_path, capsys):
    code = run(tmp_path / "nope", "--loo")

    assert code == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and str(tmp_path / "nope") in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["QUERIES", "--loo"], "not both"),
        ([], "--loo"),
        (["--loo", "--k", "0"], "--k"),
        (["--loo", "--max-distance", "-1"], "--max-distance"),
        (["--loo", "--dimension", "100"], "EMBEDDING_DIMENSION"),
        (["--loo", "--report", "/no/such/folder/r.html"], "report"),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, extra, message):
    gallery = make_folder(tmp_path / "gallery", per_label=1)
    queries = make_folder(tmp_path / "queries", per_label=1)
    argv = [str(queries) if a == "QUERIES" else a for a in extra]

    assert run(gallery, *argv) == 2
    assert message in capsys.readouterr().err


def test_a_folder_without_labels_exits_2(tmp_path, capsys):
    (tmp_path / "flat").mkdir()
    draw("letter", 0).save(tmp_path / "flat" / "page.png")

    assert run(tmp_path / "flat", "--loo") == 2
    assert "no labels" in capsys.readouterr().err


@pytest.mark.shared_data
def test_leave_one_out_on_the_shared_documents_beats_chance(capsys):
    if not SHARED_DOCS.is_dir():
        pytest.skip(f"{SHARED_DOCS} is not present")

    assert run(SHARED_DOCS, "--loo", "--json", "--dimension", "256") == 0

    out = json.loads(capsys.readouterr().out)
    assert out["queries"] == 85
    assert len(out["gallery_labels"]) == 17
    assert out["accuracy"] > 1 / 17


# --------------------------------------------------------------------------- the progress bar


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_silent_in_a_log_when_the_work_is_quick():
    stream, clock = io.StringIO(), FakeClock()
    with Progress(50, "embedding", stream=stream, tty=False, clock=clock) as progress:
        for _ in range(50):
            clock.now += 0.01
            progress.advance()
    assert stream.getvalue() == ""


def test_progress_writes_plain_lines_every_ten_percent_in_a_long_logged_run():
    stream, clock = io.StringIO(), FakeClock()
    with Progress(100, "embedding", stream=stream, tty=False, clock=clock) as progress:
        for _ in range(100):
            clock.now += 1.0
            progress.advance()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0].startswith("embedding: 10/100")
    assert "ETA" in lines[0] and "/s" in lines[0]
    assert len(lines) == 10  # 10%, 20%, ... 90%, then the closing line
    assert lines[-1] == "embedding: 100/100 done in 1:40"


def test_progress_redraws_in_place_on_a_terminal_at_most_ten_times_a_second():
    stream, clock = io.StringIO(), FakeClock()
    with Progress(1000, "embedding", stream=stream, tty=True, clock=clock) as progress:
        for _ in range(1000):
            clock.now += 0.001  # one second in all
            progress.advance()
    text = stream.getvalue()
    assert text.endswith("\n")
    assert 2 <= text.count("\r") <= 13
    assert "1000/1000" in text
