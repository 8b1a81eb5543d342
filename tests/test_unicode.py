"""Usernames are NFKC-normalised, single-script, and unique ignoring case and width."""

import pytest

from models import User
from scripts.migrations import m0002_username_keys as m0002
from service.engine.client import collection
from service.users.names import username_key
from tests.factories import PASSWORD, register


def new_user(username: str, email: str) -> dict:
    return {"user": {"username": username, "email": email, "password": PASSWORD}}


async def test_full_width_and_compatibility_forms_are_normalised(client):
    response = await client.post("/api/users", json=new_user("ｊａｋｅ", "jake@example.com"))
    assert response.status_code == 201
    assert response.json()["user"]["username"] == "jake"
    assert (await client.get("/api/profiles/ｊａｋｅ")).json()["profile"]["username"] == "jake"


@pytest.mark.parametrize("look_alike", ["Jake", "JAKE", "ｊａｋｅ", "Ｊａｋｅ"])
async def test_look_alikes_of_a_taken_username_are_refused(client, look_alike):
    await register(client, "jake")
    response = await client.post("/api/users", json=new_user(look_alike, "other@example.com"))
    assert response.status_code == 409
    assert response.json() == {"errors": {"username": ["has already been taken"]}}


async def test_renaming_to_a_look_alike_of_someone_else_is_refused(client):
    await register(client, "jake")
    anna = await register(client, "anna")
    response = await client.put("/api/user", json={"user": {"username": "JAKE"}}, headers=anna.headers)
    assert response.status_code == 409
    assert response.json() == {"errors": {"username": ["has already been taken"]}}
    assert (await client.put("/api/user", json={"user": {"username": "Anna"}},
                             headers=anna.headers)).status_code == 200


async def test_mixed_script_usernames_are_refused(client):
    mixed = "p\u0430ypal"  # a Cyrillic "а" among Latin letters
    response = await client.post("/api/users", json=new_user(mixed, "p@example.com"))
    assert response.status_code == 422
    assert response.json() == {"errors": {"username": ["must use letters from one script only"]}}
    single = await client.post("/api/users", json=new_user("\u0437\u043e\u044f", "z@example.com"))
    assert single.status_code == 201


def test_the_key_folds_case_and_width():
    assert username_key("Ｊａｋｅ") == username_key("JAKE") == username_key("jake") == "jake"
    assert username_key("Straße") == "strasse"


async def test_migration_0002_backfills_keys_and_reports_look_alikes(app, client):
    await collection(User).insert_many([
        {"username": "Old", "email": "old@example.com", "password_hash": "h"},
        {"username": "OLD", "email": "old2@example.com", "password_hash": "h"},
        {"username": "other", "email": "o@example.com", "password_hash": "h"},
    ])
    database = app.state.engine.database
    assert await m0002.up(database, lambda done: None) == 2
    keys = {u["username"]: u.get("username_key") async for u in collection(User).find({})}
    assert keys["other"] == "other"
    assert sorted(str(keys[name]) for name in ("Old", "OLD")) == ["None", "old"]
    assert await m0002.up(database, lambda done: None) == 0
    assert await m0002.down(database, lambda done: None) == 2
    assert await collection(User).count_documents({"username_key": {"$exists": True}}) == 0
