"""`docclass serve --parameter-overrides`: any template parameter, checked as CloudFormation checks it."""

from __future__ import annotations

import pytest

from docclass_local.cli import main
from docclass_local.template import parse_overrides, read_local_template


def test_overrides_reach_the_functions_environment():
    spec = read_local_template(bucket="b", overrides={"SplitPackets": "true", "MaxPages": "5"})
    assert (spec.environment["SPLIT_PACKETS"], spec.environment["MAX_PAGES"]) == ("true", "5")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Nope": "1"}, "unknown template parameter 'Nope'"),
        ({"SplitPackets": "yes"}, "allowed values: true, false"),
        ({"MaxPages": "0"}, "below its MinValue 1"),
        ({"MaxPages": "101"}, "above its MaxValue 100"),
        ({"MaxPages": "many"}, "is not a number"),
        ({"MaxDistance": "3"}, "empty, or a number from 0 to 2"),
        ({"EmbeddingDimension": "2048"}, "allowed values: 256, 384, 512, 1024, 1536, 3072"),
        (
            {"EmbeddingModelId": "amazon.titan-embed-text-v2:0"},
            "allowed values: amazon.titan-embed-image-v1, ",
        ),
    ],
)
def test_a_value_the_template_forbids_is_refused_with_the_reason(overrides, message):
    with pytest.raises(ValueError, match=message):
        read_local_template(bucket="b", overrides=overrides)


def test_pairs_are_name_equals_value():
    assert parse_overrides(["MaxPages=5", "MaxDistance="]) == {"MaxPages": "5", "MaxDistance": ""}
    with pytest.raises(ValueError, match="not Name=Value"):
        parse_overrides(["MaxPages"])


def test_serve_exits_2_on_a_bad_override_before_starting_anything(capsys):
    # when
    code = main(["serve", "--port", "1", "--parameter-overrides", "SplitPackets=maybe"])
    # then
    assert code == 2
    assert "SplitPackets='maybe' is not allowed" in capsys.readouterr().err
