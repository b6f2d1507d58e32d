"""The pure parts of `docclass reclassify`: what --from and --since accept, and where a document goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from docclass_local.reclassify import document_path, parse_since, parse_source


@pytest.mark.parametrize(
    ("given", "prefix"),
    [
        ("unclassified/", "unclassified/"),
        ("unclassified", "unclassified/"),
        ("classified/invoice/", "classified/invoice/"),
        ("classified/invoice/2026", "classified/invoice/2026/"),
    ],
)
def test_from_accepts_unclassified_or_one_label_folder(given, prefix):
    assert parse_source(given) == prefix


@pytest.mark.parametrize(
    "given", ["classified/", "inbox/", "failed/", "packets/", "gallery/x/", "classified/../x/", ""]
)
def test_from_refuses_anything_else(given):
    with pytest.raises(ValueError):
        parse_source(given)


def test_since_without_a_zone_is_utc_and_with_one_keeps_it():
    assert parse_since("2026-11-30") == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_since("2026-11-30T08:00+01:00") == datetime(
        2026, 11, 30, 8, tzinfo=timezone(timedelta(hours=1))
    )
    with pytest.raises(ValueError, match="ISO date"):
        parse_since("last tuesday")


def test_a_routed_document_goes_back_to_its_own_inbox_path():
    assert document_path("unclassified/2026/a b.png") == "2026/a b.png"
    assert document_path("classified/invoice/2026/a.png") == "2026/a.png"
    with pytest.raises(ValueError):
        document_path("classified/invoice")


def test_a_bad_from_is_a_usage_error_before_any_request(capsys):
    # given no endpoint at all (nothing listens on port 9) / when --from names no routed folder
    from docclass_local.cli import main

    code = main(["reclassify", "--from", "inbox/", "--endpoint-url", "http://127.0.0.1:9", "--yes"])
    # then it exits 2 with the reason, without trying to reach S3
    assert code == 2
    assert "use unclassified/ or classified/<label>/" in capsys.readouterr().err
