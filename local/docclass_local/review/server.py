"""Serving the review app: Werkzeug's threaded server (the one moto's server runs on), one user, local."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from werkzeug.serving import make_server

from docclass.store import ObjectStore
from docclass_local.review.app import create_app
from docclass_local.review.documents import Reviewer
from docclass_local.review.thumbnails import Thumbnails

DEFAULT_PORT = 8765
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def trusted_hosts(host: str) -> list[str] | None:
    """The Host names the app answers: loopback names, plus --host if given; None (any) for a
    wildcard bind, where the host name a colleague types cannot be known."""
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - only what the user asked with --host
        return None
    return sorted({"127.0.0.1", "localhost", host.strip("[]")})


class ReviewServer:
    """The review page on host:port (port 0: a free one) until stop(); serve_forever() or start()."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        who: str,
        includes: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        token: str | None = None,
        page_size: int = 20,
    ) -> None:
        self.reviewer = Reviewer(store, who=who, includes=includes, page_size=page_size)
        self.thumbnails = Thumbnails(store)
        self.app = create_app(
            self.reviewer,
            self.thumbnails,
            token=token,
            trusted_hosts=trusted_hosts(host),
            bucket=store.bucket,
        )
        self._server: Any = make_server(host, port, self.app, threaded=True)
        self.host = host
        self.port = int(self._server.server_port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in {"0.0.0.0", ""} else self.host  # noqa: S104
        return f"http://{shown}:{self.port}/"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> ReviewServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="docclass-review", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
