"""A stand-in bedrock-runtime endpoint on localhost, for the tools that take AWS_ENDPOINT_URL_BEDROCK_RUNTIME.

It answers InvokeModel (POST /model/<id>/invoke) for the three model families of docclass.models in
each one's own answer shape, with a vector made from the image it was sent (a tiny greyscale
thumbnail, projected to the requested dimension), so that alike pages get near vectors and a
nearest-neighbour vote means something. Every request is recorded. It is not a model: it exists to
show that the request reaches the endpoint boto3 resolves, in the body of the model asked for.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import numpy as np
from PIL import Image

from docclass.models import resolve


@dataclass
class Request:
    model_id: str
    body: dict[str, Any]
    image_size: tuple[int, int]


@dataclass
class BedrockStub:
    """Serve on 127.0.0.1 (a free port) until stop(); `url` is the endpoint, `requests` what came in."""

    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> BedrockStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                parts = self.path.split("/")
                status, payload = stub.answer(unquote(parts[2]) if len(parts) > 3 else "", json.loads(raw))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def answer(self, model_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        family = resolve(model_id).family.model_id
        if family == "amazon.titan-embed-image-v1":
            image, dimension = body["inputImage"], body["embeddingConfig"]["outputEmbeddingLength"]
        elif family.startswith("amazon.nova"):
            params = body["singleEmbeddingParams"]
            image, dimension = params["image"]["source"]["bytes"], params["embeddingDimension"]
        else:
            image, dimension = body["images"][0].partition(",")[2], body["output_dimension"]
        page = Image.open(io.BytesIO(base64.b64decode(image)))
        self.requests.append(Request(model_id, body, page.size))
        vector = _vector(page, dimension).tolist()
        if family == "amazon.titan-embed-image-v1":
            return 200, {"embedding": vector, "inputTextTokenCount": 0}
        if family.startswith("amazon.nova"):
            return 200, {"embeddings": [{"embeddingType": "IMAGE", "embedding": vector}]}
        return 200, {"id": "stub", "embeddings": {"float": [vector]}, "response_type": "embeddings_by_type"}


def _vector(page: Image.Image, dimension: int) -> np.ndarray:
    thumbnail = np.asarray(page.convert("L").resize((16, 16)), dtype=np.float32).reshape(-1) / 255.0
    projection = np.random.default_rng(dimension).normal(size=(thumbnail.size, dimension))
    return (thumbnail - thumbnail.mean()) @ projection + 0.01
