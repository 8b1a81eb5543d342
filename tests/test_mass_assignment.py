"""Clients cannot set what the server owns; unknown fields answer 422; echoes are ignored."""

import pytest

from tests.factories import create_article, favorite, register


@pytest.mark.parametrize("field", ["role", "roles", "isAdmin", "id", "_id", "passwordHash",
                                   "password_hash", "tokenVersion", "schemaVersion"])
async def test_unknown_or_internal_user_fields_are_refused(client, field):
    jake = await register(client)
    response = await client.put("/api/user", json={"user": {"bio": "x", field: "admin"}},
                                headers=jake.headers)
    assert response.status_code == 422
    assert response.json() == {"errors": {field: ["is not a known field"]}}
    assert (await client.get("/api/user", headers=jake.headers)).json()["user"]["bio"] is None


@pytest.mark.parametrize("field", ["authorId", "author_id", "id", "favorites_count", "status2",
                                   "commentsCount", "schemaVersion"])
async def test_unknown_article_fields_are_refused(client, field):
    jake = await register(client)
    article = {"title": "T", "description": "D", "body": "B", field: 1}
    response = await client.post("/api/articles", json={"article": article}, headers=jake.headers)
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert (await client.get("/api/articles")).json()["articlesCount"] == 0


async def test_server_owned_fields_echoed_back_by_a_frontend_are_ignored(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake, title="Original")
    await favorite(client, anna, article["slug"])
    echoed = {**(await client.get(f"/api/articles/{article['slug']}")).json()["article"],
              "body": "edited", "favoritesCount": 9999, "favorited": True,
              "slug": "hijacked", "createdAt": "2000-01-01T00:00:00.000Z",
              "author": {"username": anna.username, "bio": None, "image": None, "following": False}}
    response = await client.put(f"/api/articles/{article['slug']}", json={"article": echoed},
                                headers=jake.headers)
    assert response.status_code == 200, response.text
    updated = response.json()["article"]
    assert updated["body"] == "edited"
    assert (updated["favoritesCount"], updated["slug"]) == (1, article["slug"])
    assert updated["createdAt"] == article["createdAt"]
    assert updated["author"]["username"] == jake.username


async def test_a_settings_form_echoing_its_token_changes_nothing_else(client):
    jake = await register(client)
    response = await client.put("/api/user", headers=jake.headers, json={"user": {
        "email": jake.email, "username": jake.username, "bio": "hello", "image": "",
        "token": "forged"}})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["token"] == jake.token
    login = await client.post("/api/users/login",
                              json={"user": {"email": jake.email, "password": "correct-horse-battery"}})
    assert login.status_code == 200


async def test_operator_objects_in_place_of_strings_are_refused(client):
    jake = await register(client)
    for body in ({"user": {"email": {"$gt": ""}, "password": {"$ne": None}}},
                 {"user": {"email": jake.email, "password": {"$ne": None}}}):
        response = await client.post("/api/users/login", json=body)
        assert response.status_code == 422
    response = await client.get("/api/profiles/%7B%22%24ne%22%3A%20null%7D")
    assert response.status_code == 404
