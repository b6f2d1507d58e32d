"""Make moto's S3 object operations atomic, as S3's are, for the local stack and the tests.

moto 5 checks If-Match / If-None-Match and then writes, with no lock between the two: two
threads holding the same ETag can both "win" the index pointer swap, which real S3 never allows
(one of them gets 412). Concurrent requests on keys can also trip over each other's temporary
buffers ("I/O operation on closed file"). Serialising moto's object-level requests restores S3's
guarantees; the local stack does not need their parallelism.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()


def make_conditional_writes_atomic() -> None:
    """Patch moto's S3 object and bucket request handlers to run one at a time (idempotent)."""
    from moto.s3.responses import S3Response

    for name in ("key_response", "bucket_response"):
        original = getattr(S3Response, name)
        if getattr(original, "_docclass_atomic", False):
            continue

        def serialised(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return _original(self, *args, **kwargs)

        functools.update_wrapper(serialised, original)
        serialised._docclass_atomic = True  # type: ignore[attr-defined]
        setattr(S3Response, name, serialised)
