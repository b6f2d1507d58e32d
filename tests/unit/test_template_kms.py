"""template.yaml's KmsKeyArn: empty grants no KMS key; a key ARN grants exactly that key, no more."""

from __future__ import annotations

import re
from typing import Any

import pytest

from docclass_local.template import load_template, transformed_resources

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# What each function needs on the key: GetObject / CopyObject of an SSE-KMS object need
# kms:Decrypt; ClassifyFunction's copy is encrypted with the same key, which needs kms:GenerateDataKey.
KMS_GRANTS = {
    "GalleryFunctionRole": {"kms:Decrypt"},
    "ClassifyFunctionRole": {"kms:Decrypt", "kms:GenerateDataKey"},
}


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return load_template()


def _kms_statements(resources: dict[str, Any], role: str) -> list[Any]:
    """(condition of the policy, statement) for every statement that mentions KMS and applies to role."""
    found = []
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role" and resource is resources[role]:
            documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        elif resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in properties.get("Roles", []):
            documents = [properties["PolicyDocument"]]
        else:
            continue
        found += [
            (resource.get("Condition"), statement)
            for document in documents
            for statement in document["Statement"]
            if "kms:" in str(statement)
        ]
    return found


def test_kms_key_arn_is_optional_and_empty_by_default(sam_template):
    parameter = sam_template["Parameters"]["KmsKeyArn"]
    assert parameter["Default"] == ""
    assert sam_template["Conditions"]["GrantKmsKey"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]
    }


@pytest.mark.parametrize("role", sorted(KMS_GRANTS))
def test_each_role_gets_its_kms_actions_on_exactly_that_key_only_when_it_is_set(sam_template, role):
    # Given the statements that mention KMS and apply to the role
    resources = transformed_resources(sam_template)
    [(condition, granted)] = _kms_statements(resources, role)
    # Then it is one statement in a policy created only when KmsKeyArn is set
    assert condition == "GrantKmsKey"
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
