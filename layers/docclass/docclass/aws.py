"""boto3 clients for the adapters, created one at a time: boto3's default session is not thread-safe.

Clients themselves are thread-safe once made, so the gallery's embedding workers share them; only
the creation, which reads the session's credential and endpoint configuration, is serialised.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3

_CREATING = threading.Lock()


def new_client(service: str, **kwargs: Any) -> Any:
    """boto3.client(service, **kwargs) from the default session, serialised with every other one."""
    with _CREATING:
        return boto3.client(service, **kwargs)  # type: ignore[call-overload]
