"""The Bedrock adapter: any model of docclass.models behind the Embedder interface, errors mapped.

One client and one error mapping for all models; what differs between them (the body, where the
vector is in the answer, the page and request limits) is the model's Family. The InvokeModel errors
are those of the bedrock-runtime API reference:
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image

from docclass import aws, models
from docclass.aws import new_client
from docclass.embeddings import l2_normalise
from docclass.errors import (
    ConfigError,
    DocclassError,
    EmbeddingMisconfigured,
    EmbeddingRejected,
    EmbeddingThrottled,
    EmbeddingUnavailable,
)
from docclass.images import encode_jpeg
from docclass.models import DEFAULT_MODEL_ID, Family, ModelOptions, PageLimits

# Limits of the bedrock-runtime client. One embed() must end well inside ClassifyFunction's 90 s
# Timeout: its worst case is what the handlers keep in hand before they start a message
# (docclass/invocation.py), and a timed-out invocation loses its whole batch's result.
# Standard retry mode (https://docs.aws.amazon.com/boto3/latest/guide/retries.html):
# total_max_attempts counts the first call (in a Config, max_attempts counts only the retries: the
# old max_attempts=8 was 9 calls), and after the n-th failed attempt botocore sleeps rand(0, 1) x
# min(2 ** (n - 1), 20) s (base factor 2, at most 20 s). Adaptive mode is standard mode plus a
# client-side token bucket that sleeps before sending for as long as its fill rate says: no fixed
# bound, so it is not used here; throttling is handled by the queue and the breaker instead.
# Every attempt waits at most CONNECT_TIMEOUT to connect and READ_TIMEOUT for each read of the
# answer (an image is answered in about a second; the answer, a few KB, is read at once).
#   worst case = 3 attempts x (2 s + 8 s) + backoffs (1 s + 2 s) = 33 s
BEDROCK_MAX_ATTEMPTS = 3
BEDROCK_CONNECT_TIMEOUT = 2
BEDROCK_READ_TIMEOUT = 8


def worst_case_seconds(
    max_attempts: int = BEDROCK_MAX_ATTEMPTS,
    connect_timeout: float = BEDROCK_CONNECT_TIMEOUT,
    read_timeout: float = BEDROCK_READ_TIMEOUT,
) -> float:
    """Longest one InvokeModel call can take in standard retry mode, retries and backoffs included."""
    return aws.worst_case_seconds(max_attempts, connect_timeout, read_timeout)


WORST_CASE_EMBED_SECONDS = worst_case_seconds()

# Rate and quota refusals: botocore has retried them already; the rest of the batch is given back
# without calling the model again (docclass/invocation.py).
_THROTTLING_CODES = frozenset({"ThrottlingException", "ServiceQuotaExceededException"})
# The service could not answer now; botocore has already retried these, SQS retries them again.
_TRANSIENT_CODES = frozenset(
    {
        "ModelTimeoutException",
        "ModelNotReadyException",
        "ServiceUnavailableException",
        "InternalServerException",
    }
)

_FIX_MODEL_ID = (
    "Set EmbeddingModelId to a model Bedrock offers in this region, or to an inference profile id "
    "(us., eu., global. ...) that routes to one: a region without the model answers as a typo would."
)
_FIX_INFERENCE_PROFILE = (
    "This model cannot be invoked on demand in this region: set EmbeddingModelId to the id of a "
    "cross-region inference profile that contains it (e.g. us.<model id>); the template then grants "
    "the profile and the models it routes to."
)
_FIX_ACCESS = (
    "Grant access to the model in the Bedrock console (Model access) for this region, and check "
    "that the function's role may call bedrock:InvokeModel on it."
)
# Bedrock answers some deployment mistakes with the same ValidationException as a bad image; only
# the message tells them apart (DESIGN.md). Lower-case fragments of the messages Bedrock sends:
# - "The provided model identifier is invalid." for a misspelt id, and for a model the region does
#   not offer (github.com/aws-samples/amazon-bedrock-workshop/issues/315 and /issues/340);
# - "Invocation of model ID <id> with on-demand throughput isn't supported. Retry your request with
#   the ID or ARN of an inference profile that contains this model." (Bedrock writes a typographic
#   apostrophe; github.com/anthropics/anthropic-sdk-python/issues/894, terricain/aioboto3/issues/352);
# - "Your account is not authorized to invoke this API operation." (model access granted in another
#   region: github.com/aws-samples/amazon-bedrock-audio-summarizer/issues/3; also listed under
#   AccessDeniedException by repost.aws/knowledge-center/bedrock-invokemodel-api-error);
# - "You don't have access to the model with the specified model ID." (model access not granted;
#   same knowledge-center page, usually as AccessDeniedException);
# - "Operation not allowed" (an account not yet allowed to invoke models: github.com/aws/aws-cli/issues/8717).
# Everything else, e.g. "Image exceeds max pixels allowed." (github.com/aws-samples/
# video-semantic-search-with-aws-ai-ml-services/issues/4), is about the image: the document goes
# to failed/ with the service's words.
_MISCONFIGURED_MESSAGES = (
    ("provided model identifier is invalid", _FIX_MODEL_ID),
    ("with on-demand throughput isn't supported", _FIX_INFERENCE_PROFILE),
    ("account is not authorized to invoke this api operation", _FIX_ACCESS),
    ("don't have access to the model", _FIX_ACCESS),
    ("operation not allowed", _FIX_ACCESS),
)
# Codes that are always the deployment's: retrying will not help until someone fixes it.
_FIX_BY_CODE = {
    "AccessDeniedException": _FIX_ACCESS,
    "ResourceNotFoundException": _FIX_MODEL_ID,
    "UnrecognizedClientException": "The function's credentials are not valid for Bedrock in this region.",
}


def misconfiguration_fix(message: str) -> str | None:
    """What to fix if a ValidationException message is about the deployment, else None (the image)."""
    text = message.lower().replace("\u2019", "'")
    for fragment, fix in _MISCONFIGURED_MESSAGES:
        if fragment in text:
            return fix
    return None


class BedrockEmbedder:
    """Embeds a page with one Bedrock model (docclass.models) through bedrock-runtime InvokeModel.

    model_id is the vector space (Model.vector_space: the model without its inference profile
    prefix, with the options that change its vectors), which keys the cache and the index; the call
    itself goes to invoke_id, the EmbeddingModelId as configured.
    """

    def __init__(
        self,
        model_id: str = DEFAULT_MODEL_ID,
        dimension: int = 1024,
        bedrock_client: Any = None,
        jpeg_quality: int = 90,
        options: ModelOptions | None = None,
        region: str | None = None,
        ignore_configured_endpoint: bool = False,
    ) -> None:
        self.model = models.resolve(model_id)
        self.model.check_dimension(dimension)
        if not 1 <= jpeg_quality <= 100:
            raise ConfigError(f"JPEG quality must be in 1..100, got {jpeg_quality}")
        self.options = options or ModelOptions()
        self.invoke_id = model_id
        self.model_id = self.model.vector_space(self.options)
        self.dimension = dimension
        self.jpeg_quality = jpeg_quality
        self.region = region  # None: the session's (in Lambda, the function's own region)
        # True: Bedrock's own endpoint for the region, whatever AWS_ENDPOINT_URL says (the local
        # stack points that at its S3 and SQS on localhost).
        self.ignore_configured_endpoint = ignore_configured_endpoint
        self._client = bedrock_client

    @property
    def family(self) -> Family:
        return self.model.family

    @property
    def limits(self) -> PageLimits:
        """The largest page this model looks at: pages are drawn to fit it (docclass.pages)."""
        return self.family.limits

    @property
    def client(self) -> Any:
        """The bedrock-runtime client, created on first use so tests and moto can come first."""
        if self._client is None:
            config = aws.bounded_config(BEDROCK_MAX_ATTEMPTS, BEDROCK_CONNECT_TIMEOUT, BEDROCK_READ_TIMEOUT)
            if self.ignore_configured_endpoint:
                config = config.merge(Config(ignore_configured_endpoint_urls=True))  # type: ignore[call-arg]
            self._client = new_client("bedrock-runtime", region_name=self.region, config=config)
        return self._client

    def embed(self, image: Image.Image) -> np.ndarray:
        """Return the model's embedding of image as a unit-length float32 vector of shape (dimension,)."""
        jpeg = self._encode(image)
        body = json.dumps(self.family.body(jpeg, self.dimension, self.options))
        try:
            response = self.client.invoke_model(
                modelId=self.invoke_id,
                body=body,
                contentType="application/json",
                accept="application/json",
            )
            raw = response["body"].read()
        except ClientError as e:
            raise self._map_client_error(e) from e
        except BotoCoreError as e:
            # Timeouts and connection failures, after botocore's own retries.
            raise EmbeddingUnavailable(f"Bedrock unreachable for {self.invoke_id}: {e}") from e
        return self._parse(raw)

    def _encode(self, image: Image.Image) -> bytes:
        """The page as JPEG within the model's request limit: at jpeg_quality, or lower if it must."""
        family = self.family
        for quality in _qualities(self.jpeg_quality):
            jpeg = encode_jpeg(image, quality=quality)
            size = family.request_size(len(jpeg))
            if size <= family.max_image_bytes:
                return jpeg
        raise EmbeddingRejected(
            f"page of {image.size[0]}x{image.size[1]} px is {size} bytes in the request even as JPEG at "
            f"quality {quality}; {family.name} accepts at most {family.max_image_bytes} bytes"
        )

    def _map_client_error(self, error: ClientError) -> DocclassError:
        """Turn a Bedrock error into the project's exception: rejected image, deployment, or retry later."""
        details = error.response.get("Error", {})
        code = details.get("Code", "Unknown")
        message = details.get("Message") or ""
        fix = misconfiguration_fix(message) if code == "ValidationException" else _FIX_BY_CODE.get(code)
        if fix is not None:
            region = getattr(getattr(self._client, "meta", None), "region_name", None) or "unknown region"
            return EmbeddingMisconfigured(
                f"deployment problem, not the document's: Bedrock {code} for model {self.invoke_id} in "
                f"{region} ({message}).",
                fix,
            )
        if code == "ValidationException":
            return EmbeddingRejected(message or f"{self.invoke_id} rejected the image (ValidationException)")
        if code in _THROTTLING_CODES:
            return EmbeddingThrottled(f"Bedrock {code} for {self.invoke_id}: {message}")
        if code in _TRANSIENT_CODES:
            return EmbeddingUnavailable(f"Bedrock {code} for {self.invoke_id}: {message}")
        # Other codes (ModelErrorException, new ones) go back to the queue, and to the DLQ after its
        # retries: nothing is lost, and no document lands in failed/ for a reason that is not its own.
        return EmbeddingUnavailable(f"unexpected Bedrock error {code} for {self.invoke_id}: {message}")

    def _parse(self, raw: bytes) -> np.ndarray:
        """Check the model's answer; a malformed one is the service's fault (retried)."""
        try:
            payload = json.loads(raw)
        except ValueError as e:
            raise EmbeddingUnavailable(f"{self.invoke_id} returned a body that is not JSON: {e}") from e
        note = (
            f" (message: {payload['message']})"
            if isinstance(payload, dict) and payload.get("message")
            else ""
        )
        try:
            values = self.family.values(payload)
        except EmbeddingUnavailable as e:
            raise EmbeddingUnavailable(f"{self.invoke_id} {e}{note}") from e
        if not isinstance(values, list) or not values:
            raise EmbeddingUnavailable(f"{self.invoke_id} returned no embedding{note}")
        if len(values) != self.dimension:
            raise EmbeddingUnavailable(
                f"{self.invoke_id} returned {len(values)} values, expected {self.dimension}{note}"
            )
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
        ):
            raise EmbeddingUnavailable(f"{self.invoke_id} returned a non-numeric or non-finite value{note}")
        try:
            return l2_normalise(np.asarray(values, dtype=np.float32))
        except ValueError as e:
            raise EmbeddingUnavailable(f"{self.invoke_id} returned an unusable vector: {e}{note}") from e


def _qualities(first: int) -> list[int]:
    """JPEG qualities to try, best first: the configured one, then lower in steps of 10 down to 50."""
    return [first, *range(min(first, 90) - 10, 49, -10)]
