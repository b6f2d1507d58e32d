"""template.yaml's KmsKeyArn: empty grants no KMS key; a key ARN grants exactly that key, no more."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sam import load_sam_template, transformed_resources

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# What each function needs on the key: GetObject / CopyObject of an SSE-KMS object need
# kms:Decrypt; ClassifyFunction's copy is encrypted with the same key, which needs kms:GenerateDataKey.
KMS_GRANTS = {
    "GalleryFunctionRole": {"kms:Decrypt"},
    "ClassifyFunctionRole": {"kms:Decrypt", "kms:GenerateDataKey"},
}


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return load_sam_template()


def _kms_statements(role: dict[str, Any]) -> list[Any]:
    return [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if "kms:" in str(statement)
    ]


def test_kms_key_arn_is_optional_and_empty_by_default(sam_template):
    parameter = sam_template["Parameters"]["KmsKeyArn"]
    assert parameter["Default"] == ""
    assert sam_template["Conditions"]["GrantKmsKey"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]
    }


@pytest.mark.parametrize("role", sorted(KMS_GRANTS))
def test_each_role_gets_its_kms_actions_on_exactly_that_key_only_when_it_is_set(sam_template, role):
    # Given the role's statements that mention KMS
    resources = transformed_resources(sam_template)
    [statement] = _kms_statements(resources[role])
    # Then it is one statement behind the condition, absent (AWS::NoValue) when KmsKeyArn is empty
    condition, granted, otherwise = statement["Fn::If"]
    assert condition == "GrantKmsKey"
    assert otherwise == {"Ref": "AWS::NoValue"}
    # And it allows what the function needs on the one key named by the parameter
    assert granted["Effect"] == "Allow"
    assert (
        set(granted["Action"] if isinstance(granted["Action"], list) else [granted["Action"]])
        == KMS_GRANTS[role]
    )
    assert granted["Resource"] == {"Ref": "KmsKeyArn"}


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
