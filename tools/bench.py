"""The benchmark: Folio on the embedded engine against a no-database floor, in one run.

    python -m tools.bench [--seconds 10] [--port 8765] [--json out.json] [--articles 500]

It starts Folio (one uvicorn worker, uvloop + httptools) with a fixed dataset: 50 users; 500
articles with 3 tags each from a pool of 20 and bodies of about 400 bytes; 250 follows; 500
favorites. It then drives each endpoint over loopback at concurrency 16 with `wrk` (C, so the
client is not the bottleneck on a two-core machine; `apt-get install wrk`), and reports req/s and
p50/p99 latency per endpoint, each as a share of the floor: a route of the same server that
returns a fixed 20-article page of the same size without touching the database.
"""

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from fastapi import FastAPI

from models.common import utc_now
from scripts.seed import DEMO_PASSWORD, count_tags, insert_batches
from service.articles.content import reading_time_minutes, render_markdown
from service.main import create_app

TAGS = [f"tag{n:02d}" for n in range(20)]
CONCURRENCY = 16


ARTICLES = int(os.environ.get("BENCH_ARTICLES", "500"))


def dataset(password_hash: str, articles_count: int = 500) -> dict[str, list[dict[str, Any]]]:
    """The fixed benchmark dataset, the same every run: favorites grow with the articles."""
    rng = random.Random(6)
    now = utc_now()
    users = [{"_id": ObjectId(), "username": f"bench{n}", "username_key": f"bench{n}",
              "email": f"bench{n}@example.com", "password_hash": password_hash, "bio": None,
              "image": None, "created_at": now, "updated_at": now} for n in range(50)]
    articles = []
    for n in range(articles_count):
        created = now - timedelta(minutes=n)
        body = ("lorem ipsum dolor sit amet " * 15)[:400]
        articles.append({
            "_id": ObjectId(), "slug": f"article-{n}", "title": f"Article {n}",
            "description": "A benchmark article", "body": body, "body_html": render_markdown(body),
            "reading_time_minutes": reading_time_minutes(body),
            "tag_list": sorted(rng.sample(TAGS, 3)), "author_id": rng.choice(users)["_id"],
            "favorites_count": 0, "status": "published", "publish_at": None,
            "published_at": created, "meta": {}, "cover_image": None, "canonical_url": None,
            "schema_version": 2, "created_at": created, "updated_at": created,
        })
    follows = set()
    while len(follows) < 250:
        a, b = rng.sample(range(50), 2)
        follows.add((a, b))
    favorites = set()
    while len(favorites) < articles_count:
        favorites.add((rng.randrange(50), rng.randrange(articles_count)))
    for _, article in favorites:
        articles[article]["favorites_count"] += 1
    return {
        "users": users,
        "articles": articles,
        "follows": [{"follower_id": users[a]["_id"], "followee_id": users[b]["_id"],
                     "created_at": now} for a, b in sorted(follows)],
        "favorites": [{"user_id": users[u]["_id"], "article_id": articles[a]["_id"],
                       "created_at": now} for u, a in sorted(favorites)],
    }


def build_app() -> FastAPI:
    """Folio with the dataset loaded at start-up, plus the `/floor` route."""
    from models import Article, Favorite, Follow, User

    async def load(app: FastAPI, engine: Any) -> None:
        password_hash = await app.state.security.passwords.hash(DEMO_PASSWORD)
        data = dataset(password_hash, ARTICLES)
        for model, name in ((User, "users"), (Article, "articles"), (Follow, "follows"),
                            (Favorite, "favorites")):
            await insert_batches(model, data[name])
        await count_tags()  # inserted directly: their tags are counted as migration 0006 does

    app = create_app(startup_tasks=[load])
    stamp = "2026-01-02T03:04:05.678Z"
    page = json.dumps({"articles": [{
        "slug": f"article-{n}", "title": f"Article {n}", "description": "A benchmark article",
        "tagList": TAGS[:3], "createdAt": stamp, "updatedAt": stamp, "favorited": False,
        "favoritesCount": 1, "author": {"username": "bench1", "bio": None, "image": None,
                                        "following": False},
        "status": "published", "publishAt": None, "publishedAt": stamp, "readingTimeMinutes": 1,
        "meta": {}, "coverImage": None, "canonicalUrl": None,
    } for n in range(20)], "articlesCount": ARTICLES, "nextCursor": None}).encode()

    @app.get("/floor", include_in_schema=False)
    async def floor() -> Any:
        from starlette.responses import Response

        return Response(page, media_type="application/json")

    return app


def _wrk(url: str, seconds: int, headers: dict[str, str], method: str = "GET") -> dict[str, float]:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(f'wrk.method = "{method}"\n' + "".join(
        f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items()))
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout
    script.unlink()

    def millis(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": millis("50"), "p99_ms": millis("99"),
            "non_2xx": int(errors.group(1)) if errors else 0}


def main() -> None:
    """Start the server, run every endpoint, print a Markdown table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--articles", type=int, default=500,
                        help="articles in the dataset (favorites grow with them)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env["FOLIO_RATE_LIMITS_ENABLED"] = "false"
    env["BENCH_ARTICLES"] = str(args.articles)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tools.bench:build_app", "--factory", "--port",
         str(args.port), "--workers", "1", "--loop", "uvloop", "--http", "httptools",
         "--no-access-log", "--log-level", "warning"], env=env,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(3000):  # a large dataset takes a while to load
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        token = httpx.post(f"{base}/api/users/login", json={"user": {
            "email": "bench1@example.com", "password": DEMO_PASSWORD}}).json()["user"]["token"]
        auth = {"Authorization": f"Token {token}"}
        runs = {
            "floor": (f"{base}/floor", {}, "GET"),
            "list": (f"{base}/api/articles?limit=20", {}, "GET"),
            "list by tag": (f"{base}/api/articles?tag=tag03&limit=20", {}, "GET"),
            "feed": (f"{base}/api/articles/feed?limit=20", auth, "GET"),
            "single article": (f"{base}/api/articles/article-7", {}, "GET"),
            "favorite": (f"{base}/api/articles/article-9/favorite", auth, "POST"),
        }
        results = {name: _wrk(url, args.seconds, headers, method)
                   for name, (url, headers, method) in runs.items()}
    finally:
        server.terminate()
        server.wait(30)
    floor = results["floor"]["rps"]
    print(f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores, "
          f"{args.articles} articles, {args.seconds} s per endpoint, "
          f"concurrency {CONCURRENCY}.\n")
    print("| endpoint | req/s | p50 ms | p99 ms | share of floor | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        print(f"| {name} | {result['rps']:,.0f} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} "
              f"| {100 * result['rps'] / floor:.1f} % | {result['non_2xx']} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
