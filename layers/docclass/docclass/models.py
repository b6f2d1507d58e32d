"""The Bedrock embedding models docclass can use: one family each, with its request, answer and limits.

A family knows three things about its model, each from the model's page in the AWS documentation:
- the InvokeModel body for one image and where the vector is in the answer;
- the dimensions it can return;
- the largest page worth sending (pixels) and the largest request it accepts (bytes), so a page is
  drawn at the size the model really looks at and no byte is sent that the model would throw away.

Pages (read on 2026-12-02):
- Titan Multimodal Embeddings G1:
  https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-mm.html
- Amazon Nova Multimodal Embeddings, synchronous schema:
  https://docs.aws.amazon.com/nova/latest/userguide/embeddings-schema.html
- Cohere Embed v4: https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v4.html
- Cross-region inference profiles (the `us.`, `eu.`, ... ids):
  https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html

An EmbeddingModelId is a family's model id, or that id behind the prefix of a system-defined
cross-region inference profile ("us.cohere.embed-v4:0"). Both call the same model, so they share one
vector space: the index and the embedding cache are keyed by vector_space(), which leaves the
prefix out and puts in the options that change the vectors (Nova's detail level and purpose,
Cohere's input type).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from docclass.errors import ConfigError, EmbeddingUnavailable

# The prefixes of system-defined cross-region inference profile ids: the geographies US, EU, APAC,
# Japan and Australia, and global (geographic-cross-region-inference.html and
# global-cross-region-inference.html, beside inference-profiles-support.html). Which model has which
# profile is on each model's card; Cohere Embed v4's lists us., eu. and global.
PROFILE_PREFIXES = ("us", "eu", "apac", "jp", "au", "global")

NOVA_DETAIL_LEVELS = ("DOCUMENT_IMAGE", "STANDARD_IMAGE")
# Purposes that suit both sides of a match; the *_RETRIEVAL ones are documented for a query against
# an index embedded with another purpose (GENERIC_INDEX), so they are not offered.
NOVA_EMBEDDING_PURPOSES = ("CLASSIFICATION", "CLUSTERING", "GENERIC_INDEX")
COHERE_INPUT_TYPES = ("classification", "clustering", "search_document")


@dataclass(frozen=True)
class ModelOptions:
    """The choices that change a model's vectors, beside its id and dimension (template parameters).

    Both sides of a match are documents, gallery examples and inbox pages alike, so one purpose
    serves both; asymmetric pairs such as index/retrieval would be for a short query against long
    passages. CLASSIFICATION (Nova) and classification (Cohere) are the purposes meant for feeding
    vectors to a classifier, which is what the nearest-neighbour vote is.
    """

    nova_detail_level: str = "DOCUMENT_IMAGE"
    nova_embedding_purpose: str = "CLASSIFICATION"
    cohere_input_type: str = "classification"

    def __post_init__(self) -> None:
        _one_of("NOVA_DETAIL_LEVEL", self.nova_detail_level, NOVA_DETAIL_LEVELS)
        _one_of("NOVA_EMBEDDING_PURPOSE", self.nova_embedding_purpose, NOVA_EMBEDDING_PURPOSES)
        _one_of("COHERE_INPUT_TYPE", self.cohere_input_type, COHERE_INPUT_TYPES)


@dataclass(frozen=True)
class PageLimits:
    """The largest page a model looks at: its longer side, and its area if the model caps that too."""

    max_side: int
    max_pixels: int | None = None


@dataclass(frozen=True)
class Family:
    """One model: how to ask it for an image's vector, how to read the vector, and its limits."""

    name: str
    model_id: str
    dimensions: tuple[int, ...]
    limits: PageLimits
    # The largest request image, counted as the limit's own page counts it (see request_size).
    max_image_bytes: int
    # The body of InvokeModel for one JPEG page.
    body: Callable[[bytes, int, ModelOptions], dict[str, Any]]
    # The vector's values in the decoded answer (an EmbeddingUnavailable if it has none).
    values: Callable[[Any], Any]
    # How the limit counts an image of n JPEG bytes: raw, or as base64 text.
    request_size: Callable[[int], int]
    # The options that change this model's vectors, as they are written in the vector space's name.
    space_options: Callable[[ModelOptions], tuple[str, ...]]


def _base64_size(n: int) -> int:
    return 4 * math.ceil(n / 3)


def _b64(jpeg: bytes) -> str:
    return base64.b64encode(jpeg).decode("ascii")


# --- Titan Multimodal Embeddings G1 ------------------------------------------------------------------


def _titan_body(jpeg: bytes, dimension: int, options: ModelOptions) -> dict[str, Any]:
    return {"inputImage": _b64(jpeg), "embeddingConfig": {"outputEmbeddingLength": dimension}}


def _titan_values(payload: Any) -> Any:
    return _field(payload, "embedding")


TITAN = Family(
    name="Titan Multimodal Embeddings G1",
    model_id="amazon.titan-embed-image-v1",
    dimensions=(256, 384, 1024),
    # At most 2048 x 2048 px and 25 MB per image; counted in decimal megabytes, to stay on the safe side.
    limits=PageLimits(max_side=2048),
    max_image_bytes=25_000_000,
    body=_titan_body,
    values=_titan_values,
    request_size=lambda n: n,
    space_options=lambda options: (),
)


# --- Amazon Nova Multimodal Embeddings ----------------------------------------------------------------


def _nova_body(jpeg: bytes, dimension: int, options: ModelOptions) -> dict[str, Any]:
    return {
        "schemaVersion": "nova-multimodal-embed-v1",
        "taskType": "SINGLE_EMBEDDING",
        "singleEmbeddingParams": {
            "embeddingPurpose": options.nova_embedding_purpose,
            "embeddingDimension": dimension,
            "image": {
                "format": "jpeg",
                "detailLevel": options.nova_detail_level,
                "source": {"bytes": _b64(jpeg)},
            },
        },
    }


def _nova_values(payload: Any) -> Any:
    embeddings = _field(payload, "embeddings")
    if not isinstance(embeddings, list) or len(embeddings) != 1:
        count = len(embeddings) if isinstance(embeddings, list) else type(embeddings).__name__
        raise EmbeddingUnavailable(f"returned {count} embeddings for one image, expected 1")
    return _field(embeddings[0], "embedding")


NOVA = Family(
    name="Nova Multimodal Embeddings",
    model_id="amazon.nova-2-multimodal-embeddings-v1:0",
    dimensions=(256, 384, 1024, 3072),
    limits=PageLimits(max_side=2048),
    # 25 MB for inline content, counted on the base64 text of the request.
    max_image_bytes=25_000_000,
    body=_nova_body,
    values=_nova_values,
    request_size=_base64_size,
    space_options=lambda options: (options.nova_detail_level, options.nova_embedding_purpose),
)


# --- Cohere Embed v4 ----------------------------------------------------------------------------------

_DATA_URI_PREFIX = "data:image/jpeg;base64,"


def _cohere_body(jpeg: bytes, dimension: int, options: ModelOptions) -> dict[str, Any]:
    return {
        "input_type": options.cohere_input_type,
        "images": [_DATA_URI_PREFIX + _b64(jpeg)],
        "embedding_types": ["float"],
        "output_dimension": dimension,
    }


def _cohere_values(payload: Any) -> Any:
    embeddings = _field(payload, "embeddings")
    if isinstance(embeddings, dict):  # {"float": [[...]]}, the answer when embedding_types is given
        embeddings = _field(embeddings, "float")
    if not isinstance(embeddings, list) or len(embeddings) != 1:
        count = len(embeddings) if isinstance(embeddings, list) else type(embeddings).__name__
        raise EmbeddingUnavailable(f"returned {count} embeddings for one image, expected 1")
    return embeddings[0]


COHERE = Family(
    name="Cohere Embed v4",
    model_id="cohere.embed-v4:0",
    dimensions=(256, 512, 1024, 1536),
    # Embed v4 shrinks anything over 2,458,624 px (1568 x 1568) to that many pixels itself.
    limits=PageLimits(max_side=8192, max_pixels=2_458_624),
    # At most 5 MB per image, counted here on the whole data URI.
    max_image_bytes=5_000_000,
    body=_cohere_body,
    values=_cohere_values,
    request_size=lambda n: len(_DATA_URI_PREFIX) + _base64_size(n),
    space_options=lambda options: (options.cohere_input_type,),
)

FAMILIES = (TITAN, NOVA, COHERE)
DEFAULT_MODEL_ID = TITAN.model_id


@dataclass(frozen=True)
class Model:
    """A configured EmbeddingModelId: the family, and the inference profile prefix if there is one."""

    model_id: str
    family: Family
    profile: str | None = None

    @property
    def base_model_id(self) -> str:
        """The foundation model's id, without the inference profile's prefix."""
        return self.family.model_id

    def check_dimension(self, dimension: int, setting: str = "EMBEDDING_DIMENSION") -> None:
        """ConfigError unless the model can return vectors of this length."""
        if dimension not in self.family.dimensions:
            raise ConfigError(
                f"{setting} must be one of {self.family.dimensions} for {self.family.name} "
                f"({self.model_id}), got {dimension}"
            )

    def vector_space(self, options: ModelOptions) -> str:
        """The name the index and the embedding cache keep this model's vectors under."""
        return "/".join((self.base_model_id, *self.family.space_options(options)))


def supported_model_ids() -> list[str]:
    """Every EmbeddingModelId accepted: each family's id, bare and behind each profile prefix."""
    return [
        f"{prefix}.{family.model_id}" if prefix else family.model_id
        for family in FAMILIES
        for prefix in ("", *PROFILE_PREFIXES)
    ]


def resolve(model_id: str, setting: str = "EMBEDDING_MODEL_ID") -> Model:
    """The Model of an EmbeddingModelId; ConfigError naming the supported ones for anything else."""
    for family in FAMILIES:
        if model_id == family.model_id:
            return Model(model_id, family)
        prefix, _, rest = model_id.partition(".")
        if rest == family.model_id and prefix in PROFILE_PREFIXES:
            return Model(model_id, family, prefix)
    names = ", ".join(f"{f.model_id} ({f.name})" for f in FAMILIES)
    raise ConfigError(
        f"{setting} {model_id!r} is not a model docclass can call; use one of {names}, optionally behind "
        f"a cross-region inference profile prefix ({', '.join(p + '.' for p in PROFILE_PREFIXES)})"
    )


def _field(payload: Any, name: str) -> Any:
    if not isinstance(payload, dict):
        raise EmbeddingUnavailable(f"returned {type(payload).__name__}, not an object")
    if name not in payload:
        raise EmbeddingUnavailable(f"returned no {name}")
    return payload[name]


def _one_of(setting: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{setting} must be one of {allowed}, got {value!r}")
