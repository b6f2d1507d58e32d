"""template.yaml's KmsKeyArn parameter: empty by default, else the ARN of one key (what the roles may
then use is checked in test_iam.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from docclass_local.template import load_template

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return load_template()


def test_kms_key_arn_is_optional_and_empty_by_default(sam_template):
    parameter = sam_template["Parameters"]["KmsKeyArn"]
    assert parameter["Default"] == ""
    assert sam_template["Conditions"]["GrantKmsKey"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]
    }


@pytest.mark.parametrize(
    "value",
    ["", KEY, "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"],
)
def test_kms_key_arn_accepts_empty_or_a_key_arn(sam_template, value):
    assert re.fullmatch(sam_template["Parameters"]["KmsKeyArn"]["AllowedPattern"], value)


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:kms:us-east-1:111122223333:alias/documents",  # IAM grants key use on key ARNs only
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "*",
        "arn:aws:kms:us-east-1:111122223333:key/*",
    ],
)
def test_kms_key_arn_rejects_aliases_bare_ids_and_wildcards(sam_template, value):
    assert re.fullmatch(sam_template["Parameters"]["KmsKeyArn"]["AllowedPattern"], value) is None
