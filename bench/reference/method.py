"""The original approach's image preparation, Titan request and flat FAISS index."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import faiss
import numpy as np
from PIL import Image

MODEL_ID = "amazon.titan-embed-image-v1"
SIDE = 2048  # Titan's pixel limit is 2048x2048; the method resizes to exactly that square.
# What Image.save(..., "PNG") accepts without a conversion.
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})


def prepare_png(data: bytes) -> bytes:
    """Full-resolution decode, a 2048x2048 resize when the image has more pixels, then PNG."""
    image = Image.open(io.BytesIO(data))
    image.load()
    if image.width * image.height > SIDE * SIDE:
        image = image.resize((SIDE, SIDE))  # Pillow's default filter (bicubic), aspect ratio ignored
    if image.mode not in _PNG_MODES:
        image = image.convert("RGB")  # CMYK, YCbCr, LAB cannot be written as PNG
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def request_body(png: bytes, dimension: int) -> str:
    """The InvokeModel body: the base64 PNG and the output length."""
    return json.dumps(
        {
            "inputImage": base64.b64encode(png).decode("ascii"),
            "embeddingConfig": {"outputEmbeddingLength": dimension},
        }
    )


class ReferenceEmbedder:
    """bytes -> Titan vector, the method's way (PNG request, the vector used as returned)."""

    def __init__(self, bedrock_client: Any, dimension: int = 1024, model_id: str = MODEL_ID) -> None:
        self.client = bedrock_client
        self.dimension = dimension
        self.model_id = model_id

    def embed(self, data: bytes) -> np.ndarray:
        body = request_body(prepare_png(data), self.dimension)
        response = self.client.invoke_model(
            modelId=self.model_id, body=body, contentType="application/json", accept="application/json"
        )
        payload = json.loads(response["body"].read())
        return np.asarray(payload["embedding"], dtype=np.float32)


class FlatIndex:
    """One IndexFlatL2 and, row by row, the label and gallery key of each vector."""

    def __init__(self, dimension: int) -> None:
        self.index = faiss.IndexFlatL2(dimension)
        self.labels: list[str] = []
        self.keys: list[str] = []

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, vector: np.ndarray, label: str, key: str) -> None:
        self.index.add(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        self.labels.append(label)
        self.keys.append(key)

    def nearest(self, vector: np.ndarray) -> tuple[str, str, float] | None:
        """(label, gallery key, squared L2 distance) of the nearest vector, or None when empty."""
        if len(self) == 0:
            return None
        distances, rows = self.index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), 1)
        row = int(rows[0][0])
        return self.labels[row], self.keys[row], float(distances[0][0])

    def to_objects(self) -> tuple[bytes, bytes]:
        """(serialised FAISS index, labels JSON): the two objects the method persists."""
        index_bytes = faiss.serialize_index(self.index).tobytes()
        labels = json.dumps({"labels": self.labels, "keys": self.keys}).encode()
        return index_bytes, labels

    @classmethod
    def from_objects(cls, index_bytes: bytes, labels: bytes) -> FlatIndex:
        index = faiss.deserialize_index(np.frombuffer(index_bytes, dtype=np.uint8))
        flat = cls(index.d)
        flat.index = index
        doc = json.loads(labels)
        flat.labels, flat.keys = list(doc["labels"]), list(doc["keys"])
        return flat
