"""Settings: every environment variable docclass reads, read once into a frozen dataclass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from docclass import models
from docclass.errors import ConfigError
from docclass.models import ModelOptions

# The dimensions of the offline stand-in (docclass.local_embedder); a Bedrock model's are its
# family's (docclass.models).
LOCAL_DIMENSIONS = (256, 384, 1024)
EMBEDDERS = ("bedrock", "local")
# At most 8 images decoded at once fit GalleryFunction's 1536 MB (docclass.memory.gallery_budget).
MAX_EMBED_CONCURRENCY = 8
# template.yaml's MaxPages allows 1..100 (one model call per page).
MAX_PAGES_LIMIT = 100

# Bucket layout (DESIGN.md, "The user's view").
GALLERY_PREFIX = "gallery/"
INBOX_PREFIX = "inbox/"
CLASSIFIED_PREFIX = "classified/"
UNCLASSIFIED_PREFIX = "unclassified/"
FAILED_PREFIX = "failed/"
# Labelled documents whose first two candidates were too close to call (ReviewMargin).
REVIEW_PREFIX = "review/"
# The originals of split packets (SplitPackets), each beside its sections under classified/.
PACKETS_PREFIX = "packets/"
INDEX_PREFIX = "index/"
EMBEDDINGS_PREFIX = "embeddings/"


@dataclass(frozen=True)
class Settings:
    """What the functions need to know, validated up front so a bad deploy fails loudly."""

    bucket: str
    model_id: str = models.DEFAULT_MODEL_ID
    dimension: int = 1024
    neighbor_count: int = 1
    max_distance: float | None = None
    embedder: str = "bedrock"
    gallery_embed_concurrency: int = 4
    index_refresh_seconds: float = 30.0
    max_pages: int = 20
    split_packets: bool = False
    gallery_pages: int = 1
    # The index GalleryFunction also keeps while a switch of model or dimension is prepared
    # (template NextEmbeddingModelId / NextEmbeddingDimension); "" for none.
    next_model_id: str = ""
    next_dimension: int = 1024
    # Lambda sets the reserved AWS_LAMBDA_FUNCTION_MEMORY_SIZE to the function's memory in MB:
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
    # Outside Lambda (tests, scripts) the smallest MemorySize of template.yaml stands in.
    # docclass.memory turns it into the memory budget of one document.
    memory_mb: int = 1024
    # What changes a model's vectors beside its id and dimension (template NovaDetailLevel,
    # NovaEmbeddingPurpose, CohereInputType).
    model_options: ModelOptions = field(default_factory=ModelOptions)
    # The next model's options (template NextNovaDetailLevel, ...; each empty = the live one's), so
    # that an option of the live model can be changed like a model: its index built first.
    next_model_options: ModelOptions = field(default_factory=ModelOptions)
    # A labelled document whose margin (docclass.decide.Decision.margin) is below this goes to
    # review/<label>/ (template ReviewMargin); None: review is off.
    review_margin: float | None = None

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ConfigError("BUCKET_NAME is required")
        if self.embedder not in EMBEDDERS:
            raise ConfigError(f"EMBEDDER must be one of {EMBEDDERS}, got {self.embedder!r}")
        self._check_model(self.model_id, self.dimension, "EMBEDDING")
        if self.neighbor_count < 1:
            raise ConfigError(f"NEIGHBOR_COUNT must be at least 1, got {self.neighbor_count}")
        if self.review_margin is not None and not 0 <= self.review_margin <= 2:
            raise ConfigError(f"REVIEW_MARGIN must be empty or in 0..2, got {self.review_margin}")
        if self.max_distance is not None and self.max_distance < 0:
            raise ConfigError(f"MAX_DISTANCE must be empty or >= 0, got {self.max_distance}")
        if not 1 <= self.gallery_embed_concurrency <= MAX_EMBED_CONCURRENCY:
            raise ConfigError(
                f"GALLERY_EMBED_CONCURRENCY must be in 1..{MAX_EMBED_CONCURRENCY}, got {self.gallery_embed_concurrency}"
            )
        if not 0 <= self.index_refresh_seconds <= 3600:
            raise ConfigError(f"INDEX_REFRESH_SECONDS must be in 0..3600, got {self.index_refresh_seconds}")
        if not 1 <= self.gallery_pages <= self.max_pages:
            raise ConfigError(
                f"GALLERY_PAGES must be in 1..MAX_PAGES ({self.max_pages}), got {self.gallery_pages}"
            )
        if not 1 <= self.max_pages <= MAX_PAGES_LIMIT:
            raise ConfigError(f"MAX_PAGES must be in 1..{MAX_PAGES_LIMIT}, got {self.max_pages}")
        if self.memory_mb < 128:
            raise ConfigError(
                f"AWS_LAMBDA_FUNCTION_MEMORY_SIZE must be at least 128 (MB), got {self.memory_mb}"
            )
        if self.next_model_id:
            self._check_model(self.next_model_id, self.next_dimension, "NEXT_EMBEDDING")

    def _check_model(self, model_id: str, dimension: int, setting: str) -> None:
        """The model is one docclass can call and can return vectors of this length (at start-up,
        so a bad deploy fails every invocation with this message, before any document is read)."""
        if self.embedder == "local":
            if dimension not in LOCAL_DIMENSIONS:
                raise ConfigError(f"{setting}_DIMENSION must be one of {LOCAL_DIMENSIONS}, got {dimension}")
            return
        models.resolve(model_id, f"{setting}_MODEL_ID").check_dimension(dimension, f"{setting}_DIMENSION")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from the environment (the only place docclass reads it)."""
        env = os.environ if environ is None else environ
        return cls(
            bucket=env.get("BUCKET_NAME", ""),
            model_id=env.get("EMBEDDING_MODEL_ID", cls.model_id) or cls.model_id,
            dimension=_int(env, "EMBEDDING_DIMENSION", cls.dimension),
            neighbor_count=_int(env, "NEIGHBOR_COUNT", cls.neighbor_count),
            max_distance=_optional_float(env, "MAX_DISTANCE"),
            review_margin=_optional_float(env, "REVIEW_MARGIN"),
            embedder=(env.get("EMBEDDER", cls.embedder) or cls.embedder).lower(),
            gallery_embed_concurrency=_int(env, "GALLERY_EMBED_CONCURRENCY", cls.gallery_embed_concurrency),
            index_refresh_seconds=_float(env, "INDEX_REFRESH_SECONDS", cls.index_refresh_seconds),
            max_pages=_int(env, "MAX_PAGES", cls.max_pages),
            split_packets=_bool(env, "SPLIT_PACKETS", cls.split_packets),
            gallery_pages=_int(env, "GALLERY_PAGES", cls.gallery_pages),
            memory_mb=_int(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", cls.memory_mb),
            next_model_id=env.get("NEXT_EMBEDDING_MODEL_ID", "").strip(),
            next_dimension=_int(env, "NEXT_EMBEDDING_DIMENSION", cls.next_dimension),
            model_options=(live := _options(env, "", _DEFAULT_OPTIONS)),
            next_model_options=_options(env, "NEXT_", live),
        )


_DEFAULT_OPTIONS = ModelOptions()


def _options(env: Mapping[str, str], prefix: str, fallback: ModelOptions) -> ModelOptions:
    """NOVA_DETAIL_LEVEL, NOVA_EMBEDDING_PURPOSE, COHERE_INPUT_TYPE (after prefix); each empty one
    takes fallback's value."""
    return ModelOptions(
        nova_detail_level=env.get(f"{prefix}NOVA_DETAIL_LEVEL", "").strip() or fallback.nova_detail_level,
        nova_embedding_purpose=env.get(f"{prefix}NOVA_EMBEDDING_PURPOSE", "").strip()
        or fallback.nova_embedding_purpose,
        cohere_input_type=env.get(f"{prefix}COHERE_INPUT_TYPE", "").strip() or fallback.cohere_input_type,
    )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw == "true"


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _optional_float(env, name)
    return default if value is None else value


def _optional_float(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be empty or a number, got {raw!r}") from None
