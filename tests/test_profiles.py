"""Profiles and following: `/profiles/{username}` and `/profiles/{username}/follow`."""

from tests.factories import follow, register

NOT_FOUND = {"errors": {"profile": ["not found"]}}
TOKEN_REQUIRED = {"errors": {"token": ["is missing"]}}


def profile_of(
    username: str, *, following: bool, bio: str | None = None, image: str | None = None
) -> dict:
    """The exact `profile` envelope the API answers."""
    return {"profile": {"username": username, "bio": bio, "image": image, "following": following}}


async def get_profile(client, username: str, viewer=None):
    headers = viewer.headers if viewer is not None else {}
    return await client.get(f"/api/profiles/{username}", headers=headers)


async def test_anonymous_visitor_sees_a_profile_not_followed(client):
    jake = await register(client, "jake")
    await client.put(
        "/api/user",
        json={"user": {"bio": "I work at statefarm", "image": "https://example.com/j.png"}},
        headers=jake.headers,
    )
    response = await get_profile(client, "jake")
    assert response.status_code == 200
    assert response.json() == profile_of(
        "jake", following=False, bio="I work at statefarm", image="https://example.com/j.png"
    )


async def test_profile_never_exposes_email_token_or_password(client):
    await register(client, "jake")
    response = await get_profile(client, "jake")
    assert set(response.json()["profile"]) == {"username", "bio", "image", "following"}
    assert "example.com" not in response.text
    assert "password" not in response.text.lower()


async def test_profile_of_an_unknown_user_is_not_found(client):
    response = await get_profile(client, "nobody")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_profile_lookup_is_by_exact_username(client):
    await register(client, "jake")
    response = await get_profile(client, "JAKE")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_user_sees_their_own_profile_as_not_followed(client):
    jake = await register(client, "jake")
    response = await get_profile(client, "jake", jake)
    assert response.status_code == 200
    assert response.json() == profile_of("jake", following=False)


async def test_user_can_follow_another_user(client):
    await register(client, "jake")
    jane = await register(client, "jane")
    response = await client.post("/api/profiles/jake/follow", headers=jane.headers)
    assert response.status_code == 200
    assert response.json() == profile_of("jake", following=True)


async def test_followed_profile_shows_following_only_to_the_follower(client):
    await register(client, "jake")
    jane = await register(client, "jane")
    bob = await register(client, "bob")
    await follow(client, jane, "jake")

    as_follower = await get_profile(client, "jake", jane)
    assert as_follower.status_code == 200
    assert as_follower.json() == profile_of("jake", following=True)

    as_other = await get_profile(client, "jake", bob)
    assert as_other.status_code == 200
    assert as_other.json() == profile_of("jake", following=False)

    anonymous = await get_profile(client, "jake")
    assert anonymous.status_code == 200
    assert anonymous.json() == profile_of("jake", following=False)


async def test_following_is_one_way(client):
    jake = await register(client, "jake")
    jane = await register(client, "jane")
    await follow(client, jane, "jake")
    response = await get_profile(client, "jane", jake)
    assert response.json() == profile_of("jane", following=False)


async def test_following_twice_is_idempotent_and_records_one_edge(client):
    await register(client, "jake")
    jane = await register(client, "jane")
    first = await client.post("/api/profiles/jake/follow", headers=jane.headers)
    second = await client.post("/api/profiles/jake/follow", headers=jane.headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == profile_of("jake", following=True)
    assert (await get_profile(client, "jake", jane)).json() == profile_of("jake", following=True)

    # One unfollow is enough to undo it: only one edge was recorded.
    unfollowed = await client.delete("/api/profiles/jake/follow", headers=jane.headers)
    assert unfollowed.status_code == 200
    assert (await get_profile(client, "jake", jane)).json() == profile_of("jake", following=False)


async def test_user_can_unfollow_a_followed_user(client):
    await register(client, "jake")
    jane = await register(client, "jane")
    await follow(client, jane, "jake")
    response = await client.delete("/api/profiles/jake/follow", headers=jane.headers)
    assert response.status_code == 200
    assert response.json() == profile_of("jake", following=False)
    assert (await get_profile(client, "jake", jane)).json() == profile_of("jake", following=False)


async def test_unfollowing_only_removes_the_callers_edge(client):
    await register(client, "jake")
    jane = await register(client, "jane")
    bob = await register(client, "bob")
    await follow(client, jane, "jake")
    await follow(client, bob, "jake")
    await client.delete("/api/profiles/jake/follow", headers=jane.headers)
    assert (await get_profile(client, "jake", jane)).json() == profile_of("jake", following=False)
    assert (await get_profile(client, "jake", bob)).json() == profile_of("jake", following=True)


async def test_unfollowing_a_user_not_followed_answers_not_following(client):
    await register(client, "jake")
    jane = await register(client, "jane")
    response = await client.delete("/api/profiles/jake/follow", headers=jane.headers)
    assert response.status_code == 200
    assert response.json() == profile_of("jake", following=False)


async def test_user_can_follow_again_after_unfollowing(client):
    await register(client, "jake")
    jane = await register(client, "jane")
    await follow(client, jane, "jake")
    await client.delete("/api/profiles/jake/follow", headers=jane.headers)
    response = await client.post("/api/profiles/jake/follow", headers=jane.headers)
    assert response.status_code == 200
    assert (await get_profile(client, "jake", jane)).json() == profile_of("jake", following=True)


async def test_user_can_not_follow_themselves(client):
    jake = await register(client, "jake")
    response = await client.post("/api/profiles/jake/follow", headers=jake.headers)
    assert response.status_code == 422
    assert response.json() == {"errors": {"profile": ["you cannot follow yourself"]}}
    assert (await get_profile(client, "jake", jake)).json() == profile_of("jake", following=False)


async def test_user_can_not_follow_an_unknown_user(client):
    jane = await register(client, "jane")
    response = await client.post("/api/profiles/nobody/follow", headers=jane.headers)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_user_can_not_unfollow_an_unknown_user(client):
    jane = await register(client, "jane")
    response = await client.delete("/api/profiles/nobody/follow", headers=jane.headers)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_anonymous_visitor_can_not_follow(client):
    await register(client, "jake")
    response = await client.post("/api/profiles/jake/follow")
    assert response.status_code == 401
    assert response.json() == TOKEN_REQUIRED
    assert response.headers["www-authenticate"] == "Token"


async def test_anonymous_visitor_can_not_unfollow(client):
    await register(client, "jake")
    response = await client.delete("/api/profiles/jake/follow")
    assert response.status_code == 401
    assert response.json() == TOKEN_REQUIRED
    assert response.headers["www-authenticate"] == "Token"


async def test_follow_with_an_invalid_token_is_unauthorized(client):
    await register(client, "jake")
    response = await client.post(
        "/api/profiles/jake/follow", headers={"Authorization": "Token not.a.jwt"}
    )
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is invalid"]}}


async def test_profile_with_an_invalid_token_is_unauthorized_rather_than_anonymous(client):
    await register(client, "jake")
    response = await client.get("/api/profiles/jake", headers={"Authorization": "Token garbage"})
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is invalid"]}}


async def test_a_stray_json_body_on_follow_is_ignored(client):
    await register(client, "jake")
    jane = await register(client, "jane")
    response = await client.post(
        "/api/profiles/jake/follow",
        json={"user": {"email": "x"}, "profile": {"username": "jane"}},
        headers=jane.headers,
    )
    assert response.status_code == 200
    assert response.json() == profile_of("jake", following=True)
    # Nothing about either account changed.
    current = await client.get("/api/user", headers=jane.headers)
    assert current.json()["user"]["email"] == "jane@example.com"
    assert (await get_profile(client, "jane", jane)).json() == profile_of("jane", following=False)


async def test_renamed_user_keeps_their_followers(client):
    jake = await register(client, "jake")
    jane = await register(client, "jane")
    await follow(client, jane, "jake")
    renamed = await client.put("/api/user", json={"user": {"username": "jacob"}}, headers=jake.headers)
    assert renamed.status_code == 200
    response = await get_profile(client, "jacob", jane)
    assert response.status_code == 200
    assert response.json() == profile_of("jacob", following=True)
