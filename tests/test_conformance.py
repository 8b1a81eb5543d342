"""RealWorld 2.0.0 conformance, end to end: every answer is checked against the reference spec.

`tests/reference/realworld-openapi-2.0.0.yml` is the RealWorld project's specification (MIT,
see `tests/reference/LICENSE`). Each call below names the status it expects; the helper checks
that the spec declares that status for the operation, and that the body validates against the
spec's schema for it. Folio's extensions (drafts, meta, cursors, ...) are extra properties,
which the spec's schemas allow: a 2.0 client finds every field it knows, with the type it knows.

The scenarios follow what the RealWorld 2.0 test suite exercises (its requests are not copied).
"""

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).parent / "reference" / "realworld-openapi-2.0.0.yml"
SPEC = yaml.safe_load(SPEC_PATH.read_text())
# The whole spec is one resource, so the `#/components/...` references inside it resolve.
REGISTRY = Registry().with_resource(
    "spec", Resource.from_contents(SPEC, default_specification=DRAFT202012)
)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _lookup(ref: str) -> dict[str, Any]:
    node: Any = SPEC
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _template_of(path: str) -> str:
    """The spec's path template for a concrete path, e.g. /articles/x/comments/3."""
    for template in SPEC["paths"]:
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and not (template == "/articles/{slug}" and path.endswith("/feed")):
            return template
    raise AssertionError(f"{path} is not in the RealWorld spec")


class Spec:
    """Calls the API and checks each answer against RealWorld 2.0.0."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def call(self, method: str, path: str, status: int, token: str | None = None,
                   body: Any = None) -> Any:
        """Send the request under /api; check the status is `status` and the spec's own."""
        headers = {"Authorization": f"Token {token}"} if token else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        response = await self.client.request(method, "/api" + path, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        operation = SPEC["paths"][_template_of(path.split("?")[0])][method.lower()]
        declared = operation["responses"]
        assert str(status) in declared, f"{method} {path}: the spec declares no {status}"
        reference = declared[str(status)]["$ref"]
        if "application/json" not in _lookup(reference).get("content", {}):
            assert response.content == b""
            return None
        document = response.json()
        schema = reference.removeprefix("#/") + "/content/application~1json/schema"
        validator = Draft202012Validator({"$ref": f"spec#/{schema}"}, registry=REGISTRY)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator.iter_errors(document)]
        assert not errors, (method, path, errors)
        return document


@pytest.fixture
def spec(client) -> Spec:
    return Spec(client)


def new_user(name: str) -> dict:
    return {"user": {"username": name, "email": f"{name}@test.com", "password": "password123"}}


def article(title: str, **extra: Any) -> dict:
    return {"article": {"title": title, "description": "about it", "body": "the body", **extra}}


async def test_accounts_null_profile_fields_and_the_token_after_a_password_change(spec):
    registered = await spec.call("POST", "/users", 201, body=new_user("auth"))
    assert (registered["user"]["bio"], registered["user"]["image"]) == (None, None)
    login = await spec.call("POST", "/users/login", 200,
                            body={"user": {"email": "auth@test.com", "password": "password123"}})
    token = login["user"]["token"]
    for bio, expected in (("Updated bio", "Updated bio"), ("", None), ("Temp", "Temp"),
                          (None, None)):
        assert (await spec.call("PUT", "/user", 200, token, {"user": {"bio": bio}})
                )["user"]["bio"] == expected
        assert (await spec.call("GET", "/user", 200, token))["user"]["bio"] == expected
    for image, expected in (("https://example.com/p.jpg", "https://example.com/p.jpg"),
                            ("", None), (None, None)):
        assert (await spec.call("PUT", "/user", 200, token, {"user": {"image": image}})
                )["user"]["image"] == expected
    renamed = await spec.call("PUT", "/user", 200, token, {"user": {
        "username": "auth_upd", "email": "auth_upd@test.com"}})
    assert (await spec.call("GET", "/user", 200, renamed["user"]["token"]))["user"][
        "username"] == "auth_upd"
    for field, value in (("email", ""), ("username", ""), ("email", None), ("username", None),
                         ("password", ""), ("password", None), ("password", "short7c")):
        await spec.call("PUT", "/user", 422, token, {"user": {field: value}})
    for password in ("bonjour1", "a" * 64):
        await spec.call("PUT", "/user", 200, token, {"user": {"password": password}})
    await spec.call("GET", "/user", 200, token)  # the token that changed it still works


async def test_registration_and_login_errors_have_the_spec_bodies(spec):
    for field in ("username", "email", "password"):
        body = new_user("blank")
        body["user"][field] = ""
        answer = await spec.call("POST", "/users", 422, body=body)
        assert answer["errors"][field] == ["can't be blank"]
    await spec.call("POST", "/users", 201, body=new_user("dup"))
    taken_name = await spec.call("POST", "/users", 409, body={"user": {
        "username": "dup", "email": "dup2@test.com", "password": "password123"}})
    assert taken_name == {"errors": {"username": ["has already been taken"]}}
    taken_email = await spec.call("POST", "/users", 409, body={"user": {
        "username": "dup2", "email": "dup@test.com", "password": "password123"}})
    assert taken_email == {"errors": {"email": ["has already been taken"]}}
    for field in ("email", "password"):
        credentials = {"email": "dup@test.com", "password": "password123", field: ""}
        answer = await spec.call("POST", "/users/login", 422, body={"user": credentials})
        assert answer["errors"][field] == ["can't be blank"]
    wrong = await spec.call("POST", "/users/login", 401,
                            body={"user": {"email": "dup@test.com", "password": "wrongpassword"}})
    assert wrong == {"errors": {"credentials": ["invalid"]}}
    assert await spec.call("GET", "/user", 401) == {"errors": {"token": ["is missing"]}}
    assert await spec.call("PUT", "/user", 401, body={"user": {"bio": "x"}}) == {
        "errors": {"token": ["is missing"]}}


async def test_articles_lists_tags_and_updates(spec):
    token = (await spec.call("POST", "/users", 201, body=new_user("art")))["user"]["token"]
    created = (await spec.call("POST", "/articles", 201, token,
                               article("Test Article", tagList=["d_tag", "t_tag"])))["article"]
    assert created["tagList"] == ["d_tag", "t_tag"] and TIMESTAMP.match(created["createdAt"])
    slug = created["slug"]
    for query, auth in (("", None), ("?author=art", None), ("", token), ("?tag=d_tag", None)):
        listed = await spec.call("GET", "/articles" + query, 200, auth)
        assert listed["articlesCount"] >= 1 and "body" not in listed["articles"][0]
    updated = (await spec.call("PUT", f"/articles/{slug}", 200, token,
                               {"article": {"body": "Updated body"}}))["article"]
    assert updated["slug"] == slug and updated["createdAt"] == created["createdAt"]
    assert updated["updatedAt"] != created["updatedAt"] and len(updated["tagList"]) == 2
    kept = await spec.call("PUT", f"/articles/{slug}", 200, token, {"article": {"body": "again"}})
    assert kept["article"]["tagList"] == ["d_tag", "t_tag"]
    cleared = await spec.call("PUT", f"/articles/{slug}", 200, token, {"article": {"tagList": []}})
    assert cleared["article"]["tagList"] == []
    await spec.call("PUT", f"/articles/{slug}", 422, token, {"article": {"tagList": None}})
    tags = await spec.call("GET", "/tags", 200)
    assert isinstance(tags["tags"], list)
    first = (await spec.call("POST", "/articles", 201, token, article("Dup Title")))["article"]
    second = (await spec.call("POST", "/articles", 201, token, article("Dup Title")))["article"]
    assert first["slug"] != second["slug"]
    page = await spec.call("GET", "/articles?author=art&limit=1", 200)
    assert page["articlesCount"] == 3 and page["articles"][0]["slug"] == second["slug"]
    page = await spec.call("GET", "/articles?author=art&limit=1&offset=1", 200)
    assert page["articles"][0]["slug"] == first["slug"]
    await spec.call("DELETE", f"/articles/{slug}", 204, token)
    assert await spec.call("GET", f"/articles/{slug}", 404) == {"errors": {"article": ["not found"]}}


async def test_comments_favorites_profiles_and_the_feed(spec):
    author = (await spec.call("POST", "/users", 201, body=new_user("celeb")))["user"]["token"]
    reader = (await spec.call("POST", "/users", 201, body=new_user("fan")))["user"]["token"]
    assert (await spec.call("GET", "/articles/feed", 200, reader))["articlesCount"] == 0
    followed = await spec.call("POST", "/profiles/celeb/follow", 200, reader)
    assert followed["profile"] == {"username": "celeb", "bio": None, "image": None,
                                   "following": True}
    slugs = [(await spec.call("POST", "/articles", 201, author, article(f"Feed {n}"))
              )["article"]["slug"] for n in (1, 2)]
    feed = await spec.call("GET", "/articles/feed?limit=1", 200, reader)
    assert feed["articlesCount"] == 2 and feed["articles"][0]["author"]["following"] is True
    comment = (await spec.call("POST", f"/articles/{slugs[0]}/comments", 201, reader,
                               {"comment": {"body": "First"}}))["comment"]
    assert isinstance(comment["id"], int)
    assert len((await spec.call("GET", f"/articles/{slugs[0]}/comments", 200))["comments"]) == 1
    forbidden = await spec.call("DELETE", f"/articles/{slugs[0]}/comments/{comment['id']}", 403,
                                author)
    assert forbidden == {"errors": {"comment": ["forbidden"]}}
    favorite = await spec.call("POST", f"/articles/{slugs[0]}/favorite", 200, reader)
    assert (favorite["article"]["favorited"], favorite["article"]["favoritesCount"]) == (True, 1)
    by_fan = await spec.call("GET", "/articles?favorited=fan", 200)
    assert by_fan["articles"][0]["favoritesCount"] >= 1
    unfavorite = await spec.call("DELETE", f"/articles/{slugs[0]}/favorite", 200, reader)
    assert (unfavorite["article"]["favorited"], unfavorite["article"]["favoritesCount"]) == (
        False, 0)
    assert (await spec.call("DELETE", f"/articles/{slugs[0]}", 403, reader)) == {
        "errors": {"article": ["forbidden"]}}
    await spec.call("PUT", f"/articles/{slugs[0]}", 403, reader, {"article": {"body": "mine"}})
    await spec.call("DELETE", f"/articles/{slugs[0]}", 204, author)  # it still has a comment
    unfollowed = await spec.call("DELETE", "/profiles/celeb/follow", 200, reader)
    assert unfollowed["profile"]["following"] is False


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/articles", article("No Auth")),
        ("PUT", "/articles/some-slug", {"article": {"body": "x"}}),
        ("DELETE", "/articles/some-slug", None),
        ("GET", "/articles/feed", None),
        ("POST", "/articles/some-slug/favorite", None),
        ("DELETE", "/articles/some-slug/favorite", None),
        ("POST", "/articles/some-slug/comments", {"comment": {"body": "x"}}),
        ("DELETE", "/articles/some-slug/comments/1", None),
        ("POST", "/profiles/nobody/follow", None),
        ("DELETE", "/profiles/nobody/follow", None),
    ],
)
async def test_authentication_is_checked_before_the_resource_exists(spec, method, path, body):
    assert await spec.call(method, path, 401, body=body) == {"errors": {"token": ["is missing"]}}


async def test_unknown_resources_answer_not_found_under_their_name(spec):
    token = (await spec.call("POST", "/users", 201, body=new_user("nf")))["user"]["token"]
    slug = (await spec.call("POST", "/articles", 201, token, article("Here")))["article"]["slug"]
    cases = [
        ("GET", "/articles/nope", None, "article"),
        ("PUT", "/articles/nope", {"article": {"body": "x"}}, "article"),
        ("DELETE", "/articles/nope", None, "article"),
        ("POST", "/articles/nope/favorite", None, "article"),
        ("DELETE", "/articles/nope/favorite", None, "article"),
        ("GET", "/articles/nope/comments", None, "article"),
        ("POST", "/articles/nope/comments", {"comment": {"body": "x"}}, "article"),
        ("DELETE", "/articles/nope/comments/99999", None, "article"),
        ("DELETE", f"/articles/{slug}/comments/99999", None, "comment"),
        ("GET", "/profiles/nobody", None, "profile"),
        ("POST", "/profiles/nobody/follow", None, "profile"),
        ("DELETE", "/profiles/nobody/follow", None, "profile"),
    ]
    for method, path, body, key in cases:
        answer = await spec.call(method, path, 404, token, body)
        assert answer == {"errors": {key: ["not found"]}}, (method, path)


async def test_blank_article_and_comment_fields_say_cant_be_blank(spec):
    token = (await spec.call("POST", "/users", 201, body=new_user("blank")))["user"]["token"]
    for field in ("title", "description", "body"):
        fields = {"title": "t", "description": "d", "body": "b", field: ""}
        answer = await spec.call("POST", "/articles", 422, token, {"article": fields})
        assert answer["errors"][field] == ["can't be blank"]
    slug = (await spec.call("POST", "/articles", 201, token, article("C")))["article"]["slug"]
    for body in ("", "   "):
        answer = await spec.call("POST", f"/articles/{slug}/comments", 422, token,
                                 {"comment": {"body": body}})
        assert answer["errors"]["body"] == ["can't be blank"]
