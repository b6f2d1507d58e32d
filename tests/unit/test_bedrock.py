"""docclass.bedrock with Titan (the default model): the exact Bedrock request, the vector we hand back, and how every failure is mapped."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from PIL import Image

from docclass import bedrock as adapter
from docclass import models
from docclass.bedrock import BedrockEmbedder
from docclass.embeddings import Embedder
from docclass.errors import (
    ConfigError,
    EmbeddingMisconfigured,
    EmbeddingRejected,
    EmbeddingThrottled,
    EmbeddingUnavailable,
    InvalidDocument,
)
from docclass.images import encode_jpeg

MODEL_ID = "amazon.titan-embed-image-v1"


@pytest.fixture
def isolated_aws(aws_credentials, monkeypatch, tmp_path):
    """On top of the shared fake credentials: no config files, endpoints or instance metadata either."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def bedrock(isolated_aws):
    """A real bedrock-runtime client whose every call is answered by a Stubber (no HTTP at all)."""
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def rgb_page():
    pixels = np.random.default_rng(11).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def titan_answer(payload) -> dict:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def record_requests(client) -> list[dict]:
    """Collect the parameters of every InvokeModel call the client is asked to make."""
    sent: list[dict] = []

    def record(params, **kwargs):
        sent.append(dict(params))

    client.meta.events.register("provide-client-params.bedrock-runtime.InvokeModel", record)
    return sent


def expected_call(model_id: str = MODEL_ID) -> dict:
    return {"modelId": model_id, "body": ANY, "contentType": "application/json", "accept": "application/json"}


def raw_vector(dimension: int, seed: int = 0) -> list[float]:
    return (np.random.default_rng(seed).normal(size=dimension) * 3.0).tolist()


class FailingClient:
    """Raises the given exception from invoke_model, as botocore does after its own retries."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def invoke_model(self, **kwargs):
        self.calls += 1
        raise self.error


class SlowBodyClient:
    """Answers, then times out while the body is read."""

    class _Body:
        def read(self):
            raise ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")

    def invoke_model(self, **kwargs):
        return {"body": self._Body(), "contentType": "application/json"}


# --- the request -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dimension", [256, 384, 1024])
def test_request_body_is_exactly_titans_schema(bedrock, rgb_page, dimension):
    # given
    client, stubber = bedrock
    sent = record_requests(client)
    stubber.add_response("invoke_model", titan_answer({"embedding": raw_vector(dimension)}), expected_call())
    # when
    BedrockEmbedder(dimension=dimension, bedrock_client=client).embed(rgb_page)
    # then
    assert len(sent) == 1
    assert set(sent[0]) == {"modelId", "body", "contentType", "accept"}
    body = json.loads(sent[0]["body"])
    assert set(body) == {"inputImage", "embeddingConfig"}
    assert body["embeddingConfig"] == {"outputEmbeddingLength": dimension}
    jpeg = Image.open(io.BytesIO(base64.b64decode(body["inputImage"], validate=True)))
    assert jpeg.format == "JPEG"
    assert jpeg.mode == "RGB"
    assert jpeg.size == rgb_page.size


def test_request_uses_the_configured_model_id_and_jpeg_quality(bedrock, rgb_page):
    client, stubber = bedrock
    sent = record_requests(client)
    stubber.add_response(
        "invoke_model",
        titan_answer({"embedding": raw_vector(256)}),
        expected_call("us.amazon.titan-embed-image-v1"),
    )

    BedrockEmbedder("us.amazon.titan-embed-image-v1", 256, bedrock_client=client, jpeg_quality=40).embed(
        rgb_page
    )

    image_bytes = base64.b64decode(json.loads(sent[0]["body"])["inputImage"])
    assert image_bytes == encode_jpeg(rgb_page, quality=40)


def test_a_page_over_the_request_limit_at_every_quality_is_rejected_without_calling_bedrock(rgb_page):
    # given: Titan with a limit below what the test page takes even at the lowest quality
    embedder = BedrockEmbedder(bedrock_client=FailingClient(AssertionError("Bedrock must not be called")))
    smallest = len(encode_jpeg(rgb_page, quality=50))
    embedder.model = replace(embedder.model, family=replace(models.TITAN, max_image_bytes=smallest - 1))
    # when / then
    with pytest.raises(
        EmbeddingRejected, match=f"Titan Multimodal Embeddings G1 accepts at most {smallest - 1} bytes"
    ):
        embedder.embed(rgb_page)
    assert embedder.client.calls == 0


# --- the answer --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dimension", [256, 384, 1024])
def test_returns_a_unit_float32_vector_of_the_configured_dimension(bedrock, rgb_page, dimension):
    # given: Titan's vectors are not documented as normalised; this one has norm far from 1
    client, stubber = bedrock
    values = raw_vector(dimension, seed=dimension)
    stubber.add_response(
        "invoke_model", titan_answer({"embedding": values, "message": None}), expected_call()
    )
    # when
    vector = BedrockEmbedder(dimension=dimension, bedrock_client=client).embed(rgb_page)
    # then
    assert vector.dtype == np.float32
    assert vector.shape == (dimension,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    direction = np.asarray(values) / np.linalg.norm(values)
    assert np.allclose(vector, direction, atol=1e-6)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param({"embedding": [0.1] * 255}, "returned 255 values, expected 256", id="wrong-length"),
        pytest.param({"embedding": []}, "returned no embedding", id="empty"),
        pytest.param(
            {"message": "Unable to process the image"},
            r"returned no embedding \(message: Unable to process the image\)",
            id="missing-with-message",
        ),
        pytest.param({"embedding": None}, "returned no embedding", id="null"),
        pytest.param({"embedding": [float("nan")] + [0.1] * 255}, "non-finite", id="nan"),
        pytest.param({"embedding": [float("inf")] + [0.1] * 255}, "non-finite", id="inf"),
        pytest.param({"embedding": ["0.1"] * 256}, "non-numeric", id="strings"),
        pytest.param({"embedding": [0.0] * 256}, "unusable vector", id="zero-vector"),
        pytest.param([0.1] * 256, "not an object", id="bare-list"),
        pytest.param(b"<html>502 Bad Gateway</html>", "not JSON", id="not-json"),
    ],
)
def test_a_malformed_answer_is_the_services_fault(bedrock, rgb_page, payload, message):
    client, stubber = bedrock
    stubber.add_response("invoke_model", titan_answer(payload), expected_call())

    with pytest.raises(EmbeddingUnavailable, match=message):
        BedrockEmbedder(dimension=256, bedrock_client=client).embed(rgb_page)


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 429),
        ("ServiceQuotaExceededException", 400),
        ("ModelTimeoutException", 408),
        ("ModelNotReadyException", 429),
        ("ServiceUnavailableException", 503),
        ("InternalServerException", 500),
        ("ModelErrorException", 424),
    ],
)
def test_service_side_errors_are_retried_later(bedrock, rgb_page, code, status):
    # given
    client, stubber = bedrock
    stubber.add_client_error(
        "invoke_model", code, f"{code} says hello", status, expected_params=expected_call()
    )
    # when
    with pytest.raises(EmbeddingUnavailable, match=f"{code} says hello") as caught:
        BedrockEmbedder(bedrock_client=client).embed(rgb_page)
    # then: never an InvalidDocument, so the document can never be routed to failed/
    assert not isinstance(caught.value, InvalidDocument)
    assert code in str(caught.value)
    assert isinstance(caught.value.__cause__, ClientError)


@pytest.mark.parametrize(
    ("code", "status", "service_message", "fix"),
    [
        (
            "AccessDeniedException",
            403,
            "You don't have access to the model with the specified model ID.",
            "Bedrock console",
        ),
        (
            "AccessDeniedException",
            403,
            "Your account is not authorized to invoke this API operation.",
            "Bedrock console",
        ),
        ("ResourceNotFoundException", 404, "Could not resolve the foundation model", "EmbeddingModelId"),
        (
            "UnrecognizedClientException",
            403,
            "The security token included in the request is invalid.",
            "credentials",
        ),
    ],
)
def test_access_and_model_id_errors_are_reported_as_deployment_problems(
    bedrock, rgb_page, code, status, service_message, fix
):
    client, stubber = bedrock
    stubber.add_client_error("invoke_model", code, service_message, status, expected_params=expected_call())

    with pytest.raises(EmbeddingMisconfigured) as caught:
        BedrockEmbedder(bedrock_client=client).embed(rgb_page)

    text = str(caught.value)
    assert "deployment problem, not the document's" in text
    assert fix in caught.value.fix
    assert MODEL_ID in text
    assert "us-east-1" in text
    assert service_message in text
    assert isinstance(caught.value, EmbeddingUnavailable)  # back to the queue, then the DLQ
    assert not isinstance(caught.value, InvalidDocument)
    assert isinstance(caught.value.__cause__, ClientError)


# Bedrock's own words for deployment mistakes, sent as ValidationException like a bad image; where
# each was seen is cited next to docclass.bedrock._MISCONFIGURED_MESSAGES.
MISCONFIGURED_VALIDATION_MESSAGES = {
    "invalid-model-id": ("The provided model identifier is invalid.", "EmbeddingModelId"),
    "on-demand-not-supported": (
        "Invocation of model ID amazon.titan-embed-image-v1 with on-demand throughput isn\u2019t supported. "
        "Retry your request with the ID or ARN of an inference profile that contains this model.",
        "inference profile",
    ),
    "on-demand-not-supported-ascii-apostrophe": (
        "Invocation of model ID amazon.titan-embed-image-v1 with on-demand throughput isn't supported. "
        "Retry your request with the ID or ARN of an inference profile that contains this model.",
        "inference profile",
    ),
    "account-not-authorized": (
        "Your account is not authorized to invoke this API operation.",
        "Model access",
    ),
    "no-access-to-model": ("You don't have access to the model with the specified model ID.", "Model access"),
    "operation-not-allowed": ("Operation not allowed", "Model access"),
}


@pytest.mark.parametrize(
    ("service_message", "fix"),
    list(MISCONFIGURED_VALIDATION_MESSAGES.values()),
    ids=list(MISCONFIGURED_VALIDATION_MESSAGES),
)
def test_a_validation_error_about_the_deployment_is_not_the_documents_fault(
    bedrock, rgb_page, service_message, fix
):
    # given: Bedrock answers a configuration mistake with ValidationException (HTTP 400)
    client, stubber = bedrock
    stubber.add_client_error(
        "invoke_model", "ValidationException", service_message, 400, expected_params=expected_call()
    )
    # when
    with pytest.raises(EmbeddingMisconfigured) as caught:
        BedrockEmbedder(bedrock_client=client).embed(rgb_page)
    # then: never routed to failed/, and the error says what to change
    assert not isinstance(caught.value, InvalidDocument)
    assert fix in caught.value.fix
    assert service_message in str(caught.value)
    assert MODEL_ID in str(caught.value)


@pytest.mark.parametrize(
    "service_message",
    ["Image exceeds max pixels allowed.", "400 Bad Request: Image exceeds max pixels allowed."],
)
def test_a_validation_error_about_the_image_still_rejects_the_document(bedrock, rgb_page, service_message):
    client, stubber = bedrock
    stubber.add_client_error(
        "invoke_model", "ValidationException", service_message, 400, expected_params=expected_call()
    )

    with pytest.raises(EmbeddingRejected) as caught:
        BedrockEmbedder(bedrock_client=client).embed(rgb_page)

    assert str(caught.value) == service_message


@pytest.mark.parametrize(
    ("code", "status"), [("ThrottlingException", 429), ("ServiceQuotaExceededException", 400)]
)
def test_throttling_and_quota_are_told_apart_from_other_unavailability(bedrock, rgb_page, code, status):
    client, stubber = bedrock
    stubber.add_client_error(
        "invoke_model", code, "Too many requests", status, expected_params=expected_call()
    )

    with pytest.raises(EmbeddingThrottled):
        BedrockEmbedder(bedrock_client=client).embed(rgb_page)


@pytest.mark.parametrize(
    "code", ["ModelTimeoutException", "ServiceUnavailableException", "ModelErrorException"]
)
def test_a_model_timeout_or_outage_is_not_throttling(bedrock, rgb_page, code):
    client, stubber = bedrock
    stubber.add_client_error("invoke_model", code, "try later", 503, expected_params=expected_call())

    with pytest.raises(EmbeddingUnavailable) as caught:
        BedrockEmbedder(bedrock_client=client).embed(rgb_page)

    assert not isinstance(caught.value, EmbeddingThrottled | EmbeddingMisconfigured)


def test_validation_error_rejects_the_document_with_the_services_words(bedrock, rgb_page):
    # given
    client, stubber = bedrock
    stubber.add_client_error(
        "invoke_model",
        "ValidationException",
        "Image exceeds max pixels allowed",
        400,
        expected_params=expected_call(),
    )
    # when
    with pytest.raises(EmbeddingRejected) as caught:
        BedrockEmbedder(bedrock_client=client).embed(rgb_page)
    # then
    assert str(caught.value) == "Image exceeds max pixels allowed"
    assert isinstance(caught.value, InvalidDocument)
    assert isinstance(caught.value.__cause__, ClientError)


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
        EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_network_failures_are_retried_later(rgb_page, error):
    with pytest.raises(EmbeddingUnavailable, match="Bedrock unreachable") as caught:
        BedrockEmbedder(bedrock_client=FailingClient(error)).embed(rgb_page)

    assert caught.value.__cause__ is error


def test_a_timeout_while_reading_the_answer_is_retried_later(rgb_page):
    with pytest.raises(EmbeddingUnavailable, match="Bedrock unreachable"):
        BedrockEmbedder(bedrock_client=SlowBodyClient()).embed(rgb_page)


# --- construction and the lazy client ------------------------------------------------------------------


def test_constructing_creates_no_client(monkeypatch):
    def no_clients_yet(*args, **kwargs):
        raise AssertionError("boto3.client called at construction time")

    monkeypatch.setattr(boto3, "client", no_clients_yet)

    embedder = BedrockEmbedder()

    assert embedder.model_id == MODEL_ID
    assert embedder.dimension == 1024


def test_lazy_client_retries_a_bounded_number_of_times_within_a_fraction_of_classify_timeout(isolated_aws):
    # given: the client the functions really use
    client = BedrockEmbedder().client
    config = client.meta.config
    # then: standard mode (a known backoff, no client-side rate limiter that may sleep unboundedly)
    assert client.meta.service_model.service_name == "bedrock-runtime"
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    # and the worst case of one call, computed from that very config, fits ClassifyFunction's 60 s
    # Timeout with room for the message's S3 work and the response
    worst = adapter.worst_case_seconds(
        config.retries["total_max_attempts"], config.connect_timeout, config.read_timeout
    )
    assert worst == adapter.WORST_CASE_EMBED_SECONDS == 33.0  # 3 x (2 + 8) + 1 + 2
    assert worst <= 0.6 * 60


def test_worst_case_counts_every_attempt_and_the_capped_backoffs():
    # 3 attempts: two backoffs of at most 1 s and 2 s; 8 attempts: 1+2+4+8+16+20+20 s
    assert adapter.worst_case_seconds(3, 2, 8) == 3 * 10 + 1 + 2
    assert adapter.worst_case_seconds(8, 10, 60) == 8 * 70 + 1 + 2 + 4 + 8 + 16 + 20 + 20
    assert adapter.worst_case_seconds(1, 2, 8) == 10


def test_first_embed_creates_the_client_once(monkeypatch, isolated_aws, rgb_page):
    # given: boto3.client hands out a stubbed real client and counts the calls
    created = []
    real_client = boto3.client

    def stubbed_client(service_name, **kwargs):
        client = real_client(service_name, **kwargs)
        stubber = Stubber(client)
        for seed in (1, 2):
            stubber.add_response("invoke_model", titan_answer({"embedding": raw_vector(256, seed)}))
        stubber.activate()
        created.append((service_name, kwargs))
        return client

    monkeypatch.setattr(boto3, "client", stubbed_client)
    embedder = BedrockEmbedder(dimension=256)
    # when
    embedder.embed(rgb_page)
    embedder.embed(rgb_page)
    # then
    assert [name for name, _ in created] == ["bedrock-runtime"]


def test_injected_client_is_used_as_is():
    client = FailingClient(AssertionError("unused"))

    assert BedrockEmbedder(bedrock_client=client).client is client


def test_bedrock_embedder_satisfies_the_embedder_protocol():
    assert isinstance(BedrockEmbedder(bedrock_client=object()), Embedder)


@pytest.mark.parametrize("dimension", [0, 512, 2048])
def test_unsupported_dimension_fails_at_construction(dimension):
    with pytest.raises(ConfigError, match="256, 384, 1024"):
        BedrockEmbedder(dimension=dimension)
