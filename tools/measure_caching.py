"""What the tag list and the count caches cost the database under ordinary writes (issue 18).

    python -m tools.measure_caching tags [--articles 2000]
    python -m tools.measure_caching counts [--redis-down]

`tags`: seeds N articles on the embedded engine, then 20 times edits one article's body and
reads `GET /api/tags`, printing the database operations of that read and its median time.

`counts`: 4 readers list articles by one of three tags (200 lists) while 40 users favorite
articles outside those lists (1,000 favorites), and prints how many times the lists counted the
`articles` collection (the floor is 3, one per tag). `--redis-down` points FOLIO_REDIS_URL at a
closed port, so the breaker is open throughout.

Database operations are counted by tests/oplog.py, as the round-trip tests count them.
"""

import argparse
import asyncio
import random
import statistics
import time

import httpx
from asgi_lifespan import LifespanManager

from scripts.seed import SeedPlan, seed
from service.main import create_app
from tests import oplog
from tests.conftest import make_settings  # importing it also hooks tests/oplog.py in
from tests.factories import create_article, register
from tests.servers import free_port


async def tags_after_body_edits(articles: int) -> str:
    """The cost of `GET /api/tags` right after each of 20 body-only edits."""
    app = create_app(make_settings())
    async with LifespanManager(app):
        await seed(SeedPlan(users=50, articles=articles, comments=0, follows=0, favorites=0), "x")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            author = await register(client)
            article = await create_article(client, author, tagList=["python"])
            times, operations = [], []
            for edit in range(20):
                await client.put(f"/api/articles/{article['slug']}", headers=author.headers,
                                 json={"article": {"body": f"typo {edit}"}})
                with oplog.recording() as log:
                    started = time.perf_counter()
                    await client.get("/api/tags")
                    times.append(time.perf_counter() - started)
                operations = [(op.collection, op.name) for op in log.details]
    return (f"{articles} articles: GET /api/tags after a body-only edit makes {operations}, "
            f"median {statistics.median(times) * 1000:.1f} ms")


async def counts_under_favorites(redis_down: bool) -> str:
    """How often 200 tag lists count `articles` while 1,000 unrelated favorites land."""
    redis_url = f"redis://127.0.0.1:{free_port()}/0" if redis_down else None
    app = create_app(make_settings(redis_url=redis_url))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            author = await register(client)
            fans = [await register(client) for _ in range(40)]
            for n in range(60):
                await create_article(client, author,
                                     tagList=[f"t{n % 3}", "fav" if n >= 30 else "x"])
            listed = await client.get("/api/articles", params={"tag": "fav", "limit": 30})
            favorites = [article["slug"] for article in listed.json()["articles"]]
            random.seed(1)

            async def reader() -> None:
                for _ in range(50):
                    await client.get("/api/articles",
                                     params={"tag": random.choice(["t0", "t1", "t2"])})

            async def fan_favorites(fan) -> None:
                for slug in random.sample(favorites, 25):
                    await client.post(f"/api/articles/{slug}/favorite", headers=fan.headers)

            with oplog.recording() as log:
                await asyncio.gather(*(reader() for _ in range(4)), *map(fan_favorites, fans))
    counted = sum(1 for op in log.details
                  if op.name == "count_documents" and op.collection == "articles")
    state = "Redis unreachable" if redis_down else "no Redis"
    return f"{state}: 200 tag lists during 1,000 favorites counted articles {counted} times"


def main() -> None:
    """Run one measurement and print its line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["tags", "counts"])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--redis-down", action="store_true")
    options = parser.parse_args()
    if options.what == "tags":
        print(asyncio.run(tags_after_body_edits(options.articles)))
    else:
        print(asyncio.run(counts_under_favorites(options.redis_down)))


if __name__ == "__main__":
    main()
