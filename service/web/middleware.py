"""Pure-ASGI middleware: request ids and access logs, security headers, a guard on bodies,
and one database deadline per request.

These wrap every request, so they are written against raw ASGI rather than Starlette's
BaseHTTPMiddleware, which would copy each response through an extra task.
"""

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from service.contract.errors import error_body
from service.engine import deadline
from service.observability import metrics
from service.web.context import current_scope

log = logging.getLogger("folio.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = b"x-request-id"
VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
# The API serves JSON only; the interactive docs may load scripts, styles and images from this
# server alone (their assets ship in the fastapi-offline package), so they never reach a CDN.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
DOCS_CSP = (
    b"content-security-policy",
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    b"frame-ancestors 'none'",
)
DOCS_PATHS = ("/docs", "/redoc", "/openapi.json", "/static-offline-docs")

# One token at a time, in a single left-to-right pass: an escape, a quote or a bracket.
JSON_TOKENS = re.compile(rb'\\.|["\[\]{}]', re.DOTALL)


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether JSON nests deeper than `limit`, found in one linear pass without parsing it.

    Bodies with too few brackets to ever exceed the limit skip the scan (a C-speed count).
    Brackets inside strings do not count; malformed JSON is left to the parser.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth, in_string = 0, False
    for token in JSON_TOKENS.finditer(body):
        char = token.group()
        if in_string:
            in_string = char != b'"'
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


async def _send_error(send: Send, status: int, field: str, message: str,
                      headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(error_body(field, message)).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()), *(headers or [])],
    })
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    """Refuse bodies over `max_bytes` (413) and JSON nested deeper than `max_depth` (422).

    The body is read once, bounded, and replayed to the application. POSTs to `streamed`
    paths (media uploads) pass untouched: their route streams the body to a temporary file
    under its own, larger limit (service/media/upload.py), never buffering it here.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_depth: int,
                 streamed: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the body, then hand the request on."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") or (
            scope["method"] == "POST" and (scope["path"].rstrip("/") or "/") in self.streamed
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_error(send, 413, "body", f"must be at most {self.max_bytes} bytes")
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(send, 413, "body", f"must be at most {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b"") and json_depth_exceeds(body, self.max_depth):
            await _send_error(send, 422, "body", f"must nest at most {self.max_depth} levels")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class RequestDeadline:
    """Run each request under one database deadline, `seconds` from its start.

    Every operation of the request draws on the same budget (`pymongo.timeout`, through
    service/engine/transactions.py's `deadline`): MongoDB gets what is left as `maxTimeMS`, and
    the transaction retries of `atomically` stop at it. Work that goes on after the answer runs `detached`.
    """

    def __init__(self, app: ASGIApp, *, seconds: float | None) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the request on inside its deadline."""
        if scope["type"] != "http" or not self.seconds:
            await self.app(scope, receive, send)
            return
        with deadline(self.seconds):
            await self.app(scope, receive, send)


class TrailingSlash:
    """Serve `/api/articles/` as `/api/articles`: every route answers with or without a trailing
    slash, in place, rather than by Starlette's redirect (an absolute `http://` URL, wrong
    behind a TLS-terminating proxy, and a redirected POST that some clients do not follow)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Drop the path's trailing slashes, then hand the request on."""
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            # In place: the router records the matched route in this scope, which the
            # request log and metrics read (RequestContext).
            scope["path"] = path.rstrip("/") or "/"
            raw_path = scope.get("raw_path")
            if raw_path:
                scope["raw_path"] = raw_path.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def route_template(scope: Scope) -> str:
    """The template of the route that served a request (`/api/articles/{slug}`), never its path.

    A route's own `path` carries every router prefix on some FastAPI versions and none on
    others (included routers keep their routes as declared); the prefixes are literal, so the
    missing ones are the leading segments of the request path beyond the template's depth.
    A path no route matched is UNMATCHED.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return metrics.UNMATCHED
    if template.endswith(("{path}", ":path}")):  # a mount: the rest may span segments
        return template
    path = scope["path"]
    extra = path.count("/") - template.count("/")
    if extra <= 0:
        return template
    return "/".join(path.split("/", extra + 1)[: extra + 1]) + template


class RequestContext:
    """Give each request an id, add security headers, log one JSON line per request, and
    count it in the request metrics (by route template, never by raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with an id and log its outcome."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        request_id = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        started = time.perf_counter()
        status = 500
        is_docs = scope["path"].startswith(DOCS_PATHS)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(REQUEST_ID_HEADER, request_id), *SECURITY_HEADERS]
                extra.append(DOCS_CSP if is_docs else API_CSP)
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        metrics.IN_FLIGHT.inc()
        bound = current_scope.set(scope)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            current_scope.reset(bound)
            seconds = time.perf_counter() - started
            metrics.IN_FLIGHT.dec()
            route = scope.get("route")
            metrics.observe_request(scope["method"], route_template(scope), status, seconds)
            log.info(json.dumps({
                "event": "request",
                "method": scope["method"],
                "route": getattr(route, "name", None) or "unmatched",  # e.g. articles:get
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "request_id": request_id.decode(),
            }))
