"""Realistic demo data, generated deterministically from a seed and inserted in bulk.

The generator is pure (`generate`): same plan and same anchor day give the same documents,
ObjectIds included. `seed` writes them with unordered `insert_many` batches.
"""

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from faker import Faker

from models import Article, Comment, Favorite, Follow, User
from models import Counter as CounterModel
from models.common import to_milliseconds
from service.articles.content import reading_time_minutes, render_markdown
from service.articles.queries import slug_base
from service.counters import next_sequence
from service.db import collection
from service.rollups import apply_moves, rollups_of
from service.users.names import username_key

DEMO_PASSWORD = "folio-demo-password"
DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@folio.dev"
BATCH_SIZE = 500

TAG_POOL = [
    "python", "mongodb", "webdev", "design", "testing", "devops", "career", "databases",
    "security", "performance", "javascript", "architecture", "tutorial", "opinion", "cloud",
    "data", "rust", "ux", "writing", "productivity", "linux", "api", "ai", "startups",
    "open-source", "frontend", "backend", "mobile", "accessibility", "privacy",
]  # fmt: skip
SERIES = ["Zero to Production", "Data Diaries", "Weekly Notes", "Field Guide", "Deep Dives"]
DIFFICULTY = ["beginner", "intermediate", "advanced"]


@dataclass(frozen=True)
class SeedPlan:
    """How much to generate, and from which seed."""

    users: int = 50
    articles: int = 500
    comments: int = 1000
    follows: int = 250
    favorites: int = 500
    random_seed: int = 42


DEMO_PLAN = SeedPlan(users=25, articles=200, comments=400, follows=100, favorites=300)


@dataclass
class SeedData:
    """Generated documents per collection, in insertion order."""

    users: list[dict[str, Any]] = field(default_factory=list)
    articles: list[dict[str, Any]] = field(default_factory=list)
    follows: list[dict[str, Any]] = field(default_factory=list)
    favorites: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)

    def by_model(self) -> list[tuple[type, list[dict[str, Any]]]]:
        """(model, documents) in the order that keeps references valid."""
        return [
            (User, self.users),
            (Article, self.articles),
            (Follow, self.follows),
            (Favorite, self.favorites),
            (Comment, self.comments),
        ]


@dataclass
class SeedStat:
    """What one collection's insert took."""

    collection: str
    documents: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Documents inserted per second."""
        return self.documents / self.seconds if self.seconds else float("inf")


def _zipf_weights(count: int, exponent: float = 1.1) -> list[float]:
    """A few very common items and a long tail."""
    return [1 / (rank**exponent) for rank in range(1, count + 1)]


def _object_id(rng: random.Random, moment: datetime) -> ObjectId:
    """A reproducible ObjectId whose timestamp is the document's creation time."""
    seconds = int(moment.timestamp()).to_bytes(4, "big")
    return ObjectId(seconds + rng.getrandbits(64).to_bytes(8, "big"))


def _markdown_body(fake: Faker, rng: random.Random) -> str:
    """A Markdown body of varied length: paragraphs, and sometimes headings, lists, code, links."""
    blocks = []
    for index in range(rng.choice([1, 2, 3, 4, 6, 9])):
        if index and rng.random() < 0.3:
            blocks.append(f"## {fake.sentence(nb_words=4).rstrip('.')}")
        blocks.append(" ".join(fake.paragraphs(nb=rng.randint(1, 3))))
        if rng.random() < 0.15:
            blocks.append("\n".join(f"- {fake.sentence(nb_words=6)}" for _ in range(3)))
        if rng.random() < 0.1:
            blocks.append("```python\nprint('hello, folio')\n```")
        if rng.random() < 0.1:
            blocks.append(f"Read more on [{fake.domain_name()}](https://{fake.domain_name()}/).")
    return "\n\n".join(blocks)


def generate(plan: SeedPlan, now: datetime, *, run_tag: str = "") -> SeedData:
    """Build every document for a plan; `run_tag` keeps names unique when appending."""
    # Appending draws a different stream, so ids and names cannot repeat the first run's.
    rng = random.Random(f"{plan.random_seed}/{run_tag}" if run_tag else plan.random_seed)
    fake = Faker()
    fake.seed_instance(rng.getrandbits(32))
    data = SeedData()
    year_ago = now - timedelta(days=365)

    def moment_after(start: datetime) -> datetime:
        return to_milliseconds(start + (now - start) * rng.random())

    suffix = f"-{run_tag}" if run_tag else ""
    for index in range(plan.users):
        created = moment_after(year_ago)
        username = DEMO_USERNAME if index == 0 and not run_tag else f"{fake.user_name()}{index}{suffix}"
        data.users.append({
            "_id": _object_id(rng, created),
            "username": username[:40],
            "username_key": username_key(username[:40]),
            "email": DEMO_EMAIL if username == DEMO_USERNAME else f"{username[:40]}@example.com",
            "password_hash": "",  # filled with the one demo hash by `seed`
            "bio": fake.sentence(nb_words=10) if rng.random() < 0.7 else None,
            "image": None,
            "schema_version": 1,
            "created_at": created,
            "updated_at": created,
        })

    author_weights = _zipf_weights(len(data.users), 1.2)
    tag_weights = _zipf_weights(len(TAG_POOL))
    titles: list[str] = []
    slug_counts: Counter[str] = Counter()
    for _ in range(plan.articles):
        author = rng.choices(data.users, weights=author_weights)[0]
        created = moment_after(max(author["created_at"], year_ago))
        if titles and rng.random() < 0.05:
            title = rng.choice(titles)  # the same title again: the slug takes a suffix
        else:
            title = fake.sentence(nb_words=rng.randint(3, 8)).rstrip(".")
            titles.append(title)
        base = slug_base(title) + suffix
        slug_counts[base] += 1
        slug = base if slug_counts[base] == 1 else f"{base}-{slug_counts[base]}"
        body = _markdown_body(fake, rng)
        roll = rng.random()
        status, publish_at, published_at = "published", None, created
        if roll < 0.08:
            status, published_at = "draft", None
        elif roll < 0.12:
            publish_at = to_milliseconds(now + timedelta(days=rng.uniform(1, 30)))
            published_at = publish_at
        tags = sorted(set(rng.choices(TAG_POOL, weights=tag_weights, k=rng.randint(0, 4))))
        meta: dict[str, Any] = {}
        if rng.random() < 0.3:
            meta = {"series": rng.choice(SERIES), "edition": rng.randint(1, 5),
                    "difficulty": rng.choice(DIFFICULTY)}
        cover = None
        if rng.random() < 0.4:
            cover = {"url": f"https://images.example.com/{slug}.jpg",
                     "alt": fake.sentence(nb_words=7).rstrip(".")}
        data.articles.append({
            "_id": _object_id(rng, created),
            "slug": slug,
            "title": title,
            "description": fake.sentence(nb_words=12),
            "body": body,
            "body_html": render_markdown(body),
            "reading_time_minutes": reading_time_minutes(body),
            "tag_list": tags,
            "author_id": author["_id"],
            "favorites_count": 0,
            "comments_count": 0,
            "status": status,
            "publish_at": publish_at,
            "published_at": published_at,
            "meta": meta,
            "cover_image": cover,
            "canonical_url": None,
            "schema_version": 2,
            "created_at": created,
            "updated_at": created,
        })

    pairs: set[tuple[int, int]] = set()
    user_count = len(data.users)
    for _ in range(plan.follows * 3):
        if len(pairs) >= plan.follows or user_count < 2:
            break
        follower = rng.randrange(user_count)
        followee = rng.choices(range(user_count), weights=author_weights)[0]
        if follower != followee:
            pairs.add((follower, followee))
    for follower, followee in sorted(pairs):
        created = moment_after(max(data.users[follower]["created_at"], data.users[followee]["created_at"]))
        data.follows.append({"_id": _object_id(rng, created),
                             "follower_id": data.users[follower]["_id"],
                             "followee_id": data.users[followee]["_id"], "created_at": created,
                             "schema_version": 1})

    live = [a for a in data.articles if a["published_at"] is not None and a["published_at"] <= now]
    live_weights = _zipf_weights(len(live), 0.8)
    favored: set[tuple[int, int]] = set()
    for _ in range(plan.favorites * 3):
        if len(favored) >= plan.favorites or not live or not user_count:
            break
        favored.add((rng.randrange(user_count), rng.choices(range(len(live)), weights=live_weights)[0]))
    for user_index, article_index in sorted(favored):
        article = live[article_index]
        created = moment_after(article["published_at"])
        article["favorites_count"] += 1
        data.favorites.append({"_id": _object_id(rng, created),
                               "user_id": data.users[user_index]["_id"],
                               "article_id": article["_id"], "created_at": created,
                               "schema_version": 1})

    for _ in range(plan.comments if live else 0):
        article = rng.choices(live, weights=live_weights)[0]
        created = moment_after(article["published_at"])
        article["comments_count"] += 1
        data.comments.append({"_id": 0, "article_id": article["_id"],
                              "author_id": rng.choice(data.users)["_id"],
                              "body": fake.paragraph(nb_sentences=rng.randint(1, 4)),
                              "schema_version": 1, "created_at": created, "updated_at": created})
    return data


class EmptyDatabaseRequired(Exception):
    """Seeding would mix demo data into existing data."""


async def existing_documents() -> int:
    """How many documents the seeded collections already hold."""
    models = [User, Article, Follow, Favorite, Comment]
    return sum([await collection(model).estimated_document_count() for model in models])


async def drop_all() -> None:
    """Empty every collection Folio owns, keeping the indexes."""
    for model in (User, Article, Follow, Favorite, Comment, CounterModel):
        await collection(model).delete_many({})


async def insert_batches(
    model: type, documents: list[dict[str, Any]], advance: Callable[[int], None] | None = None
) -> SeedStat:
    """Insert documents with unordered `insert_many` batches, timing the whole collection."""
    started = time.perf_counter()
    for start in range(0, len(documents), BATCH_SIZE):
        batch = documents[start : start + BATCH_SIZE]
        await collection(model).insert_many(batch, ordered=False)
        if advance:
            advance(len(batch))
    return SeedStat(collection(model).name, len(documents), time.perf_counter() - started)


async def seed(
    plan: SeedPlan,
    password_hash: str,
    *,
    append: bool = False,
    now: datetime | None = None,
    on_collection: Callable[[str, int], Callable[[int], None]] | None = None,
) -> list[SeedStat]:
    """Generate and insert a plan; every user gets the one demo password hash.

    Refuses to write into a database that holds data unless `append` is set (drop it first to
    start over). Comment ids are reserved from the `comments` counter in one `$inc`.
    """
    existing = await existing_documents()
    if existing and not append:
        raise EmptyDatabaseRequired(f"the database already holds {existing} documents")
    anchor = now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    run_tag = f"{plan.random_seed:x}{existing:x}" if existing else ""
    data = generate(plan, anchor, run_tag=run_tag)
    for user in data.users:
        user["password_hash"] = password_hash
    if data.comments:
        last = await next_sequence("comments", len(data.comments))
        for offset, comment in enumerate(data.comments):
            comment["_id"] = last - len(data.comments) + 1 + offset
    stats = []
    for model, documents in data.by_model():
        name = collection(model).name
        advance = on_collection(name, len(documents)) if on_collection else None
        stats.append(await insert_batches(model, documents, advance))
    # Inserted in bulk, past the API's `$inc`s: the analytics rollups count them in, summed
    # here (one write per day and per day and tag).
    await apply_moves(rollups_of(data.articles, data.comments, data.users))
    return stats
