"""`docclass review`: a local web page to review unclassified/ and review/ documents, route them and
teach the gallery (issue 14)."""

from docclass_local.review.app import create_app
from docclass_local.review.documents import Refused, Reviewer
from docclass_local.review.thumbnails import Thumbnails

__all__ = ["Refused", "Reviewer", "Thumbnails", "create_app"]
