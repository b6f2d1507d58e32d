"""docclass.models through BedrockEmbedder: each model's exact request and answers, its limits, its errors.

Every call is answered by botocore's Stubber on a real bedrock-runtime client (moto answers
InvokeModel with an empty body), so the request is checked as botocore would send it.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from PIL import Image

from docclass import models
from docclass.bedrock import BedrockEmbedder
from docclass.config import Settings
from docclass.document_embedder import DocumentEmbedder
from docclass.errors import (
    ConfigError,
    EmbeddingMisconfigured,
    EmbeddingRejected,
    EmbeddingThrottled,
    EmbeddingUnavailable,
    InvalidDocument,
)
from docclass.images import encode_jpeg
from docclass.models import COHERE, NOVA, TITAN, ModelOptions
from tests.pdfs import text_page_pdf

FAMILIES = {"titan": TITAN, "nova": NOVA, "cohere": COHERE}


@pytest.fixture
def bedrock(aws_credentials, monkeypatch, tmp_path):
    """A real bedrock-runtime client whose every call is answered by a Stubber (no HTTP at all)."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    sent: list[dict] = []
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.InvokeModel", lambda params, **_: sent.append(dict(params))
    )
    with Stubber(client) as stubber:
        yield client, stubber, sent
        stubber.assert_no_pending_responses()


@pytest.fixture
def page():
    pixels = np.random.default_rng(5).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def answer(payload) -> dict:
    raw = json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def values(dimension: int, seed: int = 0) -> list[float]:
    return (np.random.default_rng(seed).normal(size=dimension) * 2.0).tolist()


def titan_answer(vector):
    return {"embedding": vector, "inputTextTokenCount": 0, "message": None}


def nova_answer(vector):
    return {"embeddings": [{"embeddingType": "IMAGE", "embedding": vector}]}


def cohere_list_answer(vector):
    return {"id": "a1", "embeddings": [vector], "response_type": "embeddings_floats", "texts": []}


def cohere_by_type_answer(vector):
    return {
        "id": "a1",
        "embeddings": {"float": [vector]},
        "response_type": "embeddings_by_type",
        "texts": [],
        "images": [{"width": 56, "height": 40, "format": "jpeg", "bit_depth": 8}],
    }


ANSWERS = {"titan": titan_answer, "nova": nova_answer, "cohere": cohere_by_type_answer}


def call(model_id: str) -> dict:
    return {"modelId": model_id, "body": ANY, "contentType": "application/json", "accept": "application/json"}


def sent_jpeg(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
    assert image.format == "JPEG"
    return image


# --- the request, at every dimension each model allows ---------------------------------------------------


@pytest.mark.parametrize("dimension", TITAN.dimensions)
def test_titans_body(bedrock, page, dimension):
    client, stubber, sent = bedrock
    stubber.add_response("invoke_model", answer(titan_answer(values(dimension))), call(TITAN.model_id))

    BedrockEmbedder(TITAN.model_id, dimension, bedrock_client=client).embed(page)

    body = json.loads(sent[0]["body"])
    image = body.pop("inputImage")
    assert body == {"embeddingConfig": {"outputEmbeddingLength": dimension}}
    assert base64.b64decode(image) == encode_jpeg(page, quality=90)


@pytest.mark.parametrize("dimension", NOVA.dimensions)
def test_novas_body_with_the_default_options(bedrock, page, dimension):
    client, stubber, sent = bedrock
    stubber.add_response("invoke_model", answer(nova_answer(values(dimension))), call(NOVA.model_id))

    BedrockEmbedder(NOVA.model_id, dimension, bedrock_client=client).embed(page)

    body = json.loads(sent[0]["body"])
    image = body["singleEmbeddingParams"]["image"]["source"].pop("bytes")
    assert body == {
        "schemaVersion": "nova-multimodal-embed-v1",
        "taskType": "SINGLE_EMBEDDING",
        "singleEmbeddingParams": {
            "embeddingPurpose": "CLASSIFICATION",
            "embeddingDimension": dimension,
            "image": {"format": "jpeg", "detailLevel": "DOCUMENT_IMAGE", "source": {}},
        },
    }
    assert base64.b64decode(image) == encode_jpeg(page, quality=90)


@pytest.mark.parametrize("dimension", COHERE.dimensions)
def test_coheres_body_with_the_default_options(bedrock, page, dimension):
    client, stubber, sent = bedrock
    stubber.add_response(
        "invoke_model", answer(cohere_by_type_answer(values(dimension))), call(COHERE.model_id)
    )

    BedrockEmbedder(COHERE.model_id, dimension, bedrock_client=client).embed(page)

    body = json.loads(sent[0]["body"])
    [uri] = body.pop("images")
    assert body == {
        "input_type": "classification",
        "embedding_types": ["float"],
        "output_dimension": dimension,
    }
    prefix, _, b64 = uri.partition(",")
    assert prefix == "data:image/jpeg;base64"
    assert base64.b64decode(b64) == encode_jpeg(page, quality=90)


def test_the_options_reach_the_body_and_name_a_vector_space_of_their_own(bedrock, page):
    # given: every option away from its default
    client, stubber, sent = bedrock
    options = ModelOptions("STANDARD_IMAGE", "CLUSTERING", "search_document")
    stubber.add_response("invoke_model", answer(nova_answer(values(256))), call(NOVA.model_id))
    stubber.add_response("invoke_model", answer(cohere_list_answer(values(256))), call(COHERE.model_id))
    # when
    nova = BedrockEmbedder(NOVA.model_id, 256, bedrock_client=client, options=options)
    cohere = BedrockEmbedder(COHERE.model_id, 256, bedrock_client=client, options=options)
    nova.embed(page)
    cohere.embed(page)
    # then
    nova_params = json.loads(sent[0]["body"])["singleEmbeddingParams"]
    assert (nova_params["embeddingPurpose"], nova_params["image"]["detailLevel"]) == (
        "CLUSTERING",
        "STANDARD_IMAGE",
    )
    assert json.loads(sent[1]["body"])["input_type"] == "search_document"
    # and the index and cache keep these vectors apart from the defaults' (Titan has no options)
    defaults = {
        f.model_id: BedrockEmbedder(f.model_id, 256, bedrock_client=client).model_id for f in (NOVA, COHERE)
    }
    assert nova.model_id == "amazon.nova-2-multimodal-embeddings-v1:0/STANDARD_IMAGE/CLUSTERING"
    assert defaults[NOVA.model_id] == "amazon.nova-2-multimodal-embeddings-v1:0/DOCUMENT_IMAGE/CLASSIFICATION"
    assert cohere.model_id == "cohere.embed-v4:0/search_document"
    assert defaults[COHERE.model_id] == "cohere.embed-v4:0/classification"
    assert BedrockEmbedder(TITAN.model_id, bedrock_client=client, options=options).model_id == TITAN.model_id


@pytest.mark.parametrize("prefix", ["us", "eu", "global"])
def test_an_inference_profile_is_invoked_by_its_id_and_shares_the_models_vector_space(bedrock, page, prefix):
    client, stubber, sent = bedrock
    profile = f"{prefix}.{COHERE.model_id}"
    stubber.add_response("invoke_model", answer(cohere_list_answer(values(1024))), call(profile))

    embedder = BedrockEmbedder(profile, 1024, bedrock_client=client)
    embedder.embed(page)

    assert sent[0]["modelId"] == profile
    assert embedder.model_id == BedrockEmbedder(COHERE.model_id, 1024, bedrock_client=client).model_id


# --- the answers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "shape"),
    [
        (TITAN, titan_answer),
        (NOVA, nova_answer),
        (COHERE, cohere_list_answer),
        (COHERE, cohere_by_type_answer),
    ],
    ids=["titan", "nova", "cohere-list", "cohere-by-type"],
)
def test_each_answer_shape_gives_the_unit_vector_of_the_values(bedrock, page, family, shape):
    client, stubber, _ = bedrock
    raw = values(256, seed=3)
    stubber.add_response("invoke_model", answer(shape(raw)), call(family.model_id))

    vector = BedrockEmbedder(family.model_id, 256, bedrock_client=client).embed(page)

    assert vector.dtype == np.float32 and vector.shape == (256,)
    assert np.allclose(vector, np.asarray(raw) / np.linalg.norm(raw), atol=1e-6)


@pytest.mark.parametrize(
    ("family", "payload", "message"),
    [
        (NOVA, {"embeddings": []}, "returned 0 embeddings for one image"),
        (NOVA, {"embeddings": [{"embeddingType": "IMAGE"}] * 2}, "returned 2 embeddings for one image"),
        (NOVA, {"embeddings": [{"embeddingType": "IMAGE"}]}, "returned no embedding"),
        (NOVA, {"message": "busy"}, r"returned no embeddings \(message: busy\)"),
        (COHERE, {"embeddings": {"int8": [[1] * 256]}}, "returned no float"),
        (COHERE, {"embeddings": [[0.1] * 256, [0.2] * 256]}, "returned 2 embeddings for one image"),
        (COHERE, {"embeddings": [[0.1] * 255]}, "returned 255 values, expected 256"),
        (COHERE, {"id": "x"}, "returned no embeddings"),
    ],
    ids=[
        "nova-none",
        "nova-two",
        "nova-no-vector",
        "nova-message",
        "cohere-no-float",
        "cohere-two",
        "cohere-short",
        "cohere-missing",
    ],
)
def test_a_malformed_answer_is_the_services_fault_and_retried(bedrock, page, family, payload, message):
    client, stubber, _ = bedrock
    stubber.add_response("invoke_model", answer(payload), call(family.model_id))

    with pytest.raises(EmbeddingUnavailable, match=message) as caught:
        BedrockEmbedder(family.model_id, 256, bedrock_client=client).embed(page)

    assert not isinstance(caught.value, InvalidDocument)


# --- the errors, as the hardening issue maps them, for every model ----------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize(
    ("code", "status", "message", "expected"),
    [
        (
            "ThrottlingException",
            429,
            "Too many requests, please wait before trying again.",
            EmbeddingThrottled,
        ),
        (
            "ValidationException",
            400,
            "Malformed input request: image could not be decoded",
            EmbeddingRejected,
        ),
        ("ValidationException", 400, "The provided model identifier is invalid.", EmbeddingMisconfigured),
        (
            "ValidationException",
            400,
            "Invocation of model ID cohere.embed-v4:0 with on-demand throughput isn\u2019t supported. Retry "
            "your request with the ID or ARN of an inference profile that contains this model.",
            EmbeddingMisconfigured,
        ),
        (
            "AccessDeniedException",
            403,
            "You don't have access to the model with the specified model ID.",
            EmbeddingMisconfigured,
        ),
        (
            "ModelTimeoutException",
            408,
            "Model has timed out in processing the request.",
            EmbeddingUnavailable,
        ),
    ],
    ids=["throttling", "image", "model-id", "on-demand", "access-denied", "timeout"],
)
def test_each_error_class_is_mapped_alike_for_every_model(
    bedrock, page, name, code, status, message, expected
):
    client, stubber, _ = bedrock
    family = FAMILIES[name]
    stubber.add_client_error("invoke_model", code, message, status, expected_params=call(family.model_id))

    with pytest.raises((EmbeddingUnavailable, EmbeddingRejected)) as caught:
        BedrockEmbedder(family.model_id, 256, bedrock_client=client).embed(page)

    assert type(caught.value) is expected
    assert message in str(caught.value)
    # only the image's own fault sends the document to failed/
    assert isinstance(caught.value, InvalidDocument) == (expected is EmbeddingRejected)
    if expected is EmbeddingMisconfigured:
        assert family.model_id in str(caught.value)


# --- limits -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "dimension"),
    [
        (TITAN.model_id, 512),
        (TITAN.model_id, 3072),
        (NOVA.model_id, 512),
        (COHERE.model_id, 384),
        (COHERE.model_id, 3072),
    ],
)
def test_a_dimension_the_model_does_not_return_is_refused_at_start_up(model_id, dimension):
    with pytest.raises(ConfigError, match=f"EMBEDDING_DIMENSION must be one of .* got {dimension}"):
        Settings(bucket="b", model_id=model_id, dimension=dimension)
    with pytest.raises(ConfigError, match=f"NEXT_EMBEDDING_DIMENSION must be one of .* got {dimension}"):
        Settings(bucket="b", next_model_id=model_id, next_dimension=dimension)


@pytest.mark.parametrize(
    "model_id",
    [
        "amazon.titan-embed-text-v2:0",
        "cohere.embed-english-v3",
        "xx.cohere.embed-v4:0",
        "us.amazon.titan-embed-image-v2",
        "",
    ],
)
def test_a_model_docclass_cannot_call_is_refused_at_start_up_with_the_ones_it_can(model_id):
    with pytest.raises(ConfigError) as caught:
        Settings(bucket="b", model_id=model_id or "  ", dimension=1024)

    assert all(family.model_id in str(caught.value) for family in FAMILIES.values())


def test_every_model_and_dimension_it_allows_is_accepted_and_the_options_are_read_from_the_environment():
    for model_id in models.supported_model_ids():
        for dimension in models.resolve(model_id).family.dimensions:
            assert Settings(bucket="b", model_id=model_id, dimension=dimension).dimension == dimension
    settings = Settings.from_env(
        {"BUCKET_NAME": "b", "NOVA_DETAIL_LEVEL": "STANDARD_IMAGE", "COHERE_INPUT_TYPE": "clustering"}
    )
    assert settings.model_options == ModelOptions("STANDARD_IMAGE", "CLASSIFICATION", "clustering")
    with pytest.raises(ConfigError, match="NOVA_EMBEDDING_PURPOSE must be one of"):
        Settings.from_env({"BUCKET_NAME": "b", "NOVA_EMBEDDING_PURPOSE": "TEXT_RETRIEVAL"})


@pytest.mark.parametrize(
    ("family", "size", "expected"),
    [
        # an A4 page scanned at 300 dpi
        (TITAN, (2480, 3508), (1448, 2048)),
        (NOVA, (2480, 3508), (1448, 2048)),
        # Cohere caps the area at 2,458,624 px (1568 x 1568), not the side
        (COHERE, (2480, 3508), (1318, 1864)),
        (COHERE, (1568, 1568), (1568, 1568)),
        (COHERE, (800, 600), (800, 600)),
        # a long till receipt keeps its aspect within the area
        (COHERE, (900, 9000), (496, 4956)),
    ],
)
def test_the_page_each_model_is_sent_fits_its_limits_with_no_pixel_to_spare(bedrock, family, size, expected):
    # given: a scan of `size` uploaded as a JPEG, embedded through the functions' DocumentEmbedder
    client, stubber, sent = bedrock
    stubber.add_response("invoke_model", answer(ANSWERS[_name(family)](values(256))), call(family.model_id))
    scan = encode_jpeg(Image.new("RGB", size, (250, 250, 245)).resize(size), quality=85)
    embedder = DocumentEmbedder(BedrockEmbedder(family.model_id, 256, bedrock_client=client))
    # when
    embedder.embed(scan)
    # then: the size the model is sent
    width, height = sent_image(family, sent[0]).size
    assert (width, height) == expected
    limits = family.limits
    assert max(width, height) <= limits.max_side
    if limits.max_pixels is not None:
        assert width * height <= limits.max_pixels
        # and not a row less than fits: one more pixel of width (at this aspect) would be over
        assert (width + 1) * round(height * (width + 1) / width) > limits.max_pixels or (
            width,
            height,
        ) == size


def test_a_pdf_page_is_drawn_within_coheres_area(bedrock):
    client, stubber, sent = bedrock
    stubber.add_response("invoke_model", answer(cohere_list_answer(values(256))), call(COHERE.model_id))
    pdf = text_page_pdf([["Invoice 42", "Total due: 118.00"]])  # US letter, 612 x 792 pt
    embedder = DocumentEmbedder(BedrockEmbedder(COHERE.model_id, 256, bedrock_client=client))

    embedder.embed_document(pdf, max_pages=1)

    width, height = sent_image(COHERE, sent[0]).size
    assert width * height <= COHERE.limits.max_pixels
    assert width * height > 0.99 * COHERE.limits.max_pixels


def test_a_page_over_the_request_limit_is_sent_at_a_lower_quality_rather_than_refused(bedrock):
    # given: a noisy page whose quality-90 JPEG, as a data URI, is over a (lowered) Cohere limit
    client, stubber, sent = bedrock
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 300, 3), dtype=np.uint8))
    at_90, at_60 = (len(encode_jpeg(noisy, quality=q)) for q in (90, 60))
    limit = COHERE.request_size(at_60) + 10
    assert COHERE.request_size(at_90) > limit
    stubber.add_response("invoke_model", answer(cohere_list_answer(values(256))), call(COHERE.model_id))
    embedder = BedrockEmbedder(COHERE.model_id, 256, bedrock_client=client)
    embedder.model = replace(embedder.model, family=replace(COHERE, max_image_bytes=limit))
    # when
    embedder.embed(noisy)
    # then: the data URI is within the limit, and the page is the one sent
    uri = json.loads(sent[0]["body"])["images"][0]
    assert len(uri) <= limit
    assert base64.b64decode(uri.partition(",")[2]) == encode_jpeg(noisy, quality=60)


def test_the_request_limit_counts_what_each_model_counts():
    # Titan counts the image; Nova its base64 text; Cohere the whole data URI
    assert TITAN.request_size(3000) == 3000
    assert NOVA.request_size(3000) == len(base64.b64encode(b"x" * 3000))
    assert COHERE.request_size(3000) == len("data:image/jpeg;base64,") + 4000


def sent_image(family, params: dict) -> Image.Image:
    body = json.loads(params["body"])
    if family is TITAN:
        return sent_jpeg(body["inputImage"])
    if family is NOVA:
        return sent_jpeg(body["singleEmbeddingParams"]["image"]["source"]["bytes"])
    return sent_jpeg(body["images"][0].partition(",")[2])


def _name(family) -> str:
    return next(name for name, f in FAMILIES.items() if f is family)


def test_an_option_of_the_live_model_can_be_prepared_as_the_next_index():
    # given: Nova live with DOCUMENT_IMAGE, and the same model next with STANDARD_IMAGE
    from docclass import services

    env = {
        "BUCKET_NAME": "b",
        "EMBEDDING_MODEL_ID": NOVA.model_id,
        "NEXT_EMBEDDING_MODEL_ID": NOVA.model_id,
        "NEXT_NOVA_DETAIL_LEVEL": "STANDARD_IMAGE",
    }
    settings = Settings.from_env(env)
    # when GalleryFunction's indexer is built
    indexer = services.build_gallery_indexer(settings)
    # then it keeps a second index, under the next option's vector space
    assert indexer.repository.model_id == f"{NOVA.model_id}/DOCUMENT_IMAGE/CLASSIFICATION"
    assert indexer.next_indexer is not None
    assert indexer.next_indexer.repository.model_id == f"{NOVA.model_id}/STANDARD_IMAGE/CLASSIFICATION"
    # and the next options default to the live ones: the same model and dimension is then refused
    same = Settings.from_env({k: v for k, v in env.items() if k != "NEXT_NOVA_DETAIL_LEVEL"})
    assert same.next_model_options == same.model_options
    with pytest.raises(ConfigError, match="is the live one"):
        services.build_gallery_indexer(same)


def test_reindex_names_the_next_options_index_when_the_model_is_the_next_one():
    from docclass_local.target import vector_space

    parameters = {"NovaDetailLevel": "DOCUMENT_IMAGE", "NextNovaDetailLevel": "STANDARD_IMAGE"}
    assert vector_space(NOVA.model_id, parameters) == f"{NOVA.model_id}/DOCUMENT_IMAGE/CLASSIFICATION"
    assert (
        vector_space(NOVA.model_id, parameters, following=True)
        == f"{NOVA.model_id}/STANDARD_IMAGE/CLASSIFICATION"
    )
    assert vector_space(NOVA.model_id, {"NovaDetailLevel": "STANDARD_IMAGE"}, following=True) == (
        f"{NOVA.model_id}/STANDARD_IMAGE/CLASSIFICATION"
    )
