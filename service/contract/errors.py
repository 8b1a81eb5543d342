"""Folio's own errors and the one place that renders every error as the RealWorld envelope.

Query code raises these; it never knows about HTTP. The handlers below turn them, FastAPI's
validation errors and Starlette's HTTP errors into `{"errors": {"<field>": ["<message>"]}}`.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.contract.schemas import FORBIDDEN_MESSAGE
from service.engine import database_outage
from service.observability import metrics

log = logging.getLogger("folio.errors")
RETRY_AFTER_SECONDS = 5
# Contention passes quickly: a pool that ran dry, a hot article's transactions that conflicted
# until the request's deadline. A client may try again sooner than after an outage.
BUSY_RETRY_AFTER_SECONDS = 1


class FolioError(Exception):
    """Base error: a status, the field or resource it concerns, and a human message."""

    status_code = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Unauthorized(FolioError):
    """Missing, malformed, expired or otherwise unacceptable credentials."""

    status_code = 401


class Forbidden(FolioError):
    """Authenticated, but not allowed to touch this resource."""

    status_code = 403


class NotFound(FolioError):
    """The article, profile or comment does not exist (or is not visible to the caller)."""

    status_code = 404


class Conflict(FolioError):
    """The request collides with current state and retrying it unchanged will not help."""

    status_code = 409


class PreconditionFailed(FolioError):
    """An `If-Match` names a version that is no longer current: nothing was written."""

    status_code = 412


class TooManyRequests(FolioError):
    """A rate limit was reached; `retry_after` seconds until the window frees a slot."""

    status_code = 429

    def __init__(self, field: str, message: str, retry_after: int) -> None:
        super().__init__(field, message)
        self.retry_after = retry_after


class Unavailable(FolioError):
    """Something the request needs cannot be reached now (Redis, for fail-closed rate limits)."""

    status_code = 503

    def __init__(self, field: str, message: str, retry_after: int) -> None:
        super().__init__(field, message)
        self.retry_after = retry_after


class Invalid(FolioError):
    """The request is well-formed JSON but breaks a rule."""

    status_code = 422


def error_body(field: str, *messages: str) -> dict[str, dict[str, list[str]]]:
    """The RealWorld error envelope."""
    return {"errors": {field: list(messages)}}


def _field_of(error: dict[str, Any]) -> str:
    """Name the field an error points at: ('body', 'user', 'email') → 'email',
    ('body', 'article', 'coverImage', 'alt') → 'coverImage.alt', ('query', 'limit') → 'limit'."""
    if "field" in error.get("ctx", {}):
        return str(error["ctx"]["field"])  # a rule that names a more precise path, e.g. meta.a.b
    names = [str(part) for part in error.get("loc", ()) if isinstance(part, str)]
    if not names:
        return "body"
    source, path = names[0], names[1:]
    if source == "body" and len(path) >= 2:
        path = path[1:]  # drop the envelope ("user", "article", "comment")
    return ".".join(path) or source


def _is_blank(error: dict[str, Any]) -> bool:
    """Whether a field was left out, sent as null or sent as blank text (the spec's one wording)."""
    if error.get("type") == "missing":
        return True
    if error.get("type") in ("string_too_short", "too_short"):
        if error.get("ctx", {}).get("min_length") == 1:
            return True
    value = error.get("input", ...)
    if isinstance(value, str):
        return not value.strip()
    # A null where a value is required; a rule that refuses null says why in its own words.
    return value is None and error.get("type") != "value_error"


# Pydantic's wording for lengths and bounds, in RealWorld's (Rails') words instead.
BOUND_MESSAGES = {
    "string_too_short": "is too short (minimum is {min_length} characters)",
    "string_too_long": "is too long (maximum is {max_length} characters)",
    "too_short": "is too short (minimum is {min_length} items)",
    "too_long": "is too long (maximum is {max_length} items)",
    "greater_than_equal": "must be greater than or equal to {ge}",
    "greater_than": "must be greater than {gt}",
    "less_than_equal": "must be less than or equal to {le}",
    "less_than": "must be less than {lt}",
}


def _message_of(error: dict[str, Any]) -> str:
    """A short message for one pydantic error, without echoing the offending input."""
    kind = error.get("type")
    if kind == "json_invalid":
        return "is not valid JSON"
    if kind == "forbidden_character":  # before the blank check: "\x1c".strip() is ""
        return str(error.get("msg", "is invalid"))
    if kind == "string_unicode":  # pydantic's own refusal of a lone surrogate: the same policy
        return FORBIDDEN_MESSAGE.format(character="a lone surrogate")
    if _is_blank(error):
        return "can't be blank"
    if error.get("type") == "extra_forbidden":
        return "is not a known field"
    if error.get("type") in ("int_parsing", "int_type", "int_from_float"):
        return "must be an integer"
    if error.get("type") == "value_error":
        return str(error.get("ctx", {}).get("error", error.get("msg", "is invalid")))
    if kind in BOUND_MESSAGES:
        try:
            return BOUND_MESSAGES[str(kind)].format(**error.get("ctx", {}))
        except (KeyError, IndexError):
            pass
    return str(error.get("msg", "is invalid"))


def validation_envelope(errors: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Group pydantic errors by field, in the RealWorld envelope."""
    grouped: dict[str, list[str]] = {}
    for error in errors:
        messages = grouped.setdefault(_field_of(error), [])
        message = _message_of(error)
        if message not in messages:
            messages.append(message)
    return {"errors": grouped or {"body": ["is invalid"]}}


async def _on_folio_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FolioError)
    headers = {"WWW-Authenticate": "Token"} if exc.status_code == 401 else {}
    if isinstance(exc, TooManyRequests | Unavailable):
        headers["Retry-After"] = str(exc.retry_after)
        metrics.rate_limited(exc.field)  # every 429 is answered here, whatever limit raised it
    return JSONResponse(error_body(exc.field, exc.message), exc.status_code, headers=headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_envelope(list(exc.errors())), 422)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # FastAPI's only 400: a body it could not decode (not UTF-8)
        return JSONResponse(error_body("body", "is not valid JSON"), 422)
    field = {404: "path", 405: "method"}.get(exc.status_code, "request")
    return JSONResponse(
        error_body(field, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None)
    )


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "unknown"))


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    """503 while MongoDB cannot be reached or is too busy, 504 for an operation out of time,
    else a 500."""
    assert isinstance(exc, PyMongoError)
    outage = database_outage(exc)
    if outage is None:
        return await _on_unexpected_error(request, exc)
    log.warning("database %s on %s %s (request %s): %s", outage, request.method,
                request.url.path, _request_id(request), type(exc).__name__)
    if outage == "timeout":
        return JSONResponse(error_body("database", "took too long to answer; try a narrower "
                                       "request or try again later"), 504)
    if outage == "busy":
        return JSONResponse(
            error_body("database", "is busy; try again shortly"),
            503,
            headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
        )
    return JSONResponse(
        error_body("database", "is unavailable; try again shortly"),
        503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = _request_id(request)
    log.exception("unhandled error on %s %s (request %s)", request.method, request.url.path,
                  request_id)
    return JSONResponse(
        error_body("server", f"internal error (request id {request_id})"),
        500,
        headers={"X-Request-ID": request_id, "X-Content-Type-Options": "nosniff"},
    )


class UnhandledErrors:
    """Answer an unhandled error with the 500 envelope, logged once with its traceback.

    Starlette's outermost middleware runs an `Exception` handler and then raises the error
    again for the server, so uvicorn logged a second full traceback of every 500. This one sits
    just outside the routes and does not raise again; the `Exception` handler stays, for an
    error in a middleware outside it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request; an error before the response started becomes the 500 answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started:  # too late to answer: the server ends the connection and logs it
                raise
            response = await _on_unexpected_error(Request(scope), exc)
            del response.headers["x-request-id"]  # RequestContext, outside, adds it
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every error in the RealWorld envelope."""
    app.add_exception_handler(FolioError, _on_folio_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(PyMongoError, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
    # Added first, so innermost of the middleware: just outside the routes.
    app.add_middleware(UnhandledErrors)
