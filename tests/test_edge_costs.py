"""The request path's fixed costs (issue 21): what every request pays around its endpoint.

Figures are in docs/benchmarks.md (`python -m tools.cpu_per_request`); these tests pin the
behaviour that the cheaper path must keep, on every engine.
"""

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from service.web.routing import include_flat


def test_the_app_routes_every_request_through_one_flat_table(app):
    """No included-router branch that FastAPI would walk (and match again) on each request."""
    assert all(type(route).__name__ != "_IncludedRouter" for route in app.router.routes)
    paths = {route.path for route in app.router.routes if isinstance(route, APIRoute)}
    assert {"/api/articles", "/api/articles/feed", "/api/articles/{slug}", "/api/tags",
            "/healthz", "/feeds/articles.atom"} <= paths


def test_flat_routes_keep_their_order_so_feed_wins_over_a_slug(app):
    """`/api/articles/feed` is tried before `/api/articles/{slug}`, as in its router."""
    paths = [route.path for route in app.router.routes if isinstance(route, APIRoute)]
    assert paths.index("/api/articles/feed") < paths.index("/api/articles/{slug}")


def test_include_flat_refuses_a_router_it_cannot_copy_whole():
    """A nested router would lose its branch's settings: refused, not half-copied."""
    outer, inner = APIRouter(), APIRouter()

    @inner.get("/x")
    async def x() -> dict[str, str]:
        return {}

    outer.include_router(inner)
    with pytest.raises(TypeError):
        include_flat(FastAPI(), outer)


async def test_routes_answer_with_and_without_prefix_and_405_for_a_wrong_method(client):
    """The flat table answers as the nested routers did: 404 for an unknown path, 405 with
    Allow for a known path and an unserved method."""
    assert (await client.get("/api/tags")).status_code == 200
    assert (await client.get("/api/no-such-thing")).status_code == 404
    wrong = await client.patch("/api/tags")
    assert wrong.status_code == 405


def test_article_pages_serialise_without_a_python_model_serializer():
    """`moderation` is left out while null by pydantic-core itself (a field's `exclude_if`),
    not by a wrap serializer that ran Python for every article of every page; the wire shape
    is the same both ways."""
    from datetime import datetime

    from service.articles.schemas import ArticleListItem, ArticleOut
    from service.users.schemas import CurrentUserOut

    for model in (ArticleListItem, ArticleOut, CurrentUserOut):
        assert not model.__pydantic_decorators__.model_serializers, model
    item = {"slug": "s", "title": "t", "description": "d", "tag_list": [],
            "created_at": datetime(2026, 1, 2, 3, 4, 5, 678999), "updated_at": datetime(2026, 1, 2),
            "favorited": False, "favorites_count": 0,
            "author": {"username": "u", "following": False}}
    plain = ArticleListItem.model_validate(item).model_dump(by_alias=True, mode="json")
    assert "moderation" not in plain and plain["createdAt"] == "2026-01-02T03:04:05.678Z"
    hidden = ArticleListItem.model_validate(
        {**item, "moderation": {"reason": "spam", "at": datetime(2026, 1, 3)}}
    ).model_dump(by_alias=True, mode="json")
    assert hidden["moderation"] == {"hidden": True, "reason": "spam", "at": "2026-01-03T00:00:00.000Z"}


def test_a_route_rules_out_other_paths_by_its_literal_prefix(app):
    """Every /api route is a PrefixedRoute: a path outside its literal start is no match
    without running its pattern, and a path inside it matches as APIRoute's pattern says."""
    from starlette.routing import Match

    from service.web.routing import PrefixedRoute

    single = next(route for route in app.router.routes if isinstance(route, APIRoute)
                  and route.path == "/api/articles/{slug}" and "GET" in route.methods)
    assert isinstance(single, PrefixedRoute) and single.literal_prefix == "/api/articles/"

    def scope(path, method="GET", root_path=""):
        return {"type": "http", "path": root_path + path, "root_path": root_path,
                "method": method, "headers": []}

    assert single.matches(scope("/api/tags"))[0] == Match.NONE
    match, child = single.matches(scope("/api/articles/hello"))
    assert match == Match.FULL and child["path_params"] == {"slug": "hello"}
    assert single.matches(scope("/api/articles/hello", "PATCH"))[0] == Match.PARTIAL
    # Behind a root path (`uvicorn --root-path /blog`), the route path is what is compared.
    assert single.matches(scope("/api/articles/hello", root_path="/blog"))[0] == Match.FULL


async def test_a_request_behind_a_root_path_is_routed(app):
    """An app served under a root path still finds its routes (the literal prefix is compared
    with the path inside the root path, as Starlette's own matching does)."""
    import httpx

    transport = httpx.ASGITransport(app=app, root_path="/blog")
    async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as http:
        response = await http.get("/blog/api/tags")
        assert response.status_code == 200, response.text
        assert (await http.get("/blog/api/nothing")).status_code == 404


def test_viewer_dependencies_resolve_the_header_in_one_node(app):
    """The optional viewer of a public read is one dependency on the Authorization header,
    not a chain through the token and the app's codec (each node costs every request)."""
    from service.users.deps import optional_viewer

    route = next(route for route in app.router.routes
                 if isinstance(route, APIRoute) and route.path == "/api/articles")
    viewer = next(dep for dep in route.dependant.dependencies if dep.call is optional_viewer)
    assert [type(dep.call).__name__ for dep in viewer.dependencies] == ["APIKeyHeader"]


def _tokens(**overrides):
    from service.users.credentials import Tokens
    from tests.conftest import make_settings

    return Tokens(make_settings(**overrides))


def test_a_token_is_verified_once_then_trusted_from_the_cache(monkeypatch):
    """The same token again costs no signature check (jwt.decode is not called)."""
    import jwt as pyjwt

    tokens = _tokens()
    token = tokens.issue("6560f5f2a1b2c3d4e5f60718", "session-1")
    first = tokens.claims(token)
    calls = []
    monkeypatch.setattr(pyjwt, "decode", lambda *a, **k: calls.append(a) or {})
    assert tokens.claims(token) == first
    assert calls == []


def test_a_cached_token_still_expires_on_time(monkeypatch):
    """The cache never outlives the token: past `exp` it answers 401 "has expired"."""
    import time as clock

    from service.contract.errors import Unauthorized
    from service.users import credentials

    tokens = _tokens(jwt_ttl_minutes=1)
    token = tokens.issue("6560f5f2a1b2c3d4e5f60718", "session-1")
    tokens.claims(token)
    later = clock.time() + 120
    monkeypatch.setattr(credentials.time, "time", lambda: later)
    monkeypatch.setattr(credentials.jwt.api_jwt, "datetime", _frozen_at(later), raising=False)
    with pytest.raises(Unauthorized) as raised:
        tokens.claims(token)
    assert raised.value.message == "has expired"


def _frozen_at(epoch: float):
    """A `datetime` class whose now() is `epoch`, for PyJWT's expiry check."""
    from datetime import UTC, datetime

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN206
            return datetime.fromtimestamp(epoch, tz or UTC)

    return Frozen


def test_the_token_cache_is_bounded(monkeypatch):
    """At most CHECKED_LIMIT tokens are kept: the least recently used goes first."""
    from service.users import credentials

    monkeypatch.setattr(credentials, "CHECKED_LIMIT", 3)
    tokens = _tokens()
    issued = [tokens.issue("6560f5f2a1b2c3d4e5f60718", f"session-{n}") for n in range(5)]
    for token in issued:
        tokens.claims(token)
    assert list(tokens._checked) == issued[2:]


def test_a_bad_token_is_never_cached():
    from service.contract.errors import Unauthorized

    tokens = _tokens()
    for _ in range(2):
        with pytest.raises(Unauthorized):
            tokens.claims("not.a.jwt")
    assert not tokens._checked


def test_include_flat_refuses_a_router_with_its_own_lifespan():
    """include_router would merge a router's lifespan into the app's; copying routes cannot."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):  # noqa: ANN001, ANN202
        yield

    router = APIRouter(lifespan=lifespan)

    @router.get("/y")
    async def y() -> dict[str, str]:
        return {}

    with pytest.raises(TypeError):
        include_flat(FastAPI(), router)


async def test_include_flat_runs_the_including_routers_dependencies_first():
    """As `include_router(..., dependencies=...)` does: the outer ones, then the route's."""
    import httpx
    from fastapi import Depends

    calls: list[str] = []
    router = APIRouter(prefix="/r", dependencies=[Depends(lambda: calls.append("router"))])

    @router.get("/z", dependencies=[Depends(lambda: calls.append("route"))])
    async def z() -> dict[str, str]:
        return {}

    app = FastAPI()
    include_flat(app, router, "/api", dependencies=[Depends(lambda: calls.append("outer"))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/api/r/z")).status_code == 200
    assert calls == ["outer", "router", "route"]
