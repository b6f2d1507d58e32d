"""The one place where docclass creates its Powertools logger, tracer and metrics."""

from __future__ import annotations

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


__all__ = ["MetricUnit", "count_per_label", "logger", "metrics", "tracer"]
