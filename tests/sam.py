"""template.yaml read offline, as written and as CloudFormation gets it after the SAM transform."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml
from samtranslator.translator.transform import transform

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


class OfflineManagedPolicies:
    """Stands in for samtranslator's ManagedPolicyLoader, which would ask IAM for these ARNs."""

    def load(self) -> dict[str, str]:
        aws = "arn:aws:iam::aws:policy/"
        return {
            "AWSXrayWriteOnlyAccess": aws + "AWSXrayWriteOnlyAccess",
            "AWSLambdaBasicExecutionRole": aws + "service-role/AWSLambdaBasicExecutionRole",
            "AWSLambdaSQSQueueExecutionRole": aws + "service-role/AWSLambdaSQSQueueExecutionRole",
        }


def load_sam_template() -> dict[str, Any]:
    """template.yaml as plain data (cfn-lint's loader understands !Sub, !Ref, !GetAtt)."""
    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))


def transformed_resources(sam_template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The CloudFormation resources the SAM transform makes of template.yaml."""
    template = json.loads(json.dumps(sam_template or load_sam_template()))
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if uri in properties:  # what `sam package` puts there after uploading the code
                properties[uri] = "s3://artifacts/code.zip"
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"  # the translator fills in pseudo parameters
    try:
        return transform(template, {}, OfflineManagedPolicies())["Resources"]
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved


def policy_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of an IAM policy document, those behind a condition (Fn::If) included,
    whichever way it goes."""
    raw = document.get("Statement", [])
    statements = []
    for statement in raw if isinstance(raw, list) else [raw]:
        if isinstance(statement, dict) and "Fn::If" in statement:
            _, *branches = statement["Fn::If"]
            statements += [b for b in branches if b != {"Ref": "AWS::NoValue"}]
        else:
            statements.append(statement)
    return statements
