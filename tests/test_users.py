"""Registration, login, the current user and updating it: `/users`, `/users/login`, `/user`."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from bson import ObjectId

from models import User
from service.engine.client import collection
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD, register

USER_KEYS = {"email", "token", "username", "bio", "image"}
BAD_CREDENTIALS = {"errors": {"credentials": ["invalid"]}}
TAKEN = "has already been taken"


def new_user(**overrides: object) -> dict:
    """A valid registration body, with any field overridden (None removes it)."""
    fields: dict[str, object] = {
        "username": "jake",
        "email": "jake@example.com",
        "password": PASSWORD,
    }
    fields.update(overrides)
    return {"user": {key: value for key, value in fields.items() if value is not None}}


def assert_error(response, status: int, field: str) -> list[str]:
    """Check the RealWorld error envelope names `field` (and only it); return its messages."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errors"}
    assert list(body["errors"]) == [field], body
    messages = body["errors"][field]
    assert isinstance(messages, list) and messages
    assert all(isinstance(message, str) and message for message in messages)
    return messages


def user_id_of(token: str) -> str:
    """The subject of a token, read without checking its signature."""
    return jwt.decode(token, options={"verify_signature": False})["sub"]


def claims_for(user_id: str, *, expires_in: timedelta = timedelta(hours=1)) -> dict:
    now = datetime.now(UTC)
    return {"sub": user_id, "iat": now, "exp": now + expires_in}


async def login(client, email: str, password: str = PASSWORD):
    return await client.post("/api/users/login", json={"user": {"email": email, "password": password}})


async def current_user(client, token: str, scheme: str = "Token"):
    return await client.get("/api/user", headers={"Authorization": f"{scheme} {token}"})


# Registration ------------------------------------------------------------------------------


async def test_user_can_register_and_gets_a_token_with_null_bio_and_image(client):
    response = await client.post("/api/users", json=new_user())
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"user"}
    user = body["user"]
    assert set(user) == USER_KEYS
    token = user.pop("token")
    assert isinstance(token, str) and token.count(".") == 2
    assert user == {"email": "jake@example.com", "username": "jake", "bio": None, "image": None}


async def test_registration_response_never_contains_the_password_or_its_hash(client):
    response = await client.post("/api/users", json=new_user())
    assert response.status_code == 201
    assert set(response.json()["user"]) == USER_KEYS
    assert PASSWORD not in response.text
    assert "password" not in response.text.lower()
    assert "argon2" not in response.text


async def test_registered_email_is_stored_and_returned_lower_cased(client):
    response = await client.post("/api/users", json=new_user(email="Jake.Doe@Example.COM"))
    assert response.status_code == 201, response.text
    assert response.json()["user"]["email"] == "jake.doe@example.com"
    token = response.json()["user"]["token"]
    current = await current_user(client, token)
    assert current.json()["user"]["email"] == "jake.doe@example.com"


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
async def test_registration_token_authenticates_with_token_and_bearer_schemes(client, scheme):
    response = await client.post("/api/users", json=new_user())
    token = response.json()["user"]["token"]
    current = await current_user(client, token, scheme)
    assert current.status_code == 200, current.text
    assert current.json() == {
        "user": {
            "email": "jake@example.com",
            "token": token,
            "username": "jake",
            "bio": None,
            "image": None,
            "role": "author",  # Folio's, additive; in GET /api/user only (no suspension key)
        }
    }


@pytest.mark.parametrize("field", ["username", "email", "password"])
async def test_user_can_not_register_without_a_required_field(client, field):
    response = await client.post("/api/users", json=new_user(**{field: None}))
    assert assert_error(response, 422, field) == ["can't be blank"]


@pytest.mark.parametrize("username", ["", "   "])
async def test_user_can_not_register_with_a_blank_username(client, username):
    response = await client.post("/api/users", json=new_user(username=username))
    assert assert_error(response, 422, "username") == ["can't be blank"]


@pytest.mark.parametrize(
    "email", ["not-an-email", "jake@", "@example.com", "jake@example", "ja ke@example.com"]
)
async def test_user_can_not_register_with_an_invalid_email(client, email):
    response = await client.post("/api/users", json=new_user(email=email))
    assert assert_error(response, 422, "email") == ["is not a valid email address"]


@pytest.mark.parametrize("field", ["username", "email", "password"])
@pytest.mark.parametrize("blank", ["", "  "])
async def test_user_can_not_register_with_a_blank_field(client, field, blank):
    response = await client.post("/api/users", json=new_user(**{field: blank}))
    assert assert_error(response, 422, field) == ["can't be blank"]


@pytest.mark.parametrize("field", ["username", "email", "password"])
async def test_user_can_not_register_with_a_null_field(client, field):
    body = new_user()
    body["user"][field] = None
    response = await client.post("/api/users", json=body)
    assert assert_error(response, 422, field) == ["can't be blank"]


@pytest.mark.parametrize("password", ["short", "x" * 7, "x" * 129])
async def test_user_can_not_register_with_a_password_too_short_or_too_long(client, password):
    response = await client.post("/api/users", json=new_user(password=password))
    assert_error(response, 422, "password")


@pytest.mark.parametrize("password", ["x" * 8, "x" * 128])
async def test_user_can_register_with_a_password_at_the_length_limits(client, password):
    response = await client.post("/api/users", json=new_user(password=password))
    assert response.status_code == 201, response.text
    assert (await login(client, "jake@example.com", password)).status_code == 200


@pytest.mark.parametrize("username", ["jake doe", "jake/doe", "../etc", "jake?x"])
async def test_user_can_not_register_with_a_space_or_slash_in_the_username(client, username):
    response = await client.post("/api/users", json=new_user(username=username))
    assert_error(response, 422, "username")


@pytest.mark.parametrize("field", ["username", "email", "password"])
async def test_user_can_not_register_with_an_object_in_place_of_a_string(client, field):
    response = await client.post("/api/users", json=new_user(**{field: {"$gt": ""}}))
    assert_error(response, 422, field)
    # And no account was created by the injection attempt.
    assert (await login(client, "jake@example.com")).status_code == 401


async def test_user_can_not_register_without_the_user_envelope(client):
    response = await client.post(
        "/api/users",
        json={"username": "jake", "email": "jake@example.com", "password": PASSWORD},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "user": ["can't be blank"], "username": ["is not a known field"],
        "email": ["is not a known field"], "password": ["is not a known field"],
    }


async def test_user_can_not_register_with_a_body_that_is_not_json(client):
    response = await client.post(
        "/api/users", content=b"{bad", headers={"content-type": "application/json"}
    )
    assert assert_error(response, 422, "body") == ["is not valid JSON"]


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [
        ("jake", "other@example.com", "username"),
        ("other", "jake@example.com", "email"),
        ("other", "JAKE@Example.com", "email"),
    ],
    ids=["taken-username", "taken-email", "taken-email-other-case"],
)
async def test_user_can_not_register_with_a_taken_username_or_email(client, username, email, field):
    await register(client, "jake")
    response = await client.post("/api/users", json=new_user(username=username, email=email))
    assert response.status_code == 409
    assert response.json() == {"errors": {field: [TAKEN]}}


async def test_failed_registration_with_a_taken_username_writes_nothing(client):
    await register(client, "jake")
    response = await client.post(
        "/api/users",
        json=new_user(username="jake", email="other@example.com", password="another-password"),
    )
    assert response.status_code == 409
    assert (await login(client, "other@example.com", "another-password")).json() == BAD_CREDENTIALS
    # The original account is untouched.
    assert (await login(client, "jake@example.com")).status_code == 200


async def test_failed_registration_with_a_taken_email_writes_nothing(client):
    jake = await register(client, "jake")
    response = await client.post(
        "/api/users",
        json=new_user(username="other", email="jake@example.com", password="another-password"),
    )
    assert response.status_code == 409
    failed = await login(client, "jake@example.com", "another-password")
    assert failed.status_code == 401
    assert failed.json() == BAD_CREDENTIALS
    profile = await client.get("/api/profiles/other")
    assert profile.status_code == 404
    current = await current_user(client, jake.token)
    assert current.json()["user"]["username"] == "jake"


# Login ---------------------------------------------------------------------------------------


async def test_user_can_log_in_with_email_and_password(client):
    jake = await register(client, "jake")
    response = await login(client, "jake@example.com")
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert set(user) == USER_KEYS
    token = user.pop("token")
    assert user == {"email": "jake@example.com", "username": "jake", "bio": None, "image": None}
    assert user_id_of(token) == user_id_of(jake.token)
    assert (await current_user(client, token)).status_code == 200


async def test_login_email_matching_is_case_insensitive(client):
    await register(client, "jake")
    response = await login(client, "  JAKE@Example.Com ")
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "jake"


async def test_wrong_password_and_unknown_email_fail_login_with_the_same_body(client):
    await register(client, "jake")
    wrong_password = await login(client, "jake@example.com", "wrong-password")
    unknown_email = await login(client, "nobody@example.com")
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json() == BAD_CREDENTIALS
    assert wrong_password.headers["www-authenticate"] == "Token"


@pytest.mark.parametrize("field", ["email", "password"])
async def test_user_can_not_log_in_without_a_field(client, field):
    credentials = {"email": "jake@example.com", "password": PASSWORD}
    del credentials[field]
    response = await client.post("/api/users/login", json={"user": credentials})
    assert assert_error(response, 422, field) == ["can't be blank"]


@pytest.mark.parametrize("field", ["email", "password"])
async def test_user_can_not_log_in_with_a_blank_field(client, field):
    credentials = {"email": "jake@example.com", "password": PASSWORD, field: ""}
    response = await client.post("/api/users/login", json={"user": credentials})
    assert assert_error(response, 422, field) == ["can't be blank"]


async def test_user_can_not_log_in_with_an_object_in_place_of_the_password(client):
    await register(client, "jake")
    response = await client.post(
        "/api/users/login", json={"user": {"email": "jake@example.com", "password": {"$gt": ""}}}
    )
    assert_error(response, 422, "password")


async def test_user_can_not_log_in_without_the_user_envelope(client):
    response = await client.post(
        "/api/users/login", json={"email": "jake@example.com", "password": PASSWORD}
    )
    assert response.status_code == 422
    assert response.json()["errors"]["user"] == ["can't be blank"]


# Current user --------------------------------------------------------------------------------


async def test_current_user_is_answered_with_the_presented_token(client):
    jake = await register(client, "jake")
    response = await client.get("/api/user", headers=jake.headers)
    assert response.status_code == 200
    assert response.json() == {
        "user": {
            "email": "jake@example.com",
            "token": jake.token,
            "username": "jake",
            "bio": None,
            "image": None,
            "role": "author",
        }
    }


async def test_current_user_without_a_token_is_unauthorized(client):
    response = await client.get("/api/user")
    assert assert_error(response, 401, "token") == ["is missing"]
    assert response.headers["www-authenticate"] == "Token"


@pytest.mark.parametrize("header", ["Basic x", "Token", "Bearer ", "Token    ", "jwt"])
async def test_current_user_with_a_malformed_authorization_header_is_unauthorized(client, header):
    await register(client, "jake")
    response = await client.get("/api/user", headers={"Authorization": header})
    assert assert_error(response, 401, "token") == [
        "is invalid; send 'Token <jwt>' or 'Bearer <jwt>'"
    ]
    assert response.headers["www-authenticate"] == "Token"


async def test_current_user_with_a_garbage_token_is_unauthorized(client):
    response = await current_user(client, "not.a.jwt")
    assert assert_error(response, 401, "token") == ["is invalid"]


async def test_current_user_with_a_token_signed_by_another_secret_is_unauthorized(client):
    jake = await register(client, "jake")
    forged = jwt.encode(
        claims_for(user_id_of(jake.token)), "another-secret-" + "y" * 32, algorithm="HS256"
    )
    response = await current_user(client, forged)
    assert assert_error(response, 401, "token") == ["is invalid"]


async def test_current_user_with_an_expired_token_is_unauthorized(client):
    jake = await register(client, "jake")
    expired = jwt.encode(
        claims_for(user_id_of(jake.token), expires_in=timedelta(minutes=-5)),
        TEST_SECRET,
        algorithm="HS256",
    )
    response = await current_user(client, expired)
    assert assert_error(response, 401, "token") == ["has expired"]


async def test_current_user_with_an_unsigned_alg_none_token_is_unauthorized(client):
    jake = await register(client, "jake")
    unsigned = jwt.encode(claims_for(user_id_of(jake.token)), None, algorithm="none")
    response = await current_user(client, unsigned)
    assert assert_error(response, 401, "token") == ["is invalid"]


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
async def test_tokens_signed_with_another_algorithm_are_unauthorized(client, algorithm):
    jake = await register(client, "jake")
    other = jwt.encode(claims_for(user_id_of(jake.token)), TEST_SECRET, algorithm=algorithm)
    response = await current_user(client, other)
    assert assert_error(response, 401, "token") == ["is invalid"]


async def test_a_tampered_token_is_unauthorized(client):
    jake = await register(client, "jake")
    header, payload, signature = jake.token.split(".")
    tampered = ".".join([header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature])
    response = await current_user(client, tampered)
    assert assert_error(response, 401, "token") == ["is invalid"]


async def test_current_user_with_a_token_missing_its_subject_is_unauthorized(client):
    now = datetime.now(UTC)
    token = jwt.encode({"iat": now, "exp": now + timedelta(hours=1)}, TEST_SECRET, "HS256")
    response = await current_user(client, token)
    assert assert_error(response, 401, "token") == ["is invalid"]


async def test_current_user_with_a_token_whose_subject_is_not_an_id_is_unauthorized(client):
    token = jwt.encode(claims_for("not-an-object-id"), TEST_SECRET, algorithm="HS256")
    response = await current_user(client, token)
    assert assert_error(response, 401, "token") == ["is invalid"]


async def test_current_user_with_a_token_for_a_non_existent_user_is_unauthorized(client):
    await register(client, "jake")
    token = jwt.encode(claims_for(str(ObjectId())), TEST_SECRET, algorithm="HS256")
    response = await current_user(client, token)
    assert assert_error(response, 401, "token") == ["names no existing user"]


# Updating the current user -------------------------------------------------------------------


async def update(client, account, **fields):
    return await client.put("/api/user", json={"user": fields}, headers=account.headers)


async def test_user_can_update_only_the_email_leaving_the_rest_unchanged(client):
    jake = await register(client, "jake")
    await update(client, jake, bio="I work at statefarm", image="https://example.com/j.png")
    response = await update(client, jake, email="Jake.New@Example.com")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user": {
            "email": "jake.new@example.com",
            "token": jake.token,
            "username": "jake",
            "bio": "I work at statefarm",
            "image": "https://example.com/j.png",
        }
    }
    assert (await login(client, "jake.new@example.com")).status_code == 200
    assert (await login(client, "jake@example.com")).status_code == 401


async def test_user_can_update_only_the_bio_leaving_the_rest_unchanged(client):
    jake = await register(client, "jake")
    response = await update(client, jake, bio="I like to skateboard")
    assert response.status_code == 200, response.text
    assert response.json()["user"] == {
        "email": "jake@example.com",
        "token": jake.token,
        "username": "jake",
        "bio": "I like to skateboard",
        "image": None,
    }
    current = await client.get("/api/user", headers=jake.headers)
    assert current.json()["user"] == {**response.json()["user"], "role": "author"}


async def test_user_can_update_only_the_image_leaving_the_rest_unchanged(client):
    jake = await register(client, "jake")
    await update(client, jake, bio="bio stays")
    response = await update(client, jake, image="https://example.com/jake.jpg")
    assert response.status_code == 200, response.text
    assert response.json()["user"] == {
        "email": "jake@example.com",
        "token": jake.token,
        "username": "jake",
        "bio": "bio stays",
        "image": "https://example.com/jake.jpg",
    }
    profile = await client.get("/api/profiles/jake")
    assert profile.json()["profile"]["image"] == "https://example.com/jake.jpg"


async def test_user_can_update_the_username_and_is_found_under_the_new_name(client):
    jake = await register(client, "jake")
    response = await update(client, jake, username="jacob")
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "jacob"
    assert response.json()["user"]["email"] == "jake@example.com"
    assert (await client.get("/api/profiles/jacob")).status_code == 200
    assert (await client.get("/api/profiles/jake")).status_code == 404


@pytest.mark.parametrize("cleared", [None, "", "   "], ids=["null", "empty", "blank"])
async def test_null_or_empty_bio_and_image_are_stored_and_answered_as_null(client, cleared):
    jake = await register(client, "jake")
    await update(client, jake, bio="something", image="https://example.com/j.png")
    response = await update(client, jake, bio=cleared, image=cleared)
    assert response.status_code == 200, response.text
    assert response.json()["user"] == {
        "email": "jake@example.com",
        "token": jake.token,
        "username": "jake",
        "bio": None,
        "image": None,
    }
    current = await client.get("/api/user", headers=jake.headers)
    assert current.json()["user"]["bio"] is None
    assert current.json()["user"]["image"] is None
    profile = await client.get("/api/profiles/jake")
    assert profile.json()["profile"] == {
        "username": "jake", "bio": None, "image": None, "following": False
    }
    stored = await collection(User).find_one({"username": "jake"})
    assert stored["bio"] is None and stored["image"] is None  # null in the database, not ""


@pytest.mark.parametrize("field", ["username", "email", "password"])
@pytest.mark.parametrize("blank", [None, ""], ids=["null", "empty"])
async def test_username_email_and_password_can_not_be_blanked(client, field, blank):
    jake = await register(client, "jake")
    response = await update(client, jake, **{field: blank})
    assert assert_error(response, 422, field) == ["can't be blank"]
    current = await client.get("/api/user", headers=jake.headers)
    assert current.json()["user"]["username"] == "jake"
    assert (await login(client, "jake@example.com")).status_code == 200


@pytest.mark.parametrize("password", ["x" * 8, "a" * 64, "b" * 128])
async def test_user_can_change_the_password_to_any_length_from_8_to_128(client, password):
    jake = await register(client, "jake")
    assert (await update(client, jake, password=password)).status_code == 200
    assert (await login(client, "jake@example.com", password)).status_code == 200


async def test_user_can_change_the_password_and_log_in_only_with_the_new_one(client):
    jake = await register(client, "jake")
    response = await update(client, jake, password="a-brand-new-password")
    assert response.status_code == 200, response.text
    assert set(response.json()["user"]) == USER_KEYS
    assert "a-brand-new-password" not in response.text
    assert (await login(client, "jake@example.com", "a-brand-new-password")).status_code == 200
    old = await login(client, "jake@example.com", PASSWORD)
    assert old.status_code == 401
    assert old.json() == BAD_CREDENTIALS


async def test_user_can_not_change_the_password_to_a_too_short_one(client):
    jake = await register(client, "jake")
    response = await update(client, jake, password="short")
    assert_error(response, 422, "password")
    assert (await login(client, "jake@example.com", PASSWORD)).status_code == 200


async def test_user_can_not_change_the_username_to_a_taken_one(client):
    jake = await register(client, "jake")
    await register(client, "jane")
    response = await update(client, jake, username="jane", bio="not applied")
    assert response.status_code == 409
    assert response.json() == {"errors": {"username": [TAKEN]}}
    current = await client.get("/api/user", headers=jake.headers)
    assert current.json()["user"]["username"] == "jake"
    assert current.json()["user"]["bio"] is None


async def test_user_can_not_change_the_email_to_a_taken_one(client):
    jake = await register(client, "jake")
    await register(client, "jane")
    response = await update(client, jake, email="JANE@example.com")
    assert response.status_code == 409
    assert response.json() == {"errors": {"email": [TAKEN]}}
    current = await client.get("/api/user", headers=jake.headers)
    assert current.json()["user"]["email"] == "jake@example.com"


async def test_user_can_not_change_the_email_to_an_invalid_one(client):
    jake = await register(client, "jake")
    response = await update(client, jake, email="nope")
    assert assert_error(response, 422, "email") == ["is not a valid email address"]


async def test_user_can_not_change_the_username_to_one_with_a_slash(client):
    jake = await register(client, "jake")
    response = await update(client, jake, username="ja/ke")
    assert_error(response, 422, "username")


async def test_user_can_update_to_their_own_current_username_and_email(client):
    jake = await register(client, "jake")
    response = await update(client, jake, username="jake", email="JAKE@example.com")
    assert response.status_code == 200, response.text
    assert response.json()["user"] == {
        "email": "jake@example.com",
        "token": jake.token,
        "username": "jake",
        "bio": None,
        "image": None,
    }


async def test_user_can_not_send_an_empty_update(client):
    jake = await register(client, "jake")
    response = await client.put("/api/user", json={"user": {}}, headers=jake.headers)
    assert response.status_code == 422
    assert response.json() == {"errors": {"user": ["at least one field is required"]}}


async def test_user_can_not_update_without_the_user_envelope(client):
    jake = await register(client, "jake")
    response = await client.put("/api/user", json={"bio": "x"}, headers=jake.headers)
    assert response.status_code == 422
    assert response.json()["errors"] == {"user": ["can't be blank"], "bio": ["is not a known field"]}


async def test_user_can_not_update_without_a_token(client):
    await register(client, "jake")
    response = await client.put("/api/user", json={"user": {"bio": "hacked"}})
    assert assert_error(response, 401, "token") == ["is missing"]
    assert response.headers["www-authenticate"] == "Token"
    profile = await client.get("/api/profiles/jake")
    assert profile.json()["profile"]["bio"] is None


async def test_renaming_keeps_the_token_working(client):
    jake = await register(client, "jake")
    await update(client, jake, username="jacob", bio="new bio")
    current = await client.get("/api/user", headers=jake.headers)
    assert current.status_code == 200
    assert current.json()["user"]["username"] == "jacob"
