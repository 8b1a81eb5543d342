"""Builders that create test data through the API, as a client would."""

import itertools
from dataclasses import dataclass
from typing import Any

import httpx

_sequence = itertools.count(1)
PASSWORD = "correct-horse-battery"


@dataclass
class Account:
    """A registered user and the headers that authenticate as them."""

    username: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """`Authorization: Token <jwt>`."""
        return {"Authorization": f"Token {self.token}"}


async def register(
    client: httpx.AsyncClient, username: str | None = None, password: str = PASSWORD
) -> Account:
    """Register a new account with a unique name unless one is given."""
    username = username or f"user{next(_sequence)}"
    email = f"{username}@example.com"
    response = await client.post(
        "/api/users", json={"user": {"username": username, "email": email, "password": password}}
    )
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    return Account(username=user["username"], email=user["email"], token=user["token"])


def article_fields(**overrides: Any) -> dict[str, Any]:
    """A valid new-article body, with any field overridden."""
    n = next(_sequence)
    fields: dict[str, Any] = {
        "title": f"Article number {n}",
        "description": f"About article {n}",
        "body": f"The body of article {n}.",
        "tagList": [],
    }
    fields.update(overrides)
    return fields


async def create_article(client: httpx.AsyncClient, author: Account, **overrides: Any) -> dict:
    """Create an article as `author` and return its JSON."""
    response = await client.post(
        "/api/articles", json={"article": article_fields(**overrides)}, headers=author.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["article"]


async def add_comment(
    client: httpx.AsyncClient, author: Account, slug: str, body: str = "Nice article!"
) -> dict:
    """Comment on an article as `author` and return the comment's JSON."""
    response = await client.post(
        f"/api/articles/{slug}/comments", json={"comment": {"body": body}}, headers=author.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["comment"]


async def follow(client: httpx.AsyncClient, follower: Account, username: str) -> None:
    """Make `follower` follow `username`."""
    response = await client.post(f"/api/profiles/{username}/follow", headers=follower.headers)
    assert response.status_code == 200, response.text


async def favorite(client: httpx.AsyncClient, user: Account, slug: str) -> dict:
    """Favorite an article as `user` and return the article's JSON."""
    response = await client.post(f"/api/articles/{slug}/favorite", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()["article"]


def write_export(path: Any, lines: list[tuple[str, dict[str, Any]]]) -> Any:
    """A complete `folio export` file (trailer included) holding these (collection, document)s."""
    from scripts.dump import ExportWriter

    with open(path, "wb") as out:
        writer = ExportWriter(out)
        for name, document in lines:
            writer.add(name, document)
        writer.finish()
    return path
