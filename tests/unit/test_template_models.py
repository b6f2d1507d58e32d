"""template.yaml's embedding model parameters against docclass.models, the one place that says which
models docclass can call, with which dimensions and options.

The template cannot import Python, so it writes those lists out: the allowed ids and dimensions,
the id lists of its Rules and Conditions. These tests keep each list equal to what docclass.models
says, and evaluate the Rules as CloudFormation would before a deploy: every (model, dimension) a
model returns passes, every other one is refused.
"""

from __future__ import annotations

from typing import Any

import policies as pol
import pytest

from docclass import models
from docclass.config import Settings
from docclass.errors import ConfigError
from docclass_local.template import load_template, read_local_template

DIMENSIONS = sorted({d for family in models.FAMILIES for d in family.dimensions})
# The model id parameters and the dimension parameter that goes with each.
MODEL_PARAMETERS = {
    "EmbeddingModelId": "EmbeddingDimension",
    "NextEmbeddingModelId": "NextEmbeddingDimension",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _family_ids(family: models.Family) -> list[str]:
    """The family's id, bare and behind each inference profile prefix."""
    return [family.model_id] + [f"{prefix}.{family.model_id}" for prefix in models.PROFILE_PREFIXES]


# ------------------------------------------------------------------------------------------------
# Parameters: the lists CloudFormation checks a value against
# ------------------------------------------------------------------------------------------------


def test_model_ids_allowed_are_the_ones_docclass_can_call(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    # Then the live model is one of them, offered in the order docclass.models lists them
    assert parameters["EmbeddingModelId"]["AllowedValues"] == models.supported_model_ids()
    assert parameters["EmbeddingModelId"]["Default"] == models.DEFAULT_MODEL_ID
    # And the next model is one of them or empty (no switch prepared), empty by default
    assert parameters["NextEmbeddingModelId"]["AllowedValues"] == ["", *models.supported_model_ids()]
    assert parameters["NextEmbeddingModelId"]["Default"] == ""


@pytest.mark.parametrize("name", sorted(MODEL_PARAMETERS))
def test_model_id_descriptions_name_the_three_models(template: dict[str, Any], name: str) -> None:
    description = template["Parameters"][name]["Description"]
    for family in models.FAMILIES:
        assert family.model_id in description, (name, family.name)


@pytest.mark.parametrize("name", sorted(MODEL_PARAMETERS.values()))
def test_dimensions_allowed_are_every_familys_together(template: dict[str, Any], name: str) -> None:
    parameter = template["Parameters"][name]
    assert parameter["AllowedValues"] == DIMENSIONS
    # And the default suits the default model (Titan: 1024)
    models.resolve(models.DEFAULT_MODEL_ID).check_dimension(int(parameter["Default"]))


@pytest.mark.parametrize(
    ("name", "allowed", "default"),
    [
        ("NovaDetailLevel", models.NOVA_DETAIL_LEVELS, models.ModelOptions().nova_detail_level),
        (
            "NovaEmbeddingPurpose",
            models.NOVA_EMBEDDING_PURPOSES,
            models.ModelOptions().nova_embedding_purpose,
        ),
        ("CohereInputType", models.COHERE_INPUT_TYPES, models.ModelOptions().cohere_input_type),
    ],
)
def test_model_options_allow_what_docclass_accepts_with_its_defaults(
    template: dict[str, Any], name: str, allowed: tuple[str, ...], default: str
) -> None:
    parameter = template["Parameters"][name]
    assert parameter["AllowedValues"] == list(allowed)
    assert parameter["Default"] == default
    assert len(parameter["Description"]) > 80, f"{name}: say what it does"


def test_model_options_reach_both_functions_as_docclass_reads_them() -> None:
    # Given the stack with every option changed from its default
    overrides = {
        "NovaDetailLevel": "STANDARD_IMAGE",
        "NovaEmbeddingPurpose": "CLUSTERING",
        "CohereInputType": "search_document",
    }
    spec = read_local_template(bucket="b", overrides=overrides)

    # When the functions read their environment (Globals: the same for both)
    settings = Settings.from_env(spec.environment)

    # Then they use the options the parameters set
    assert settings.model_options == models.ModelOptions(
        nova_detail_level="STANDARD_IMAGE",
        nova_embedding_purpose="CLUSTERING",
        cohere_input_type="search_document",
    )


# ------------------------------------------------------------------------------------------------
# Rules: a dimension the chosen model does not return fails the deploy
# ------------------------------------------------------------------------------------------------


def _rule_value(expression: Any, parameters: dict[str, str]) -> Any:
    """A rule function's value: the rule-specific functions the template uses, on Refs to parameters
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/rules-section-structure.html)."""
    if isinstance(expression, list):
        return [_rule_value(item, parameters) for item in expression]
    if not isinstance(expression, dict):
        return str(expression)  # CloudFormation compares parameter values as strings
    ((function, argument),) = expression.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Contains":
        values, value = (_rule_value(a, parameters) for a in argument)
        return value in values
    if function == "Fn::Equals":
        left, right = (_rule_value(a, parameters) for a in argument)
        return left == right
    if function == "Fn::Not":
        return not _rule_value(argument[0], parameters)
    if function == "Fn::And":
        return all(_rule_value(a, parameters) for a in argument)
    if function == "Fn::Or":
        return any(_rule_value(a, parameters) for a in argument)
    raise AssertionError(f"rule function {function} is not understood by this test")


def _refusals(template: dict[str, Any], overrides: dict[str, str]) -> list[str]:
    """The AssertDescription of every assertion that fails with these parameter values (the
    defaults for the others): what CloudFormation would answer before changing anything."""
    parameters = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    parameters |= overrides
    refused = []
    for rule in template["Rules"].values():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], parameters):
            continue
        for assertion in rule["Assertions"]:
            if not _rule_value(assertion["Assert"], parameters):
                refused.append(assertion["AssertDescription"])
    return refused


def _returns(model_id: str, dimension: int) -> bool:
    try:
        models.resolve(model_id).check_dimension(dimension)
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize(("model_parameter", "dimension_parameter"), sorted(MODEL_PARAMETERS.items()))
@pytest.mark.parametrize("model_id", models.supported_model_ids())
def test_the_deploy_accepts_exactly_the_dimensions_the_model_returns(
    template: dict[str, Any], model_parameter: str, dimension_parameter: str, model_id: str
) -> None:
    for dimension in DIMENSIONS:
        # When deploying with this model and this dimension (allowed by the parameters themselves)
        refused = _refusals(template, {model_parameter: model_id, dimension_parameter: str(dimension)})

        if _returns(model_id, dimension):
            # Then a dimension the model returns passes
            assert refused == [], (model_id, dimension)
        else:
            # And any other is refused, with a message naming the parameter to change
            assert len(refused) == 1, (model_id, dimension, refused)
            assert dimension_parameter in refused[0]
            assert models.resolve(model_id).family.name in refused[0]


def test_wrong_dimensions_are_refused_for_live_and_next_model_alike(template: dict[str, Any]) -> None:
    # Titan returns no 512, Cohere no 384, Nova no 1536: each is refused, whichever parameter holds it
    assert _refusals(template, {"EmbeddingDimension": "512"}) != []
    assert (
        _refusals(template, {"EmbeddingModelId": "eu.cohere.embed-v4:0", "EmbeddingDimension": "384"}) != []
    )
    next_nova = {"NextEmbeddingModelId": "global.amazon.nova-2-multimodal-embeddings-v1:0"}
    assert _refusals(template, {**next_nova, "NextEmbeddingDimension": "1536"}) != []
    assert _refusals(template, {**next_nova, "NextEmbeddingDimension": "3072"}) == []


def test_without_a_next_model_its_dimension_is_not_checked(template: dict[str, Any]) -> None:
    # NextEmbeddingDimension is unused while NextEmbeddingModelId is empty
    for dimension in DIMENSIONS:
        assert _refusals(template, {"NextEmbeddingDimension": str(dimension)}) == []


def test_each_rule_names_one_familys_ids_and_dimensions(template: dict[str, Any]) -> None:
    # Given each rule as (model parameter, ids it applies to, dimensions it allows)
    found = set()
    for name, rule in template["Rules"].items():
        ids, model_ref = rule["RuleCondition"]["Fn::Contains"]
        [assertion] = rule["Assertions"]
        dimensions, dimension_ref = assertion["Assert"]["Fn::Contains"]
        assert MODEL_PARAMETERS[model_ref["Ref"]] == dimension_ref["Ref"], name
        found.add((model_ref["Ref"], tuple(ids), tuple(int(d) for d in dimensions)))

    # Then there is one per family and model parameter, listing exactly what docclass.models says
    assert found == {
        (parameter, tuple(_family_ids(family)), family.dimensions)
        for family in models.FAMILIES
        for parameter in MODEL_PARAMETERS
    }


# ------------------------------------------------------------------------------------------------
# Conditions: what kind of id each parameter holds (the IAM policies depend on it, test_iam.py)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "prefix", "model_id"),
    [("EmbeddingModelId", "Live", m) for m in models.supported_model_ids()]
    + [("NextEmbeddingModelId", "Next", m) for m in ["", *models.supported_model_ids()]],
)
def test_conditions_tell_a_model_id_from_a_profile_and_a_global_profile(
    template: dict[str, Any], parameter: str, prefix: str, model_id: str
) -> None:
    deployment = pol.Deployment(template, {parameter: model_id})
    profile = models.resolve(model_id).profile if model_id else None
    assert deployment.condition(f"{prefix}IdIsModel") == (bool(model_id) and profile is None)
    assert deployment.condition(f"{prefix}IdIsProfile") == (profile is not None)
    assert deployment.condition(f"{prefix}IdIsGlobalProfile") == (profile == "global")


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("NextNovaDetailLevel", models.NOVA_DETAIL_LEVELS),
        ("NextNovaEmbeddingPurpose", models.NOVA_EMBEDDING_PURPOSES),
        ("NextCohereInputType", models.COHERE_INPUT_TYPES),
    ],
)
def test_the_next_models_options_allow_empty_or_what_docclass_accepts(
    template: dict[str, Any], name: str, allowed: tuple[str, ...]
) -> None:
    parameter = template["Parameters"][name]
    assert parameter["AllowedValues"] == ["", *allowed]
    assert parameter["Default"] == ""


def test_the_next_models_options_reach_gallery_function_and_default_to_the_live_ones() -> None:
    spec = read_local_template(
        bucket="b", overrides={"NovaDetailLevel": "STANDARD_IMAGE", "NextCohereInputType": "clustering"}
    )
    settings = Settings.from_env(spec.environment)
    assert settings.next_model_options == models.ModelOptions(
        nova_detail_level="STANDARD_IMAGE",
        nova_embedding_purpose="CLASSIFICATION",
        cohere_input_type="clustering",
    )
