"""Serving the review app: Werkzeug's threaded server (the one moto's server runs on), one user, local."""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from werkzeug.serving import make_server

from docclass.store import ObjectStore
from docclass_local.review.app import create_app
from docclass_local.review.documents import Reviewer
from docclass_local.review.thumbnails import Thumbnails

DEFAULT_PORT = 8765
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 - names of a wildcard bind, to recognise one
# netdevice(7): SIOCGIFADDR reads an interface's IPv4 address (struct ifreq, the address at byte 20).
_SIOCGIFADDR = 0x8915


def trusted_hosts(host: str, extra: Iterable[str] = ()) -> list[str]:
    """The Host names the app answers (never "any": a DNS-rebinding page would reach it under its
    own name): the loopback names, the --host one, and each --trusted-host; for a wildcard bind,
    also this machine's host names and interface addresses, the names a colleague can type."""
    names = {"127.0.0.1", "localhost", *(name.strip().lower() for name in extra)}
    if host in WILDCARDS:
        names |= machine_names()
    else:
        names.add(host.strip("[]").lower())
    # Werkzeug cannot match an IPv6 literal (it cuts each name at its first ":"): such a Host is
    # refused; use a name. An empty list would mean "any" to Werkzeug: there are always two names.
    return sorted(name for name in names if name and ":" not in name)


def machine_names() -> set[str]:
    """This machine's host names and the IPv4 addresses of its interfaces."""
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        with contextlib.suppress(OSError, UnicodeError):
            names |= {str(info[4][0]) for info in socket.getaddrinfo(name, None, socket.AF_INET)}
    if sys.platform == "linux":
        import fcntl  # POSIX only

        for _, interface in socket.if_nameindex():
            with (
                contextlib.suppress(OSError),
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe,
            ):
                request = struct.pack("256s", interface.encode()[:15])
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
                names.add(socket.inet_ntoa(answer[20:24]))
    return {name.lower() for name in names if name}


class ReviewServer:
    """The review page on host:port (port 0: a free one) until stop(); serve_forever() or start().
    trusted: more Host names to answer (--trusted-host), besides trusted_hosts(host)."""

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
        trusted: Sequence[str] = (),
    ) -> None:
        self.reviewer = Reviewer(store, who=who, includes=includes, page_size=page_size)
        self.thumbnails = Thumbnails(store)
        self.app = create_app(
            self.reviewer,
            self.thumbnails,
            token=token,
            trusted_hosts=trusted_hosts(host, trusted),
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
