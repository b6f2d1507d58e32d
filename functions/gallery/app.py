"""GalleryFunction: keeps the gallery index in step with gallery/ (thin handler; the logic is in docclass)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from docclass import gallery_indexer
from docclass.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Apply a batch of gallery/ changes to the index in one write; report failed messages."""
    return gallery_indexer().handle_event(event, context)
