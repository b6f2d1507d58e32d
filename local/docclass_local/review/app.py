"""The review page as a Flask app: one page of rows, one POST for the actions, thumbnails.

Flask because the local stack already runs on it (moto's server is Flask and Werkzeug), so the page
adds no dependency, and its test client drives the HTTP tests. Jinja2 autoescapes every .html
template (https://flask.palletsprojects.com/en/stable/templating/): keys and labels are only ever
written through it. Every POST carries a token drawn when the app starts, which a page of another
site cannot read; TRUSTED_HOSTS refuses a request for any other host name (a DNS-rebinding page
would otherwise be same-origin with this one and could read the token).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, abort, redirect, render_template, request, url_for
from werkzeug.exceptions import SecurityError

from docclass.errors import DocclassError
from docclass_local.review.documents import ACTIONS, Refused, Reviewer
from docclass_local.review.thumbnails import Thumbnails

MAX_NOTICES = 100
MAX_PAGE = 10_000  # a thumbnail's page number, as a gallery page id can name it


def create_app(
    reviewer: Reviewer,
    thumbnails: Thumbnails,
    *,
    token: str | None = None,
    trusted_hosts: Iterable[str] = ("127.0.0.1", "localhost"),
    bucket: str = "",
) -> Flask:
    """The review app over reviewer's bucket; token: the POST token (random when None)."""
    app = Flask(__name__)
    hosts = list(trusted_hosts)
    if not hosts:  # Werkzeug reads an empty list as "any host"
        raise ValueError("create_app: trusted_hosts is empty; name at least one host")
    app.config["TRUSTED_HOSTS"] = hosts
    secret = token or secrets.token_urlsafe(32)
    notices: OrderedDict[str, tuple[str, str]] = OrderedDict()
    lock = threading.Lock()

    def notice(kind: str, text: str) -> str:
        ident = secrets.token_urlsafe(8)
        with lock:
            notices[ident] = (kind, text)
            while len(notices) > MAX_NOTICES:
                notices.popitem(last=False)
        return ident

    @app.get("/")
    def index() -> str:
        page = request.args.get("page", "1")
        listing = reviewer.listing(int(page) if page.isdigit() else 1)
        with lock:
            shown = notices.get(request.args.get("notice", ""))
        return render_template(
            "page.html",
            listing=listing,
            token=secret,
            notice=shown,
            bucket=bucket,
            sources=reviewer.sources,
            row=request.args.get("row", ""),
        )

    @app.post("/act")
    def act() -> Any:
        if not hmac.compare_digest(request.form.get("token", ""), secret):
            abort(403, "the form has no valid token: reload the review page")
        action, _, label = request.form.get("do", "").partition(":")
        if action not in ACTIONS:
            abort(400, "unknown action")
        if request.form.get("also_gallery") and action == "route":
            action = "both"
        label = label or request.form.get("label", "")
        key, etag = request.form.get("key", ""), request.form.get("etag", "")
        try:
            result = ("done", reviewer.act(action, key, etag, label))
        except Refused as exc:
            result = ("refused", str(exc))
        except DocclassError as exc:  # Reviewer.act words S3's refusals itself; this is a backstop
            result = ("refused", f"{key}: {exc} (reload the page to see what was done)")
        page = request.form.get("page", "1")
        row = request.form.get("row", "")
        return redirect(
            url_for(
                "index",
                page=page if page.isdigit() else "1",
                notice=notice(*result),
                row=row if row.isdigit() else "",
            ),
            code=303,  # See Other: the browser GETs the page again, a reload does not repeat the POST
        )

    @app.get("/thumb")
    def thumb() -> Response:
        key, etag = request.args.get("key", ""), request.args.get("etag", "")
        page = request.args.get("page", "1")
        if not reviewer.may_read(key) or not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
            abort(404)
        data = thumbnails.get(key, etag, int(page))
        if data is None:
            abort(404)
        response = Response(data, mimetype="image/jpeg")
        # A URL that names the ETag is always the same picture; one without it may change.
        response.headers["Cache-Control"] = "private, max-age=3600" if etag else "no-cache"
        return response

    @app.errorhandler(SecurityError)
    def untrusted_host(exc: SecurityError) -> tuple[str, int, dict[str, str]]:
        # Werkzeug refuses a Host not in TRUSTED_HOSTS with this error: say how to allow a name.
        text = "docclass review: this host name is not one the page answers to (restart it with --trusted-host NAME)\n"
        return text, 400, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(DocclassError)
    def storage_error(exc: DocclassError) -> tuple[str, int, dict[str, str]]:
        # Listing or reading the bucket failed (access denied, a timeout): say so, not a bare 500.
        return f"docclass review: S3 refused: {exc}\n", 502, {"Content-Type": "text/plain; charset=utf-8"}

    @app.after_request
    def headers(response: Response) -> Response:
        # Belt and braces behind autoescaping: no inline script, no framing, nothing from elsewhere.
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return app
