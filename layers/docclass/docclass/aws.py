"""boto3 clients for the adapters, created one at a time: boto3's default session is not thread-safe.

Clients themselves are thread-safe once made, so the gallery's embedding workers share them; only
the creation, which reads the session's credential and endpoint configuration, is serialised.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_CREATING = threading.Lock()


def new_client(service: str, **kwargs: Any) -> Any:
    """boto3.client(service, **kwargs) from the default session, serialised with every other one."""
    with _CREATING:
        return boto3.client(service, **kwargs)  # type: ignore[call-overload]


def bounded_config(max_attempts: int, connect_timeout: float, read_timeout: float) -> Config:
    """A client Config whose every call ends within worst_case_seconds() of the same arguments."""
    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


def worst_case_seconds(max_attempts: int, connect_timeout: float, read_timeout: float) -> float:
    """Longest one call can take in standard retry mode, retries and backoffs included.

    Standard mode (https://docs.aws.amazon.com/boto3/latest/guide/retries.html) sleeps
    rand(0, 1) x min(2 ** (n - 1), 20) s after the n-th failed attempt; every attempt waits at most
    connect_timeout to connect and read_timeout for each read of the answer.
    """
    backoffs = sum(min(2.0 ** (n - 1), 20.0) for n in range(1, max_attempts))
    return max_attempts * (connect_timeout + read_timeout) + backoffs
