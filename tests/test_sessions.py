"""Sessions: a password change keeps the caller signed in, logout, and revoking other sessions."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from bson import ObjectId

from models import User
from models.users import MAX_SESSIONS
from service.engine.client import collection
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD, Account, register

REVOKED = {"errors": {"token": ["has been revoked; sign in again"]}}


async def sign_in(client, account: Account, password: str = PASSWORD) -> Account:
    """A second session of the same account, as another device would get."""
    response = await client.post(
        "/api/users/login", json={"user": {"email": account.email, "password": password}}
    )
    assert response.status_code == 200, response.text
    return Account(account.username, account.email, response.json()["user"]["token"])


def with_token(account: Account, token: str) -> Account:
    return Account(account.username, account.email, token)


async def status_of(client, account: Account) -> int:
    return (await client.get("/api/user", headers=account.headers)).status_code


async def change_password(client, account: Account, password: str = "a-brand-new-password"):
    return await client.put(
        "/api/user", json={"user": {"password": password}}, headers=account.headers
    )


def legacy_token(user_id: str, token_version: int = 0) -> str:
    """A token as Folio issued them before sessions: a token version and no session id."""
    now = datetime.now(UTC)
    claims = {"sub": user_id, "tv": token_version, "iat": now, "exp": now + timedelta(hours=1)}
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


async def user_id(username: str) -> str:
    return str((await collection(User).find_one({"username": username}))["_id"])


# Password changes (RealWorld 2.0: clients keep using the token they sent) ---------------------


async def test_a_password_change_keeps_the_token_that_made_it_and_returns_a_fresh_one(client):
    jake = await register(client, "jake")
    response = await change_password(client, jake)
    assert response.status_code == 200, response.text
    fresh = with_token(jake, response.json()["user"]["token"])
    assert await status_of(client, jake) == 200
    assert await status_of(client, fresh) == 200
    # Both belong to the same session, so the caller can go on writing with either.
    for account in (jake, fresh):
        write = await client.post("/api/articles", headers=account.headers, json={"article": {
            "title": "T", "description": "D", "body": "B"}})
        assert write.status_code == 201, write.text


async def test_a_password_change_signs_out_every_other_session(client):
    jake = await register(client, "jake")
    laptop = await sign_in(client, jake)
    phone = await sign_in(client, jake)
    await change_password(client, laptop)
    assert await status_of(client, laptop) == 200
    for other in (jake, phone):
        response = await client.get("/api/user", headers=other.headers)
        assert response.status_code == 401
        assert response.json() == REVOKED


async def test_a_password_changed_twice_with_the_original_token_keeps_it_valid(client):
    jake = await register(client, "jake")
    assert (await change_password(client, jake, "bonjour1")).status_code == 200
    assert (await change_password(client, jake, "a" * 64)).status_code == 200
    assert await status_of(client, jake) == 200
    login = await client.post("/api/users/login",
                              json={"user": {"email": jake.email, "password": "a" * 64}})
    assert login.status_code == 200


async def test_a_signed_out_session_no_longer_reveals_its_owners_drafts(client):
    jake = await register(client, "jake")
    other_device = await sign_in(client, jake)
    draft = await client.post("/api/articles", headers=jake.headers, json={"article": {
        "title": "Secret", "description": "D", "body": "B", "status": "draft"}})
    slug = draft.json()["article"]["slug"]
    url = f"/api/articles/{slug}"
    assert (await client.get(url, headers=other_device.headers)).status_code == 200
    await change_password(client, jake)
    assert (await client.get(url, headers=other_device.headers)).status_code == 404
    listed = await client.get("/api/articles", params={"status": "draft"},
                              headers=other_device.headers)
    assert listed.status_code == 401
    assert (await client.get(url, headers=jake.headers)).status_code == 200


async def test_a_signed_out_session_can_not_favorite_or_follow(client):
    jake = await register(client, "jake")
    jane = await register(client, "jane")
    article = (await client.post("/api/articles", headers=jane.headers, json={"article": {
        "title": "T", "description": "D", "body": "B"}})).json()["article"]
    other_device = await sign_in(client, jake)
    # Confirm the token once, so that the edge writes' 30 s confirmation cache holds it.
    assert (await client.post(f"/api/profiles/{jane.username}/follow",
                              headers=other_device.headers)).status_code == 200
    await change_password(client, jake)
    favorite = await client.post(f"/api/articles/{article['slug']}/favorite",
                                 headers=other_device.headers)
    assert favorite.status_code == 401
    assert favorite.json() == REVOKED


# Logout --------------------------------------------------------------------------------------


async def test_logout_ends_only_the_calling_session(client):
    jake = await register(client, "jake")
    phone = await sign_in(client, jake)
    response = await client.post("/api/user/logout", headers=phone.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get("/api/user", headers=phone.headers)).json() == REVOKED
    assert await status_of(client, jake) == 200


async def test_logout_twice_is_unauthorized_the_second_time(client):
    jake = await register(client, "jake")
    assert (await client.post("/api/user/logout", headers=jake.headers)).status_code == 204
    again = await client.post("/api/user/logout", headers=jake.headers)
    assert again.status_code == 401
    assert again.json() == REVOKED


async def test_logout_needs_a_token(client):
    response = await client.post("/api/user/logout")
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}


async def test_logout_with_an_invalid_token_is_unauthorized(client):
    response = await client.post("/api/user/logout", headers={"Authorization": "Token nope"})
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is invalid"]}}


# Revoking other sessions -----------------------------------------------------------------------


async def test_revoking_other_sessions_keeps_the_callers_and_counts_the_rest(client):
    jake = await register(client, "jake")
    others = [await sign_in(client, jake) for _ in range(3)]
    response = await client.post("/api/user/sessions/revoke", headers=jake.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"sessions": {"revoked": 3, "token": jake.token}}
    assert await status_of(client, jake) == 200
    for other in others:
        assert await status_of(client, other) == 401
    again = await client.post("/api/user/sessions/revoke", headers=jake.headers)
    assert again.json() == {"sessions": {"revoked": 0, "token": jake.token}}


async def test_revoking_sessions_needs_a_token(client):
    response = await client.post("/api/user/sessions/revoke")
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}


async def test_revoking_sessions_with_an_ended_session_is_unauthorized(client):
    jake = await register(client, "jake")
    phone = await sign_in(client, jake)
    await client.post("/api/user/logout", headers=phone.headers)
    response = await client.post("/api/user/sessions/revoke", headers=phone.headers)
    assert response.status_code == 401
    assert await status_of(client, jake) == 200


async def test_sessions_of_one_account_do_not_touch_another(client):
    jake = await register(client, "jake")
    jane = await register(client, "jane")
    await client.post("/api/user/sessions/revoke", headers=jake.headers)
    await client.post("/api/user/logout", headers=jake.headers)
    await change_password(client, await sign_in(client, jake))
    assert await status_of(client, jane) == 200


# Storage: bounded, and readable in mongosh ------------------------------------------------------


async def test_sessions_are_kept_in_the_account_and_the_oldest_fall_off_past_the_limit(client):
    jake = await register(client, "jake")
    first_login = await sign_in(client, jake)
    for _ in range(MAX_SESSIONS - 1):
        await sign_in(client, jake)
    stored = await collection(User).find_one({"username": "jake"})
    assert len(stored["sessions"]) == MAX_SESSIONS
    assert set(stored["sessions"][0]) == {"id", "created_at"}
    # Registration's own session was the oldest: it is the one that ended.
    assert await status_of(client, jake) == 401
    assert await status_of(client, first_login) == 200


async def test_a_token_names_its_session_and_never_the_password(client):
    jake = await register(client, "jake")
    claims = jwt.decode(jake.token, options={"verify_signature": False})
    assert set(claims) == {"sub", "sid", "iat", "exp"}
    stored = await collection(User).find_one({"username": "jake"})
    assert [session["id"] for session in stored["sessions"]] == [claims["sid"]]


async def test_a_token_for_a_session_of_another_account_is_unauthorized(client):
    jake = await register(client, "jake")
    jane = await register(client, "jane")
    jane_session = jwt.decode(jane.token, options={"verify_signature": False})["sid"]
    now = datetime.now(UTC)
    forged = jwt.encode({"sub": await user_id("jake"), "sid": jane_session, "iat": now,
                         "exp": now + timedelta(hours=1)}, TEST_SECRET, algorithm="HS256")
    assert await status_of(client, with_token(jake, forged)) == 401


@pytest.mark.parametrize("sid", ["", 42, None, ["x"]], ids=["empty", "number", "null", "list"])
async def test_a_token_with_a_malformed_session_id_is_unauthorized(client, sid):
    jake = await register(client, "jake")
    now = datetime.now(UTC)
    claims = {"sub": await user_id("jake"), "sid": sid, "iat": now, "exp": now + timedelta(hours=1)}
    response = await client.get("/api/user", headers=with_token(jake, jwt.encode(
        claims, TEST_SECRET, algorithm="HS256")).headers)
    assert response.status_code == 401
    assert list(response.json()["errors"]) == ["token"]


# Tokens issued before sessions existed ----------------------------------------------------------


async def test_tokens_from_before_sessions_stay_valid_until_the_password_changes(client):
    jake = await register(client, "jake")
    old = with_token(jake, legacy_token(await user_id("jake")))
    assert await status_of(client, old) == 200
    response = await change_password(client, jake)
    assert response.status_code == 200
    assert await status_of(client, old) == 401
    assert await status_of(client, jake) == 200


async def test_a_token_from_before_sessions_changing_the_password_gets_a_new_session(client):
    jake = await register(client, "jake")
    old = with_token(jake, legacy_token(await user_id("jake")))
    response = await change_password(client, old)
    assert response.status_code == 200
    fresh = with_token(jake, response.json()["user"]["token"])
    assert "sid" in jwt.decode(fresh.token, options={"verify_signature": False})
    assert await status_of(client, fresh) == 200
    # Pre-session tokens cannot be told apart, so they all end, the caller's included.
    assert await status_of(client, old) == 401
    assert await status_of(client, jake) == 401


async def test_revoking_from_a_token_before_sessions_answers_the_token_to_go_on_with(client):
    jake = await register(client, "jake")
    old = with_token(jake, legacy_token(await user_id("jake")))
    response = await client.post("/api/user/sessions/revoke", headers=old.headers)
    assert response.status_code == 200
    answer = response.json()["sessions"]
    assert answer["revoked"] == 1  # registration's session
    assert await status_of(client, with_token(jake, answer["token"])) == 200
    assert await status_of(client, old) == 401


async def test_logout_of_a_token_before_sessions_ends_those_tokens_only(client):
    jake = await register(client, "jake")
    old = with_token(jake, legacy_token(await user_id("jake")))
    assert (await client.post("/api/user/logout", headers=old.headers)).status_code == 204
    assert await status_of(client, old) == 401
    assert await status_of(client, jake) == 200


async def test_a_token_for_a_deleted_account_can_not_log_out(client):
    jake = await register(client, "jake")
    await collection(User).delete_one({"_id": ObjectId(await user_id("jake"))})
    response = await client.post("/api/user/logout", headers=jake.headers)
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["names no existing user"]}}


async def test_a_login_racing_a_password_change_gets_no_session(client, app, monkeypatch):
    # The password check is slow on purpose; a change landing during it must not let the old
    # password open a session that the change's "end every other session" already missed.
    jake = await register(client, "jake")
    passwords = app.state.security.passwords
    original = passwords.verify

    async def verify_then_change(password_hash, password):
        ok = await original(password_hash, password)
        await collection(User).update_one({"username": "jake"},
                                          {"$set": {"password_hash": "changed meanwhile"}})
        return ok

    monkeypatch.setattr(passwords, "verify", verify_then_change)
    response = await client.post("/api/users/login",
                                 json={"user": {"email": jake.email, "password": PASSWORD}})
    assert response.status_code == 401
    assert response.json() == {"errors": {"credentials": ["invalid"]}}
    stored = await collection(User).find_one({"username": "jake"})
    assert len(stored["sessions"]) == 1  # registration's only


async def test_ending_other_sessions_from_a_session_ended_meanwhile_is_refused(client, app):
    from service.users import queries

    jake = await register(client, "jake")
    claims = jwt.decode(jake.token, options={"verify_signature": False})
    viewer = queries.Viewer(ObjectId(claims["sub"]), claims["sid"])
    await client.post("/api/user/logout", headers=jake.headers)
    with pytest.raises(Exception, match="revoked"):
        await queries.end_other_sessions(viewer)


# The feed checks the session in one projected read of the account (no `User` model): the same
# answers as every other signed-in read.


async def test_the_feed_refuses_a_signed_out_session_and_serves_the_live_one(client):
    jake = await register(client, "jake")
    laptop = await sign_in(client, jake)
    assert (await client.post("/api/user/logout", headers=laptop.headers)).status_code == 204
    response = await client.get("/api/articles/feed", headers=laptop.headers)
    assert response.status_code == 401
    assert response.json() == REVOKED
    served = await client.get("/api/articles/feed", headers=jake.headers)
    assert served.status_code == 200, served.text
    assert served.json()["articlesCount"] == 0


async def test_the_feed_checks_a_legacy_tokens_version(client):
    jake = await register(client, "jake")
    current = with_token(jake, legacy_token(await user_id("jake")))
    assert (await client.get("/api/articles/feed", headers=current.headers)).status_code == 200
    stale = with_token(jake, legacy_token(await user_id("jake"), token_version=1))
    response = await client.get("/api/articles/feed", headers=stale.headers)
    assert response.status_code == 401
    assert response.json() == REVOKED


async def test_the_feed_refuses_a_token_for_a_deleted_account(client):
    jake = await register(client, "jake")
    await collection(User).delete_one({"_id": ObjectId(await user_id("jake"))})
    response = await client.get("/api/articles/feed", headers=jake.headers)
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["names no existing user"]}}
