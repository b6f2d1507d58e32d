"""Bedrock adapter: Titan Multimodal Embeddings G1 behind the Embedder interface, errors mapped."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image

from docclass.aws import new_client
from docclass.embeddings import l2_normalise
from docclass.errors import ConfigError, DocclassError, EmbeddingRejected, EmbeddingUnavailable
from docclass.images import encode_jpeg

DEFAULT_MODEL_ID = "amazon.titan-embed-image-v1"
DIMENSIONS = (256, 384, 1024)
# Titan's documented limit is 25 MB per image; decimal megabytes, to stay on the safe side.
MAX_IMAGE_BYTES = 25_000_000

# The service could not answer now; botocore has already retried these, SQS retries them again.
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceQuotaExceededException",
        "ModelTimeoutException",
        "ModelNotReadyException",
        "ServiceUnavailableException",
        "InternalServerException",
    }
)
# Retrying will not help until someone fixes the deployment; still never the document's fault.
_DEPLOYMENT_CODES = frozenset({"AccessDeniedException", "ResourceNotFoundException"})


class TitanEmbedder:
    """Embeds a page with amazon.titan-embed-image-v1 through bedrock-runtime InvokeModel."""

    def __init__(
        self,
        model_id: str = DEFAULT_MODEL_ID,
        dimension: int = 1024,
        bedrock_client: Any = None,
        jpeg_quality: int = 90,
    ) -> None:
        if dimension not in DIMENSIONS:
            raise ConfigError(f"Titan output dimension must be one of {DIMENSIONS}, got {dimension}")
        if not 1 <= jpeg_quality <= 100:
            raise ConfigError(f"JPEG quality must be in 1..100, got {jpeg_quality}")
        self.model_id = model_id
        self.dimension = dimension
        self.jpeg_quality = jpeg_quality
        self._client = bedrock_client

    @property
    def client(self) -> Any:
        """The bedrock-runtime client, created on first use so tests and moto can come first."""
        if self._client is None:
            self._client = new_client(
                "bedrock-runtime",
                config=Config(
                    retries={"mode": "adaptive", "max_attempts": 8},
                    read_timeout=60,
                    connect_timeout=10,
                ),
            )
        return self._client

    def embed(self, image: Image.Image) -> np.ndarray:
        """Return Titan's embedding of image as a unit-length float32 vector of shape (dimension,)."""
        jpeg = encode_jpeg(image, quality=self.jpeg_quality)
        if len(jpeg) > MAX_IMAGE_BYTES:
            raise EmbeddingRejected(
                f"image is {len(jpeg)} bytes as JPEG; Titan accepts at most {MAX_IMAGE_BYTES} bytes"
            )
        body = json.dumps(
            {
                "inputImage": base64.b64encode(jpeg).decode("ascii"),
                "embeddingConfig": {"outputEmbeddingLength": self.dimension},
            }
        )
        try:
            response = self.client.invoke_model(
                modelId=self.model_id,
                body=body,
                contentType="application/json",
                accept="application/json",
            )
            raw = response["body"].read()
        except ClientError as e:
            raise self._map_client_error(e) from e
        except BotoCoreError as e:
            # Timeouts and connection failures, after botocore's own retries.
            raise EmbeddingUnavailable(f"Bedrock unreachable for {self.model_id}: {e}") from e
        return self._parse(raw)

    def _map_client_error(self, error: ClientError) -> DocclassError:
        """Turn a Bedrock error code into the project's exception: rejected input or retry later."""
        details = error.response.get("Error", {})
        code = details.get("Code", "Unknown")
        message = details.get("Message") or ""
        if code == "ValidationException":
            return EmbeddingRejected(message or f"{self.model_id} rejected the image (ValidationException)")
        if code in _DEPLOYMENT_CODES:
            region = getattr(getattr(self._client, "meta", None), "region_name", None) or "unknown region"
            return EmbeddingUnavailable(
                f"deployment problem, not the document's: Bedrock {code} for model {self.model_id} in "
                f"{region} ({message}). Grant access to the model in the Bedrock console for this region "
                "and check the model id and the function's IAM policy."
            )
        if code in _TRANSIENT_CODES:
            return EmbeddingUnavailable(f"Bedrock {code} for {self.model_id}: {message}")
        # Other codes (ModelErrorException, new ones) go back to the queue, and to the DLQ after its
        # retries: nothing is lost, and no document lands in failed/ for a reason that is not its own.
        return EmbeddingUnavailable(f"unexpected Bedrock error {code} for {self.model_id}: {message}")

    def _parse(self, raw: bytes) -> np.ndarray:
        """Check Titan's {"embedding": [...]} answer; a malformed one is the service's fault (retried)."""
        try:
            payload = json.loads(raw)
        except ValueError as e:
            raise EmbeddingUnavailable(f"{self.model_id} returned a body that is not JSON: {e}") from e
        if not isinstance(payload, dict):
            raise EmbeddingUnavailable(f"{self.model_id} returned {type(payload).__name__}, not an object")
        note = f" (message: {payload['message']})" if payload.get("message") else ""
        values = payload.get("embedding")
        if not isinstance(values, list) or not values:
            raise EmbeddingUnavailable(f"{self.model_id} returned no embedding{note}")
        if len(values) != self.dimension:
            raise EmbeddingUnavailable(
                f"{self.model_id} returned {len(values)} values, expected {self.dimension}{note}"
            )
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
        ):
            raise EmbeddingUnavailable(f"{self.model_id} returned a non-numeric or non-finite value{note}")
        try:
            return l2_normalise(np.asarray(values, dtype=np.float32))
        except ValueError as e:
            raise EmbeddingUnavailable(f"{self.model_id} returned an unusable vector: {e}{note}") from e
