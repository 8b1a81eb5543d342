"""The request being served, for code that builds answers without the request at hand.

RequestContext (service/web/middleware.py) binds each request's ASGI scope here; what is
derived from it is worked out only when an answer needs it, so requests that never ask pay
nothing (a dependency on every route cost every request a resolution and a URL build).
"""

from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

from starlette.requests import Request

current_scope: ContextVar[MutableMapping[str, Any] | None] = ContextVar(
    "folio_request_scope", default=None
)


def request_base_url() -> str | None:
    """The served request's base URL (scheme, host, root path), or None outside a request."""
    scope = current_scope.get()
    if scope is None:
        return None
    state = scope.setdefault("state", {})
    if "base_url" not in state:  # worked out once per request
        state["base_url"] = str(Request(scope).base_url)
    return state["base_url"]


def request_settings() -> Any:
    """The serving app's settings (`app.state.settings`), or None outside a request."""
    scope = current_scope.get()
    app = None if scope is None else scope.get("app")
    return None if app is None else app.state.settings
