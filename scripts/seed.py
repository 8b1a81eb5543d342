"""Realistic demo data, generated deterministically from a seed and inserted in bulk.

The generator is pure (`generate`): same plan and same anchor day give the same documents,
ObjectIds included. `seed` writes them with unordered `insert_many` batches.
"""

import asyncio
import itertools
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from faker import Faker

from models import Article, Comment, Favorite, Follow, Tag, User
from models import Counter as CounterModel
from models.common import to_milliseconds
from service.articles.content import reading_time_minutes, render_markdown
from service.articles.slugs import slug_base
from service.comments.ids import next_sequence
from service.engine import collection
from service.rollups.queries import Moves, apply_moves, day_of, rollups_of
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


# The most `folio seed` accepts of each: what the generator keeps in memory (user ids, live
# article ids, and the follow and favorite pairs it must keep unique) stays under ~1 GB.
MAXIMUM = {"users": 100_000, "articles": 1_000_000, "comments": 5_000_000,
           "follows": 1_000_000, "favorites": 2_000_000}

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


class SeedStream:
    """A plan's documents, generated batch by batch so that memory follows the batch, not the plan.

    Only what later collections refer to is kept: each user's id and creation time, each live
    article's id and publication time, and the follow and favorite pairs (to keep them unique).
    Articles are written with zero counters; `favorites_count` and `comments_count` collect
    here and are applied afterwards, by `$inc`.
    """

    def __init__(self, plan: SeedPlan, now: datetime, *, run_tag: str = "") -> None:
        self.plan, self.now, self.run_tag = plan, now, run_tag
        self.favorites_count: Counter[ObjectId] = Counter()
        self.comments_count: Counter[ObjectId] = Counter()

    def batches(self) -> Iterator[tuple[type, list[dict[str, Any]]]]:
        """(model, up to BATCH_SIZE documents) in the order that keeps references valid."""
        plan, now, run_tag = self.plan, self.now, self.run_tag
        # Appending draws a different stream, so ids and names cannot repeat the first run's.
        rng = random.Random(f"{plan.random_seed}/{run_tag}" if run_tag else plan.random_seed)
        fake = Faker()
        fake.seed_instance(rng.getrandbits(32))
        year_ago = now - timedelta(days=365)

        def moment_after(start: datetime) -> datetime:
            return to_milliseconds(start + (now - start) * rng.random())

        suffix = f"-{run_tag}" if run_tag else ""
        users: list[tuple[ObjectId, datetime]] = []
        batch: list[dict[str, Any]] = []
        for index in range(plan.users):
            created = moment_after(year_ago)
            username = (DEMO_USERNAME if index == 0 and not run_tag
                        else f"{fake.user_name()}{index}{suffix}")[:40]
            user = {
                "_id": _object_id(rng, created),
                "username": username,
                "username_key": username_key(username),
                "email": DEMO_EMAIL if username == DEMO_USERNAME else f"{username}@example.com",
                "password_hash": "",  # filled with the one demo hash by `seed`
                "bio": fake.sentence(nb_words=10) if rng.random() < 0.7 else None,
                "image": None,
                "schema_version": 1,
                "created_at": created,
                "updated_at": created,
            }
            users.append((user["_id"], created))
            batch.append(user)
            if len(batch) == BATCH_SIZE:
                yield User, batch
                batch = []
        if batch:
            yield User, batch

        # Cumulative weights: each draw is a bisection, not a pass over every user or article.
        author_weights = list(itertools.accumulate(_zipf_weights(len(users), 1.2)))
        tag_weights = list(itertools.accumulate(_zipf_weights(len(TAG_POOL))))
        titles: list[str] = []
        slug_counts: Counter[str] = Counter()
        live: list[tuple[ObjectId, datetime]] = []
        batch = []
        for _ in range(plan.articles):
            author_id, author_created = rng.choices(users, cum_weights=author_weights)[0]
            created = moment_after(max(author_created, year_ago))
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
            tags = sorted(set(rng.choices(TAG_POOL, cum_weights=tag_weights, k=rng.randint(0, 4))))
            meta: dict[str, Any] = {}
            if rng.random() < 0.3:
                meta = {"series": rng.choice(SERIES), "edition": rng.randint(1, 5),
                        "difficulty": rng.choice(DIFFICULTY)}
            cover = None
            if rng.random() < 0.4:
                cover = {"url": f"https://images.example.com/{slug}.jpg",
                         "alt": fake.sentence(nb_words=7).rstrip(".")}
            article_id = _object_id(rng, created)
            if published_at is not None and published_at <= now:
                live.append((article_id, published_at))
            batch.append({
                "_id": article_id,
                "slug": slug,
                "title": title,
                "description": fake.sentence(nb_words=12),
                "body": body,
                "body_html": render_markdown(body),
                "reading_time_minutes": reading_time_minutes(body),
                "tag_list": tags,
                "author_id": author_id,
                "favorites_count": 0,
                "comments_count": 0,
                "status": status,
                "publish_at": publish_at,
                "published_at": published_at,
                # Seeded live articles count as announced (no events for seeded data); the
                # scheduled ones are announced by the sweep when they go live.
                "announced": published_at is not None and published_at <= now,
                "meta": meta,
                "cover_image": cover,
                "canonical_url": None,
                "schema_version": 2,
                "created_at": created,
                "updated_at": created,
            })
            if len(batch) == BATCH_SIZE:
                yield Article, batch
                batch = []
        if batch:
            yield Article, batch
        del titles, slug_counts

        pairs: set[tuple[int, int]] = set()
        user_count = len(users)
        for _ in range(plan.follows * 3):
            if len(pairs) >= plan.follows or user_count < 2:
                break
            follower = rng.randrange(user_count)
            followee = rng.choices(range(user_count), cum_weights=author_weights)[0]
            if follower != followee:
                pairs.add((follower, followee))
        batch = []
        for follower, followee in sorted(pairs):
            created = moment_after(max(users[follower][1], users[followee][1]))
            batch.append({"_id": _object_id(rng, created), "follower_id": users[follower][0],
                          "followee_id": users[followee][0], "created_at": created,
                          "schema_version": 1})
            if len(batch) == BATCH_SIZE:
                yield Follow, batch
                batch = []
        if batch:
            yield Follow, batch
        del pairs

        live_weights = list(itertools.accumulate(_zipf_weights(len(live), 0.8)))
        favored: set[tuple[int, int]] = set()
        for _ in range(plan.favorites * 3):
            if len(favored) >= plan.favorites or not live or not user_count:
                break
            favored.add((rng.randrange(user_count),
                         rng.choices(range(len(live)), cum_weights=live_weights)[0]))
        batch = []
        for user_index, article_index in sorted(favored):
            article_id, published_at = live[article_index]
            created = moment_after(published_at)
            self.favorites_count[article_id] += 1
            batch.append({"_id": _object_id(rng, created), "user_id": users[user_index][0],
                          "article_id": article_id, "created_at": created, "schema_version": 1})
            if len(batch) == BATCH_SIZE:
                yield Favorite, batch
                batch = []
        if batch:
            yield Favorite, batch
        del favored

        batch = []
        for _ in range(plan.comments if live else 0):
            article_id, published_at = rng.choices(live, cum_weights=live_weights)[0]
            created = moment_after(published_at)
            self.comments_count[article_id] += 1
            batch.append({"_id": 0, "article_id": article_id,  # ids reserved by `seed`
                          "author_id": rng.choice(users)[0],
                          "body": fake.paragraph(nb_sentences=rng.randint(1, 4)),
                          "schema_version": 1, "created_at": created, "updated_at": created})
            if len(batch) == BATCH_SIZE:
                yield Comment, batch
                batch = []
        if batch:
            yield Comment, batch


def generate(plan: SeedPlan, now: datetime, *, run_tag: str = "") -> SeedData:
    """Every document of a plan at once, counters applied (for tests and small plans)."""
    stream = SeedStream(plan, now, run_tag=run_tag)
    data = SeedData()
    lists = {model: documents for model, documents in data.by_model()}
    for model, batch in stream.batches():
        lists[model].extend(batch)
    for article in data.articles:
        article["favorites_count"] = stream.favorites_count[article["_id"]]
        article["comments_count"] = stream.comments_count[article["_id"]]
    return data


class EmptyDatabaseRequired(Exception):
    """Seeding would mix demo data into existing data."""


async def existing_documents() -> int:
    """How many documents the seeded collections already hold."""
    models = [User, Article, Follow, Favorite, Comment]
    return sum([await collection(model).estimated_document_count() for model in models])


async def drop_all() -> None:
    """Empty every collection Folio owns, keeping the indexes."""
    for model in (User, Article, Follow, Favorite, Comment, CounterModel, Tag):
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


async def _apply_counts(stream: SeedStream) -> None:
    """Move each article's counters up by what was seeded for it, by `$inc`.

    Articles that gain the same amounts share one `update_many` over an `$in` of at most
    BATCH_SIZE ids: counts are small and skewed, so there are few distinct amounts.
    """
    by_amounts: dict[tuple[int, int], list[ObjectId]] = defaultdict(list)
    for article_id in set(stream.favorites_count) | set(stream.comments_count):
        amounts = (stream.favorites_count[article_id], stream.comments_count[article_id])
        by_amounts[amounts].append(article_id)
    for (favorites, comments), ids in sorted(by_amounts.items()):
        ids.sort()
        for start in range(0, len(ids), BATCH_SIZE):
            await collection(Article).update_many(
                {"_id": {"$in": ids[start : start + BATCH_SIZE]}},
                {"$inc": {"favorites_count": favorites, "comments_count": comments}},
            )
            await asyncio.sleep(0)


async def seed(
    plan: SeedPlan,
    password_hash: str,
    *,
    append: bool = False,
    now: datetime | None = None,
    on_collection: Callable[[str, int], Callable[[int], None]] | None = None,
) -> list[SeedStat]:
    """Generate and insert a plan batch by batch; every user gets the one demo password hash.

    Refuses to write into a database that holds data unless `append` is set (drop it first to
    start over). Comment ids are reserved from the `comments` counter, one `$inc` per batch.
    Each batch yields to the event loop, so that Ctrl-C stops the run at once.
    """
    existing = await existing_documents()
    if existing and not append:
        raise EmptyDatabaseRequired(f"the database already holds {existing} documents")
    anchor = now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    run_tag = f"{plan.random_seed:x}{existing:x}" if existing else ""
    stream = SeedStream(plan, anchor, run_tag=run_tag)
    asked = {User: plan.users, Article: plan.articles, Follow: plan.follows,
             Favorite: plan.favorites, Comment: plan.comments}
    stats = {model: SeedStat(collection(model).name, 0, 0.0) for model in asked}
    advances: dict[type, Callable[[int], None] | None] = {}
    tally = RollupTally()
    for model, batch in stream.batches():
        started = time.perf_counter()
        if model not in advances:
            advances[model] = on_collection(collection(model).name, asked[model]) if on_collection else None
        if model is User:
            for user in batch:
                user["password_hash"] = password_hash
        elif model is Comment:
            last = await next_sequence("comments", len(batch))
            for offset, comment in enumerate(batch):
                comment["_id"] = last - len(batch) + 1 + offset
        await collection(model).insert_many(batch, ordered=False)
        tally.add(model, batch)
        stats[model].documents += len(batch)
        stats[model].seconds += time.perf_counter() - started
        if (advance := advances[model]) is not None:
            advance(len(batch))
        await asyncio.sleep(0)  # let a Ctrl-C (a cancellation) in between batches
    await _apply_counts(stream)
    await count_tags()
    # Inserted in bulk, past the API's `$inc`s: the analytics rollups count them in, summed
    # here (one write per day and per day and tag).
    await apply_moves(tally.moves(stream))
    return list(stats.values())


class RollupTally:
    """What seeded documents add to the analytics rollups, gathered batch by batch: each dated
    article's instant and tags (its counters arrive later, in the stream), and how many
    comments and users were created each day."""

    def __init__(self) -> None:
        self.dated: dict[ObjectId, tuple[datetime, list[str]]] = {}
        self.created: dict[str, Counter[str]] = {"comments": Counter(), "users": Counter()}

    def add(self, model: type, batch: list[dict[str, Any]]) -> None:
        """Note what one inserted batch adds."""
        if model is Article:
            for article in batch:
                if article.get("published_at") is not None:
                    self.dated[article["_id"]] = (article["published_at"], article["tag_list"])
        elif model in (Comment, User):
            days = self.created["comments" if model is Comment else "users"]
            days.update(day_of(document["created_at"]) for document in batch)

    def moves(self, stream: SeedStream) -> Moves:
        """The rollups' `$inc`s for everything seeded, with the articles' final counters."""
        articles = [
            {"published_at": published_at, "tag_list": tags,
             "favorites_count": stream.favorites_count[article_id],
             "comments_count": stream.comments_count[article_id]}
            for article_id, (published_at, tags) in self.dated.items()
        ]
        daily, tags = rollups_of(articles, [], [])
        for kind, days in self.created.items():
            for day, count in days.items():
                daily.setdefault(day, {})[kind] = count
        return daily, tags


async def count_tags() -> int:
    """Count the inserted articles' tags into `tags` (as migration 0006 does): seeded
    articles carry no `tags_counted` flag, and scheduled ones are counted once due."""
    from scripts.migrations.m0006_tag_counts import up as count_unflagged

    return await count_unflagged(collection(Article).database, lambda done: None)


def shortfalls(plan: SeedPlan, stats: list[SeedStat]) -> list[str]:
    """One line for each collection that got fewer documents than the plan asked for, and why."""
    asked = {"users": plan.users, "articles": plan.articles, "follows": plan.follows,
             "favorites": plan.favorites, "comments": plan.comments}
    why = {
        "follows": f"a user follows another at most once (with {plan.users} users, at most "
                   f"{plan.users * (plan.users - 1)} follows), and popular authors are drawn often",
        "favorites": "a user favorites a live article at most once, and only live articles "
                     "(not drafts or scheduled ones) can be favorited",
        "comments": "comments go on live articles only, and none was live",
    }
    return [f"seeded {stat.documents} {stat.collection} of the {asked[stat.collection]} asked "
            f"for: {why.get(stat.collection, 'the draw stopped short')}"
            for stat in stats if stat.documents < asked.get(stat.collection, 0)]
