"""ClassifyFunction: routes each inbox/ document to its class (thin handler; the logic is in docclass)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from docclass import classifier
from docclass.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Classify a batch of inbox/ documents; report failed messages for SQS to retry."""
    return classifier().handle_event(event, context)
