"""Rate limits answer 429 with Retry-After: logins and registrations per address and per account,
writes per user."""

from collections.abc import AsyncIterator

import httpx
import pytest

from service.main import create_app
from tests.conftest import make_settings, serving
from tests.factories import PASSWORD


@pytest.fixture
async def limited() -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app with tiny limits."""
    app = create_app(make_settings(
        rate_limit_login_per_address="6/minute", rate_limit_login_per_account="3/minute",
        rate_limit_register_per_address="4/minute", rate_limit_register_per_account="2/minute",
        rate_limit_writes_per_user="3/minute",
    ))
    async with serving(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client:
            yield client


def new_user(n: int) -> dict:
    return {"user": {"username": f"u{n}", "email": f"u{n}@example.com", "password": PASSWORD}}


def assert_limited(response: httpx.Response, field: str) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    [message] = response.json()["errors"][field]
    assert message.startswith("too many requests; retry in ")


async def test_logins_are_limited_per_account(limited):
    await limited.post("/api/users", json=new_user(1))
    bad = {"user": {"email": "u1@example.com", "password": "wrong-password"}}
    for _ in range(3):
        assert (await limited.post("/api/users/login", json=bad)).status_code == 401
    assert_limited(await limited.post("/api/users/login", json=bad), "login")
    good = {"user": {"email": "u1@example.com", "password": PASSWORD}}
    assert_limited(await limited.post("/api/users/login", json=good), "login")


async def test_logins_are_limited_per_address_across_accounts(limited):
    for n in range(6):
        body = {"user": {"email": f"nobody{n}@example.com", "password": "whatever1"}}
        assert (await limited.post("/api/users/login", json=body)).status_code == 401
    body = {"user": {"email": "someone-else@example.com", "password": "whatever1"}}
    assert_limited(await limited.post("/api/users/login", json=body), "login")


async def test_registrations_are_limited_per_address_and_per_account(limited):
    assert (await limited.post("/api/users", json=new_user(1))).status_code == 201
    assert (await limited.post("/api/users", json=new_user(1))).status_code == 409
    assert_limited(await limited.post("/api/users", json=new_user(1)), "registration")
    assert (await limited.post("/api/users", json=new_user(2))).status_code == 201
    assert_limited(await limited.post("/api/users", json=new_user(3)), "registration")


async def test_writes_are_limited_per_user_but_reads_are_not(limited):
    token = (await limited.post("/api/users", json=new_user(1))).json()["user"]["token"]
    headers = {"Authorization": f"Token {token}"}
    for bio in ("a", "b", "c"):
        assert (await limited.put("/api/user", json={"user": {"bio": bio}}, headers=headers)).status_code == 200
    article = {"article": {"title": "T", "description": "D", "body": "B"}}
    assert_limited(await limited.post("/api/articles", json=article, headers=headers), "writes")
    assert (await limited.get("/api/user", headers=headers)).status_code == 200
    assert (await limited.get("/api/articles")).json()["articlesCount"] == 0


def test_rates_are_validated_at_start_up():
    with pytest.raises(ValueError, match="is not a rate"):
        make_settings(rate_limit_login_per_account="lots")


async def test_successful_logins_do_not_use_up_the_per_account_limit(limited):
    await limited.post("/api/users", json=new_user(1))
    good = {"user": {"email": "u1@example.com", "password": PASSWORD}}
    for _ in range(5):
        assert (await limited.post("/api/users/login", json=good)).status_code == 200
