"""The one place where docclass creates its Powertools logger, tracer and metrics."""

from __future__ import annotations

import threading

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

# Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE
# (template.yaml Globals); library modules log through Logger(child=True).
logger = Logger()
tracer = Tracer()
metrics = Metrics()


def count_per_label(name: str, label: str) -> None:
    """Emit one count of `name` with a `label` dimension, right away (labels differ within a batch)."""
    # single_metric prints its EMF line itself and does not look at POWERTOOLS_METRICS_DISABLED.
    if is_metrics_disabled():
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="label", value=label)


_LOGGED_ONCE: set[str] = set()
_ONCE_LOCK = threading.Lock()


def error_once(message: str, **extra: object) -> bool:
    """Log an error at most once per container (Lambda reuses it across invocations); True if
    logged now. For what only a person can fix (a broken index, a misconfiguration): one clear line
    with what to do, instead of the same line for every message of every batch."""
    with _ONCE_LOCK:
        if message in _LOGGED_ONCE:
            return False
        _LOGGED_ONCE.add(message)
    logger.error(message, extra=extra)
    return True


__all__ = ["MetricUnit", "count_per_label", "error_once", "logger", "metrics", "tracer"]
