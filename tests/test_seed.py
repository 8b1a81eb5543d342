"""Seeding: deterministic, realistic, consistent counters, and careful with existing data."""

from collections import Counter
from datetime import UTC, datetime

import pytest
from asgi_lifespan import LifespanManager

from models import Article, Comment, Favorite, Follow, User
from models import Counter as CounterModel
from scripts.seed import (
    DEMO_EMAIL,
    DEMO_PASSWORD,
    EmptyDatabaseRequired,
    SeedPlan,
    drop_all,
    generate,
    seed,
)
from scripts.serve import seed_demo
from service.engine.client import collection
from service.main import create_app
from tests.conftest import client_for

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PLAN = SeedPlan(users=30, articles=150, comments=200, follows=80, favorites=200, random_seed=7)


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not():
    assert generate(PLAN, NOW) == generate(PLAN, NOW)
    other = generate(SeedPlan(**{**PLAN.__dict__, "random_seed": 8}), NOW)
    assert other.articles[0]["title"] != generate(PLAN, NOW).articles[0]["title"]


def test_generated_data_is_varied_and_skewed():
    data = generate(PLAN, NOW)
    statuses = Counter(
        "draft" if a["status"] == "draft" else "scheduled" if a["published_at"] > NOW else "live"
        for a in data.articles
    )
    assert statuses["draft"] > 0 and statuses["scheduled"] > 0 and statuses["live"] > 100
    tags = Counter(tag for a in data.articles for tag in a["tag_list"])
    top, *rest = [count for _, count in tags.most_common()]
    assert top >= 4 * rest[-1]  # a few common tags, a long tail
    authors = Counter(a["author_id"] for a in data.articles)
    assert authors.most_common(1)[0][1] >= 5 * (len(data.articles) / len(data.users)) / 2
    assert any(a["meta"] for a in data.articles) and any(a["cover_image"] for a in data.articles)
    assert all(c["alt"] for a in data.articles if (c := a["cover_image"]))
    assert len({a["slug"] for a in data.articles}) == len(data.articles)
    assert len({a["title"] for a in data.articles}) < len(data.articles)  # colliding slugs
    lengths = sorted(len(a["body"]) for a in data.articles)
    assert lengths[-1] > 5 * lengths[0]
    assert min(a["created_at"] for a in data.articles) < datetime(2025, 9, 1, tzinfo=UTC)


async def test_seeded_counters_match_the_edges_and_nothing_is_orphaned(app):
    stats = await seed(PLAN, "hash", now=NOW)
    assert [s.collection for s in stats] == ["users", "articles", "follows", "favorites", "comments"]
    articles = await collection(Article).find({}).to_list(None)
    favorites = await collection(Favorite).find({}).to_list(None)
    comments = await collection(Comment).find({}).to_list(None)
    users = {u["_id"] for u in await collection(User).find({}).to_list(None)}
    per_article = Counter(f["article_id"] for f in favorites)
    assert all(a["favorites_count"] == per_article[a["_id"]] for a in articles)
    article_ids = {a["_id"] for a in articles}
    assert all(f["article_id"] in article_ids and f["user_id"] in users for f in favorites)
    assert all(c["article_id"] in article_ids and c["author_id"] in users for c in comments)
    follows = await collection(Follow).find({}).to_list(None)
    assert all(f["follower_id"] in users and f["followee_id"] in users for f in follows)
    assert sorted(c["_id"] for c in comments) == list(range(1, len(comments) + 1))
    counter = await collection(CounterModel).find_one({"_id": "comments"})
    assert counter["seq"] == len(comments)


async def test_seed_refuses_a_database_with_data_unless_dropped_or_appended(app):
    await seed(PLAN, "hash", now=NOW)
    with pytest.raises(EmptyDatabaseRequired):
        await seed(PLAN, "hash", now=NOW)
    await seed(PLAN, "hash", now=NOW, append=True)
    assert await collection(User).count_documents({}) == 2 * PLAN.users
    assert await collection(Comment).count_documents({}) == 2 * PLAN.comments
    await drop_all()
    await seed(PLAN, "hash", now=NOW)
    assert await collection(Article).count_documents({}) == PLAN.articles


async def test_serve_demo_seeds_the_embedded_engine_and_the_demo_user_can_sign_in(settings):
    app = create_app(settings, startup_tasks=[seed_demo])
    async with LifespanManager(app):
        async with client_for(app) as client:
            login = await client.post(
                "/api/users/login", json={"user": {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}}
            )
            listed = await client.get("/api/articles")
    if settings.embedded:
        assert login.status_code == 200
        assert listed.json()["articlesCount"] > 150


async def test_demo_loaded_and_saved_lines_are_information_not_warnings(settings, tmp_path):
    import logging

    from scripts.serve import save_export

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("folio.serve")  # "folio" does not propagate to caplog's root
    logger.addHandler(handler)
    try:
        app = create_app(settings.model_copy(update={"save": str(tmp_path / "kept.jsonl")}),
                         startup_tasks=[seed_demo], shutdown_tasks=[save_export])
        async with LifespanManager(app):
            pass
    finally:
        logger.removeHandler(handler)
    lines = {record.getMessage().split(":")[0].split(" ")[0]: record.levelname for record in records}
    if settings.embedded:
        assert lines == {"Demo": "INFO", "Saved": "INFO"}
    else:
        assert lines["Saved"] == "INFO"


# `folio seed` as an operator runs it -------------------------------------------------------------


def test_seed_refuses_drop_and_append_together():
    from typer.testing import CliRunner

    from scripts.cli import OperatorError
    from scripts.cli import app as cli

    result = CliRunner().invoke(cli, ["seed", "--drop", "--append", "--users", "2"])
    assert isinstance(result.exception, OperatorError)  # `main` prints it as one `folio:` line
    assert "choose one" in str(result.exception)


def test_seed_bounds_every_count():
    from typer.testing import CliRunner

    from scripts.cli import app as cli
    from scripts.seed import MAXIMUM

    for name, maximum in MAXIMUM.items():
        result = CliRunner().invoke(cli, ["seed", f"--{name}", str(maximum + 1)])
        assert result.exit_code == 2 and "less than or equal to" in result.output, name


def test_seed_says_when_it_gives_fewer_than_asked(monkeypatch):
    from typer.testing import CliRunner

    from scripts.cli import app as cli

    monkeypatch.delenv("FOLIO_MONGODB_URL", raising=False)
    result = CliRunner().invoke(cli, ["seed", "--users", "3", "--articles", "4", "--follows", "50",
                                      "--favorites", "2", "--comments", "1"],
                                env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "seeded 6 follows of the 50 asked for: a user follows another at most once" in result.output
    assert "favorites of the 2 asked" not in result.output  # got what it asked for


def test_generation_streams_in_batches_and_keeps_counters_for_the_inc():
    from scripts.seed import BATCH_SIZE, SeedStream

    stream = SeedStream(SeedPlan(users=3, articles=1200, comments=700, follows=2, favorites=5), NOW)
    sizes = [(model.__name__, len(batch)) for model, batch in stream.batches()]
    assert max(size for _, size in sizes) == BATCH_SIZE
    assert [size for name, size in sizes if name == "Article"] == [500, 500, 200]
    assert sum(stream.comments_count.values()) == 700
    assert sum(stream.favorites_count.values()) == 5


@pytest.mark.embedded_only("seeds the embedded engine in a subprocess")
def test_the_first_ctrl_c_stops_a_seed_between_batches():
    import signal
    import subprocess
    import sys
    import time

    from tests.servers import ROOT

    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "seed", "--users", "2000", "--articles", "100000",
         "--comments", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "COLUMNS": "300"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(3)
    process.send_signal(signal.SIGINT)  # once
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "folio: seeding interrupted" in stderr
