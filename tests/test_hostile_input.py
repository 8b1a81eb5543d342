"""Hostile input to every write, and renderers that survive whatever is stored.

The text policy (service/contract/schemas.py, README "Text"): every text field of every write refuses
the characters XML 1.0 forbids with 422; every renderer (JSON, the HTML of bodies, Atom)
replaces any such character that stored or imported data still holds. Every datetime input is
one type, bounded to years 1970-9999 in UTC.

The property test sends each write endpoint, moderation ones included, hostile values in one
text, datetime or integer field at a time and requires a 2xx or 4xx, never a 5xx; after each
accepted write, the article list, the article, its comments, its author's profile and the Atom
feed must still render. Expectations hold on every engine; the property test runs on the
embedded engine only, in one process (its runtime is bounded by MAX_EXAMPLES).
"""

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lxml import etree
from lxml import html as lxml_html

from models import Article, Comment
from service.contract.schemas import XML_FORBIDDEN
from service.engine.client import collection
from service.main import create_app
from tests.conftest import TEST_ENGINE, make_settings
from tests.factories import PASSWORD, add_comment, create_article, register

INT64_MAX = 2**63 - 1
MAX_EXAMPLES = 300


def raw_json(body: Any) -> dict[str, Any]:
    """Keyword arguments sending `body` as JSON with every non-ASCII character escaped, so that
    lone surrogates travel as `\\ud800` the way a hostile client sends them."""
    return {"content": json.dumps(body, ensure_ascii=True),
            "headers": {"Content-Type": "application/json"}}


# --- the policy, field by field ---------------------------------------------------------------


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x0b", "\x1c", "\x1f", "\ufffe", "\uffff",
                                       "\ud800", "\udfff"])
async def test_every_text_field_refuses_characters_xml_forbids_with_422(client, character):
    author = await register(client)
    headers = {**author.headers}
    article = await create_article(client, author)
    comment = await add_comment(client, author, article["slug"])
    writes = [
        ("POST", "/api/articles", {"article": {"title": f"a{character}b", "description": "d",
                                               "body": "b"}}, "title"),
        ("POST", "/api/articles", {"article": {"title": "t", "description": f"d{character}d",
                                               "body": "b"}}, "description"),
        ("POST", "/api/articles", {"article": {"title": "t", "description": "d",
                                               "body": f"x{character}"}}, "body"),
        ("POST", "/api/articles", {"article": {"title": "t", "description": "d", "body": "b",
                                               "tagList": [f"t{character}t"]}}, "tagList"),
        ("POST", "/api/articles", {"article": {"title": "t", "description": "d", "body": "b",
                                               "meta": {"k": [f"v{character}"]}}}, "meta.k.0"),
        ("POST", "/api/articles", {"article": {"title": "t", "description": "d", "body": "b",
                                               "coverImage": {"url": "https://x.io/a.png",
                                                              "alt": f"a{character}b"}}},
         "coverImage.alt"),
        ("PUT", f"/api/articles/{article['slug']}", {"article": {"title": f"n{character}n"}},
         "title"),
        ("POST", f"/api/articles/{article['slug']}/comments",
         {"comment": {"body": f"c{character}"}}, "body"),
        ("PUT", f"/api/articles/{article['slug']}/comments/{comment['id']}",
         {"comment": {"body": f"c{character}"}}, "body"),
        ("PUT", "/api/user", {"user": {"bio": f"b{character}"}}, "bio"),
        ("POST", f"/api/articles/{article['slug']}/reports",
         {"report": {"reason": "spam", "note": f"n{character}"}}, "note"),
    ]
    for method, path, body, key in writes:
        response = await client.request(method, path, **raw_json(body) | {
            "headers": {**headers, "Content-Type": "application/json"}})
        assert response.status_code == 422, (path, key, response.text)
        assert list(response.json()["errors"]) == [key], (path, response.text)
        assert "text may not hold" in response.json()["errors"][key][0]


async def test_tab_line_feed_carriage_return_and_other_unicode_are_kept(client):
    author = await register(client)
    body = "line\tone\r\nline two \u202e\u2066 e\u0301 \U0001f600"
    article = await create_article(client, author, body=body, title="Tab\there")
    assert article["body"] == body
    assert article["title"] == "Tab\there"


async def test_a_suspension_past_year_9999_in_utc_answers_422_like_publish_at(client):
    from tests.test_moderation import cast

    people = await cast(client)
    target = people["author"].username
    for until in ("9999-12-31T23:59:59-23:59", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00+23:59"):
        answer = await client.post(f"/api/moderation/users/{target}/suspend",
                                   json={"reason": "r", "until": until},
                                   headers=people["moderator"].headers)
        assert answer.status_code == 422, answer.text
        assert answer.json() == {"errors": {"until": ["must be between years 1970 and 9999"]}}
        published = await client.post(
            "/api/articles", headers=people["author"].headers,
            json={"article": {"title": "t", "description": "d", "body": "b", "publishAt": until}})
        assert published.json() == {"errors": {"publishAt": ["must be between years 1970 and 9999"]}}


@pytest.fixture
def settings():
    """FOLIO_ADMINS names `root` (the moderation cast)."""
    return make_settings(admins=["root"])


async def test_length_messages_use_the_realworld_wording(client):
    short = await client.post("/api/users", json={"user": {
        "username": "shorty", "email": "s@example.com", "password": "1234567"}})
    assert short.json() == {"errors": {"password": ["is too short (minimum is 8 characters)"]}}
    author = await register(client)
    long_title = await client.post("/api/articles", headers=author.headers, json={
        "article": {"title": "x" * 201, "description": "d", "body": "b"}})
    assert long_title.json() == {"errors": {"title": ["is too long (maximum is 200 characters)"]}}
    many_tags = await client.post("/api/articles", headers=author.headers, json={
        "article": {"title": "t", "description": "d", "body": "b",
                    "tagList": [f"t{n}" for n in range(21)]}})
    assert many_tags.json() == {"errors": {"tagList": ["is too long (maximum is 20 items)"]}}
    limit = await client.get("/api/articles", params={"limit": 0})
    assert limit.json() == {"errors": {"limit": ["must be greater than or equal to 1"]}}
    offset = await client.get("/api/articles", params={"offset": 10_001})
    assert offset.json() == {"errors": {"offset": ["must be less than or equal to 10000"]}}


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_trailing_slash_answers_the_same_resource_without_a_redirect(client, method):
    author = await register(client)
    if method == "POST":
        response = await client.post("/api/articles/", headers=author.headers,
                                     json={"article": {"title": "Slash", "description": "d",
                                                       "body": "b"}})
        assert response.status_code == 201, response.text
        assert response.json()["article"]["slug"] == "slash"
    else:
        await create_article(client, author, title="Listed")
        response = await client.get("/api/articles/")
        assert response.status_code == 200, response.text
        assert response.json()["articlesCount"] == 1
    assert "location" not in response.headers


# --- renderers survive stored text the policy refuses -----------------------------------------


async def test_stored_forbidden_characters_render_in_json_html_and_atom(client):
    author = await register(client)
    article = await create_article(client, author, tagList=["ok"])
    comment = await add_comment(client, author, article["slug"])
    bad = "bell\x07 nul\x00 fffe\ufffe"
    # As data stored before the policy, or imported, holds it (MongoDB stores any UTF-8).
    await collection(Article).update_one({"slug": article["slug"]}, {"$set": {
        "title": bad, "description": bad, "body": bad, "body_html": f"<p>{bad}</p>",
        "tag_list": ["ok", bad]}})
    await collection(Comment).update_one({"_id": comment["id"]}, {"$set": {"body": bad}})
    feed = await client.get("/feeds/articles.atom")
    assert feed.status_code == 200, feed.text
    root = etree.fromstring(feed.content)
    assert "bell\ufffd nul\ufffd fffe\ufffd" in root.findtext("{*}entry/{*}title")
    tagged = await client.get("/feeds/articles.atom", params={"tag": "ok"})
    assert tagged.status_code == 200
    shown = await client.get(f"/api/articles/{article['slug']}")
    assert shown.status_code == 200 and shown.json()["article"]["title"] == bad
    assert (await client.get(f"/api/articles/{article['slug']}/comments")).status_code == 200


def test_markdown_html_never_holds_a_character_xml_forbids():
    from service.articles.content import render_markdown

    rendered = render_markdown("# a\x07b\n\n*c\x00d* \ufffe `\x1f`")
    assert not XML_FORBIDDEN.search(rendered)
    lxml_html.fromstring(rendered)


# --- the property: hostile values in every field of every write --------------------------------

BIDI = ["\u202a", "\u202b", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200f"]
SPECIAL = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ufeff", "\u200b", "\ufffe", "\uffff",
           "\ud800", "\udbff", "\udc00", "\udfff", *BIDI]
hostile_text = st.one_of(
    st.text(st.characters(codec=None, categories=["Cc", "Cf", "Cs", "Co", "Mn", "Zl", "Zp"]),
            max_size=20),
    st.lists(st.sampled_from(SPECIAL), min_size=1, max_size=5).map("".join),
    st.tuples(st.sampled_from(["", "a", " ", "e"]), st.sampled_from(SPECIAL)).map("".join),
    st.sampled_from(["e" + "\u0301" * 5000, "x" * 100_001, "\u202eevil\u202c" * 50, " " * 300,
                     "a\x00b", "", "\t\n\r"]),
)
hostile_datetime = st.one_of(
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:59:59{}".format,
        st.sampled_from([1, 1969, 1970, 2026, 9999]),
        st.sampled_from([1, 12]),
        st.sampled_from([1, 31]),
        st.sampled_from([0, 23]),
        st.sampled_from(["Z", "", "+23:59", "-23:59", "+24:00", "-00:00", "+99:99", "+14:00"]),
    ),
    st.sampled_from(["10000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999-23:59", "now", "",
                     "1e309", "2026-02-30T00:00:00Z"]),
    st.sampled_from([2**63, -(2**63) - 1, 10**20, -1, 253402300800]),
)
hostile_integer = st.one_of(
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**30, -1, 0, INT64_MAX]), st.integers()
)
HOSTILE = {"text": hostile_text, "datetime": hostile_datetime, "integer": hostile_integer}


class SyncClient:
    """An in-process client for a hypothesis test (which cannot await): each request runs on
    the event loop that runs the app's lifespan, in its own thread, and is waited for."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> None:
        self.loop, self.client = loop, client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request and wait for its answer."""
        call = self.client.request(method, path, **kwargs)
        return asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=60)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        """PUT."""
        return self.request("PUT", path, **kwargs)


@dataclass
class Stage:
    """The accounts and content the property test writes against (made once, then reused)."""

    client: SyncClient
    tokens: dict[str, str] = field(default_factory=dict)
    slug: str = ""
    comment_id: int = 0
    profile: str = "profile"

    def headers(self, who: str) -> dict[str, str]:
        """Authorization for one of the cast."""
        return {"Authorization": f"Token {self.tokens[who]}", "Content-Type": "application/json"}


def _article(**fields: Any) -> dict[str, Any]:
    return {"article": {"title": "Hostile", "description": "d", "body": "b", **fields}}


# (who, method, path, body with the field as "{}", kind, field path in the body)
# Path placeholders: {slug} the stage's article, {id} its comment, {value} the hostile value.
WRITES: list[tuple[str, str, str, Any, str]] = [
    ("anyone", "POST", "/api/users",
     {"user": {"username": "{value}", "email": "h@example.com", "password": PASSWORD}}, "text"),
    ("anyone", "POST", "/api/users",
     {"user": {"username": "hostile", "email": "{value}", "password": PASSWORD}}, "text"),
    ("anyone", "POST", "/api/users",
     {"user": {"username": "hostile2", "email": "h2@example.com", "password": "{value}"}}, "text"),
    ("anyone", "POST", "/api/users/login", {"user": {"email": "{value}", "password": "x"}}, "text"),
    ("anyone", "POST", "/api/users/login",
     {"user": {"email": "author@example.com", "password": "{value}"}}, "text"),
    ("profile", "PUT", "/api/user", {"user": {"bio": "{value}"}}, "text"),
    ("profile", "PUT", "/api/user", {"user": {"image": "{value}"}}, "text"),
    ("profile", "PUT", "/api/user", {"user": {"username": "{value}"}}, "text"),
    ("profile", "PUT", "/api/user", {"user": {"email": "{value}"}}, "text"),
    ("author", "POST", "/api/articles", _article(title="{value}"), "text"),
    ("author", "POST", "/api/articles", _article(description="{value}"), "text"),
    ("author", "POST", "/api/articles", _article(body="{value}"), "text"),
    ("author", "POST", "/api/articles", _article(tagList=["{value}"]), "text"),
    ("author", "POST", "/api/articles", _article(meta={"k": "{value}"}), "text"),
    ("author", "POST", "/api/articles", _article(meta={"n": "{value}"}), "integer"),
    ("author", "POST", "/api/articles", _article(publishAt="{value}"), "datetime"),
    ("author", "POST", "/api/articles",
     _article(coverImage={"url": "https://example.com/a.png", "alt": "{value}"}), "text"),
    ("author", "POST", "/api/articles", _article(canonicalUrl="{value}"), "text"),
    ("author", "PUT", "/api/articles/{slug}", {"article": {"body": "{value}"}}, "text"),
    ("author", "PUT", "/api/articles/{slug}", {"article": {"title": "{value}"}}, "text"),
    ("author", "PUT", "/api/articles/{slug}", {"article": {"publishAt": "{value}"}}, "datetime"),
    ("author", "PUT", "/api/articles/{slug}", {"article": {"meta": {"n": "{value}"}}}, "integer"),
    ("author", "POST", "/api/articles/{slug}/comments", {"comment": {"body": "{value}"}}, "text"),
    ("author", "PUT", "/api/articles/{slug}/comments/{id}", {"comment": {"body": "{value}"}},
     "text"),
    ("author", "PUT", "/api/articles/{slug}/comments/{value}", {"comment": {"body": "b"}},
     "integer"),
    ("author", "DELETE", "/api/articles/{slug}/comments/{value}", None, "integer"),
    ("reader", "POST", "/api/articles/{slug}/reports",
     {"report": {"reason": "spam", "note": "{value}"}}, "text"),
    ("reader", "POST", "/api/articles/{slug}/reports",
     {"report": {"reason": "{value}"}}, "text"),
    ("reader", "POST", "/api/articles/{slug}/comments/{id}/reports",
     {"report": {"reason": "spam", "note": "{value}"}}, "text"),
    ("moderator", "POST", "/api/moderation/articles/{slug}/hide", {"reason": "{value}"}, "text"),
    ("moderator", "POST", "/api/moderation/articles/{slug}/unhide", {"reason": "{value}"}, "text"),
    ("moderator", "POST", "/api/moderation/comments/{id}/hide", {"reason": "{value}"}, "text"),
    ("moderator", "POST", "/api/moderation/comments/{id}/unhide", {"reason": "{value}"}, "text"),
    ("moderator", "POST", "/api/moderation/comments/{value}/hide", {"reason": "r"}, "integer"),
    ("moderator", "POST", "/api/moderation/users/victim/suspend", {"reason": "{value}"}, "text"),
    ("moderator", "POST", "/api/moderation/users/victim/suspend",
     {"reason": "r", "until": "{value}"}, "datetime"),
    ("moderator", "POST", "/api/moderation/users/victim/unsuspend", {"reason": "{value}"}, "text"),
    ("moderator", "POST", "/api/moderation/reports/{value}/dismiss", {"reason": "r"}, "text"),
    ("admin", "PUT", "/api/moderation/users/victim", {"user": {"role": "{value}"}}, "text"),
    ("admin", "GET", "/api/moderation/log?limit={value}", None, "integer"),
    ("anyone", "GET", "/api/articles?offset={value}", None, "integer"),
    ("anyone", "GET", "/api/analytics/tags?days={value}", None, "integer"),
]


def _filled(template: Any, value: Any) -> Any:
    """The body with "{value}" replaced by the hostile value (of any JSON type)."""
    if template == "{value}":
        return value
    if isinstance(template, dict):
        return {key: _filled(item, value) for key, item in template.items()}
    if isinstance(template, list):
        return [_filled(item, value) for item in template]
    return template


@pytest.fixture(scope="module")
def stage() -> Iterator[Stage]:
    """The app (rate limits off, `root` an admin) with its cast: an author with an article and
    a comment, a moderator, a reader, an account whose profile changes and a victim."""
    app = create_app(make_settings(rate_limits_enabled=False, admins=["root"]))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    ready, stop = threading.Event(), asyncio.Event()

    async def hold() -> None:
        async with LifespanManager(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://folio.test"
        ) as http:
            client.client = http
            ready.set()
            await stop.wait()

    client = SyncClient(loop, None)  # type: ignore[arg-type]
    held = asyncio.run_coroutine_threadsafe(hold(), loop)
    assert ready.wait(timeout=60), held.result(timeout=1)
    try:
        built = Stage(client)
        for name in ("root", "author", "moderator", "reader", "profile", "victim"):
            answer = client.post("/api/users", json={"user": {
                "username": name, "email": f"{name}@example.com", "password": PASSWORD}})
            assert answer.status_code == 201, answer.text
            built.tokens[name] = answer.json()["user"]["token"]
        built.tokens["admin"] = built.tokens["root"]
        promoted = client.put("/api/moderation/users/moderator", headers=built.headers("admin"),
                              json={"user": {"role": "moderator"}})
        assert promoted.status_code == 200, promoted.text
        article = client.post("/api/articles", json=_article(title="Stage", tagList=["stage"]),
                              headers=built.headers("author"))
        built.slug = article.json()["article"]["slug"]
        comment = client.post(f"/api/articles/{built.slug}/comments",
                              json={"comment": {"body": "c"}}, headers=built.headers("author"))
        built.comment_id = comment.json()["comment"]["id"]
        yield built
    finally:
        loop.call_soon_threadsafe(stop.set)
        held.result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=60)
        loop.close()


def _renders(stage: Stage) -> None:
    """Everything a write could have stored renders: JSON, the body's HTML, and Atom."""
    client, slug = stage.client, stage.slug
    for path in ("/api/articles?limit=100", f"/api/articles/{slug}",
                 f"/api/articles/{slug}/comments", f"/api/profiles/{stage.profile}", "/api/tags"):
        answer = client.get(path, headers=stage.headers("moderator"))
        assert answer.status_code == 200, (path, answer.text)
        answer.json()
    for article in client.get("/api/articles?limit=100").json()["articles"]:
        shown = client.get(f"/api/articles/{article['slug']}")
        assert shown.status_code == 200, shown.text
        body_html = shown.json()["article"]["bodyHtml"]
        assert not XML_FORBIDDEN.search(body_html)
        if body_html.strip():
            lxml_html.fragment_fromstring(body_html, create_parent="div")
    feed = client.get("/feeds/articles.atom")
    assert feed.status_code == 200, feed.text
    etree.fromstring(feed.content)  # well-formed XML


@pytest.mark.skipif(TEST_ENGINE != "embedded", reason="one in-process app; runtime bounded")
@hypothesis_settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(write=st.sampled_from(WRITES), data=st.data())
def test_hostile_values_in_any_field_of_any_write_never_answer_5xx(stage, write, data):
    who, method, path, template, kind = write
    value = data.draw(HOSTILE[kind], label=kind)
    path = path.replace("{slug}", stage.slug).replace("{id}", str(stage.comment_id))
    if "{value}" in path:
        value = value if isinstance(value, int) else str(value)
        path = path.replace("{value}", json.dumps(value, ensure_ascii=True).strip('"'))
    headers = {} if who == "anyone" else stage.headers(who)
    if template is None:
        answer = stage.client.request(method, path, headers=headers)
    else:
        answer = stage.client.request(method, path, headers={
            **headers, "Content-Type": "application/json"},
            content=json.dumps(_filled(template, value), ensure_ascii=True))
    assert answer.status_code < 500, (method, path, value, answer.text)
    if answer.status_code < 300:
        if who == "profile" and method == "PUT":
            stage.tokens["profile"] = answer.json()["user"]["token"]
            stage.profile = answer.json()["user"]["username"]
        if method == "PUT" and path == f"/api/articles/{stage.slug}":
            stage.slug = answer.json()["article"]["slug"]  # a new title gives a new slug
        _renders(stage)


async def test_db_check_reports_stored_text_the_policy_refuses(app, client):
    from scripts.dbtools import forbidden_text

    author = await register(client)
    article = await create_article(client, author, meta={"k": "fine"})
    assert (await forbidden_text(app.state.engine, lambda n: None)).counts == {}
    await collection(Article).update_one({"slug": article["slug"]}, {"$set": {
        "title": "bell\x07", "meta": {"k": ["ok", "nul\x00"]}}})
    found = await forbidden_text(app.state.engine, lambda n: None)
    assert found.counts == {"articles": 2}
    assert sorted(line.split(": ", 1)[1] for line in found.lines["articles"]) == [
        "meta.k.1 contains U+0000", "title contains U+0007"]
