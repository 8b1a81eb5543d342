"""Many requests at once through the ASGI app: counters stay equal to their edges."""

import asyncio

from models import Favorite, Follow
from service.engine.client import collection
from tests.factories import PASSWORD, create_article, register


async def count_for(client, slug: str) -> int:
    return (await client.get(f"/api/articles/{slug}")).json()["article"]["favoritesCount"]


async def test_fifty_users_favoriting_at_once_count_fifty(client):
    author = await register(client)
    article = await create_article(client, author)
    fans = await asyncio.gather(*(register(client) for _ in range(50)))
    url = f"/api/articles/{article['slug']}/favorite"
    responses = await asyncio.gather(*(client.post(url, headers=fan.headers) for fan in fans))
    assert {r.status_code for r in responses} == {200}
    assert await count_for(client, article["slug"]) == 50
    assert await collection(Favorite).count_documents({}) == 50


async def test_favoriting_and_unfavoriting_at_once_never_leaves_the_counter_out_of_step(client):
    author = await register(client)
    article = await create_article(client, author)
    fans = await asyncio.gather(*(register(client) for _ in range(20)))
    url = f"/api/articles/{article['slug']}/favorite"
    calls = []
    for round_ in range(3):
        for fan in fans:
            calls.append(client.post(url, headers=fan.headers))
            calls.append(client.delete(url, headers=fan.headers))
            if round_ == 2:
                calls.append(client.post(url, headers=fan.headers))
    responses = await asyncio.gather(*calls)
    assert {r.status_code for r in responses} == {200}
    counts = [r.json()["article"]["favoritesCount"] for r in responses]
    assert min(counts) >= 0
    edges = await collection(Favorite).count_documents({})
    assert await count_for(client, article["slug"]) == edges


async def test_twenty_registrations_of_one_username_give_exactly_one_account(client):
    bodies = [{"user": {"username": "same", "email": f"same{n}@example.com", "password": PASSWORD}}
              for n in range(20)]
    responses = await asyncio.gather(*(client.post("/api/users", json=body) for body in bodies))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19
    assert all(r.json() == {"errors": {"username": ["has already been taken"]}}
               for r in responses if r.status_code == 409)


async def test_twenty_articles_with_one_title_at_once_get_twenty_slugs(client):
    author = await register(client)
    body = {"article": {"title": "Same title", "description": "D", "body": "B"}}
    responses = await asyncio.gather(*(
        client.post("/api/articles", json=body, headers=author.headers) for _ in range(20)
    ))
    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.json()["article"]["slug"] for r in responses}) == 20


async def test_following_and_unfollowing_at_once_leaves_one_consistent_answer(client):
    star = await register(client)
    fans = await asyncio.gather(*(register(client) for _ in range(10)))
    url = f"/api/profiles/{star.username}/follow"
    calls = [call for fan in fans for call in (
        client.post(url, headers=fan.headers), client.delete(url, headers=fan.headers),
        client.post(url, headers=fan.headers))]
    responses = await asyncio.gather(*calls)
    assert {r.status_code for r in responses} == {200}
    edges = await collection(Follow).count_documents({})
    assert edges <= 10
    following = [
        (await client.get(f"/api/profiles/{star.username}", headers=fan.headers)).json()
        ["profile"]["following"] for fan in fans
    ]
    assert sum(following) == edges
