"""Routers added to the app as one flat table of routes, so that routing a request is one pass.

FastAPI 0.16x keeps an included router as a branch (`include_router`) that it walks on every
request, matching again at each level of inclusion once it has chosen a branch; with eleven
domain routers under /api that cost about 120 µs of CPU per request (a request for /healthz, or
a 404, tried every route of /api twice), several times what the endpoint of a cached page
costs. Copying each route into the app's own table, as FastAPI's `include_router` did before,
makes routing a single pass over compiled path patterns. The routes are built with the
arguments FastAPI itself passes for an included route, so the OpenAPI document is unchanged
(tests/test_api_docs.py).

Each route is a `PrefixedRoute`: before matching its pattern it checks the literal start of its
path (`/api/articles/` for `/api/articles/{slug}`), so a request passes the routes of other
domains at the cost of a `startswith` (about 0.2 µs) instead of a full match (about 1.7 µs
each: a request for `/healthz`, behind all 67 routes of /api, spent about 115 µs routing).
"""

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, params
from fastapi.routing import APIRoute
from starlette._utils import get_route_path  # what Starlette's own matching reads
from starlette.routing import Match
from starlette.types import Scope


class PrefixedRoute(APIRoute):
    """An APIRoute that rules itself out by the literal start of its path before matching.

    A path its pattern matches always starts with the text before the first `{`, so a path
    that does not is no match (Match.NONE, as the pattern would answer), and the order in
    which routes are tried, partial matches (405) included, is unchanged.
    """

    def __init__(self, path: str, endpoint: Any, **arguments: Any) -> None:
        super().__init__(path, endpoint, **arguments)
        self.literal_prefix = path.split("{", 1)[0]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Match.NONE at once for a path outside the literal prefix, else APIRoute's match."""
        if not get_route_path(scope).startswith(self.literal_prefix):
            return Match.NONE, {}
        return super().matches(scope)


def include_flat(app: FastAPI, router: APIRouter, prefix: str = "",
                 dependencies: Sequence[params.Depends] = ()) -> None:
    """Add every route of `router` to the app itself under `prefix`, as `include_router` would;
    `dependencies` run before each route's own, as an including router's do.

    Only plain API routes are supported (every Folio router holds only those); a router that
    includes other routers, or holds a mount or a websocket, is refused rather than half-copied.
    """
    if router.on_startup or router.on_shutdown or \
            type(router.lifespan_context).__name__ != "_DefaultLifespan":
        raise TypeError("include_flat: a router with its own lifespan or start-up or shutdown "
                        "handlers; use include_router")
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"include_flat: {route!r} is not an APIRoute; use include_router")
        arguments = _route_arguments(route)
        arguments["dependencies"] = [*dependencies, *arguments["dependencies"]]
        app.router.add_api_route(prefix + route.path, route.endpoint, **arguments)


def _route_arguments(route: APIRoute) -> dict[str, Any]:
    """What FastAPI passes for an included route with no extra tags, responses or dependencies
    (fastapi.routing._EffectiveRouteContext.from_api_route), as add_api_route's arguments."""
    return {
        "response_model": route.response_model,
        "status_code": route.status_code,
        "tags": list(route.tags),
        "dependencies": list(route.dependencies),
        "summary": route.summary,
        "description": route.description,
        "response_description": route.response_description,
        "responses": dict(route.responses),
        "deprecated": route.deprecated,
        "methods": route.methods,
        "operation_id": route.operation_id,
        "response_model_include": route.response_model_include,
        "response_model_exclude": route.response_model_exclude,
        "response_model_by_alias": route.response_model_by_alias,
        "response_model_exclude_unset": route.response_model_exclude_unset,
        "response_model_exclude_defaults": route.response_model_exclude_defaults,
        "response_model_exclude_none": route.response_model_exclude_none,
        "include_in_schema": route.include_in_schema,
        "response_class": route.response_class,
        "name": route.name,
        "route_class_override": PrefixedRoute if type(route) is APIRoute else type(route),
        "callbacks": route.callbacks,
        "openapi_extra": route.openapi_extra,
        "generate_unique_id_function": route.generate_unique_id_function,
        "strict_content_type": route.strict_content_type,
        "max_body_size": route.max_body_size,
        "form_limits": route.form_limits,
    }
