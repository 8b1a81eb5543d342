"""Hot paths under contention: one deadline per request, bounded transaction retries, answers
503 for contention, comment ids from per-process blocks, server-computed versions and the
audit log's previous role (issue 18, points 5, 14, 17, 20).

The retry loop of `atomically` is checked on a stand-in session (the adapter's own logic, the
same on every engine); what needs real transactions or real timeouts runs on the wire tier
and MongoDB only, and says so.
"""

import asyncio
import itertools
import time
from contextlib import ExitStack

import httpx
import pytest
from beanie import PydanticObjectId
from pymongo.errors import OperationFailure, WaitQueueTimeoutError

from models import Article, Comment, Counter, Favorite, ModerationEntry, User
from service.articles import counters as article_counters
from service.comments import ids as comment_ids
from service.engine import client as engine_adapter
from service.engine import transactions as engine_transactions
from service.engine.client import Engine, collection
from service.engine.transactions import atomically, deadline, detached, seconds_left
from service.main import create_app
from tests import oplog
from tests.conftest import REAL_MONGODB_URL, TEST_SECRET, client_for, make_settings, serving
from tests.factories import PASSWORD, add_comment, create_article, register
from tests.servers import free_port, running, uvicorn_command

WRITE_CONFLICT = {"errorLabels": ["TransientTransactionError"], "code": 112,
                  "codeName": "WriteConflict", "errmsg": "WriteConflict error"}


def write_conflict() -> OperationFailure:
    """What MongoDB answers a transaction that wrote a document another one holds."""
    return OperationFailure("WriteConflict error", 112, dict(WRITE_CONFLICT))


def unknown_commit() -> OperationFailure:
    """A commit whose outcome the driver could not learn (a failover during it)."""
    return OperationFailure("not primary", 10107, {
        "errorLabels": ["UnknownTransactionCommitResult"], "code": 10107, "errmsg": "x"})


# --- the retry loop of `atomically`, on a stand-in session (any engine) -------------------


class StandInSession:
    """Records what `atomically` does with a session; commits fail as told."""

    def __init__(self, commit_failures: list[Exception]) -> None:
        self.commit_failures = commit_failures
        self.started = self.committed = self.aborted = 0
        self.in_transaction = False

    async def __aenter__(self) -> "StandInSession":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def start_transaction(self) -> None:
        self.started += 1
        self.in_transaction = True

    async def commit_transaction(self) -> None:
        if self.commit_failures:
            raise self.commit_failures.pop(0)
        self.in_transaction = False
        self.committed += 1

    async def abort_transaction(self) -> None:
        self.in_transaction = False
        self.aborted += 1


@pytest.fixture
def stand_in(monkeypatch):
    """An open engine that has transactions, whose sessions are StandInSessions."""

    def install(commit_failures=()):
        session = StandInSession(list(commit_failures))

        class Client:
            async def start_session(self):
                return session

        engine = Engine(client=Client(), database=None, embedded=False, transactions=True)
        monkeypatch.setattr(engine_adapter, "_current", engine)
        return session

    return install


async def test_a_transaction_that_keeps_conflicting_gives_up_at_the_deadline(stand_in):
    session = stand_in()
    attempts = []

    async def work(current):
        attempts.append(time.monotonic())
        raise write_conflict()

    started = time.monotonic()
    with deadline(0.3), pytest.raises(OperationFailure) as raised:
        await atomically(work)
    elapsed = time.monotonic() - started
    assert raised.value.has_error_label("TransientTransactionError")
    assert elapsed < 0.3 + 0.1  # never past the deadline (Motor's own loop: 120 s)
    assert 3 <= len(attempts) and session.aborted == len(attempts)
    pauses = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert all(pause >= engine_transactions.BACKOFF_FIRST_SECONDS / 2 for pause in pauses)
    assert pauses[-1] > pauses[0]  # exponential


async def test_outside_a_request_the_retries_stop_after_the_retry_limit(stand_in, monkeypatch):
    stand_in()
    monkeypatch.setattr(engine_transactions, "RETRY_LIMIT_SECONDS", 0.2)

    async def work(current):
        raise write_conflict()

    started = time.monotonic()
    with pytest.raises(OperationFailure):
        await atomically(work)
    assert time.monotonic() - started < 0.3


async def test_a_conflict_that_passes_is_retried_until_the_transaction_commits(stand_in):
    session = stand_in()
    conflicts = [write_conflict(), write_conflict()]

    async def work(current):
        assert current is session
        if conflicts:
            raise conflicts.pop()
        return "done"

    with deadline(5):
        assert await atomically(work) == "done"
    assert (session.started, session.aborted, session.committed) == (3, 2, 1)


async def test_an_unknown_commit_result_retries_the_commit_not_the_work(stand_in):
    session = stand_in(commit_failures=[unknown_commit()])
    runs = []

    async def work(current):
        runs.append(1)
        return len(runs)

    assert await atomically(work) == 1
    assert (len(runs), session.committed) == (1, 1)


async def test_a_conflict_at_commit_runs_the_whole_transaction_again(stand_in):
    session = stand_in(commit_failures=[write_conflict()])
    runs = []

    async def work(current):
        runs.append(1)

    await atomically(work)
    assert (len(runs), session.started, session.committed) == (2, 2, 1)


async def test_any_other_error_aborts_at_once_without_a_retry(stand_in):
    session = stand_in()

    async def work(current):
        raise OperationFailure("bad value", 2)

    with pytest.raises(OperationFailure):
        await atomically(work)
    assert (session.started, session.aborted) == (1, 1)


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap():
    for attempt in range(12):
        ceiling = min(engine_transactions.BACKOFF_MAX_SECONDS,
                      engine_transactions.BACKOFF_FIRST_SECONDS * 2**attempt)
        pauses = {engine_transactions.backoff_seconds(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= pause <= ceiling for pause in pauses)
        assert len(pauses) > 1  # jittered: conflicting transactions do not retry in step


async def test_the_deadline_is_per_task_and_detached_work_has_none():
    seen = {}

    async def background():
        seen["left"] = seconds_left()

    assert seconds_left() is None
    with deadline(5):
        assert 4 < seconds_left() <= 5
        with deadline(30):  # a nested deadline can only shorten it, as pymongo.timeout's
            assert seconds_left() <= 5
        await detached(background)
        other = asyncio.create_task(asyncio.sleep(0, result=seconds_left()))
        assert await other is not None  # an ordinary task copies the request's context
    assert seen == {"left": None}
    assert seconds_left() is None


# --- answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [
    write_conflict(),
    WaitQueueTimeoutError("Timed out while checking out a connection from connection pool"),
], ids=["transaction-retries-exhausted", "connection-pool-exhausted"])
async def test_contention_answers_503_with_retry_after(client, monkeypatch, error):
    # Any engine: the driver's errors are raised by hand, as MongoDB would cause them.
    async def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr("service.tags.router.queries.all_tags", failing)
    response = await client.get("/api/tags")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"errors": {"database": ["is busy; try again shortly"]}}


# --- real transactions and timeouts: the wire tier and MongoDB -----------------------------


def needs_a_server(settings) -> None:
    """Skip on the embedded engine: it has no transactions and no timeouts."""
    if settings.embedded:
        pytest.skip("the embedded engine has no transactions and ignores timeouts")


async def test_a_favorite_that_keeps_conflicting_answers_503_within_the_deadline(monkeypatch):
    # Wire tier and MongoDB. mongoeco's `hello` names no replica set although it runs
    # transactions, so the test says the engine has them (as test_reliability does).
    settings = make_settings(operation_timeout_ms=1000)
    needs_a_server(settings)
    async with serving(create_app(settings)) as application, client_for(application) as client:
        application.state.engine.transactions = True
        jake, anna = await register(client), await register(client)
        article = await create_article(client, jake)
        calls = []

        async def conflicting(article_id, counter, delta, session=None):
            assert session is not None  # inside the transaction
            calls.append(1)
            raise write_conflict()

        monkeypatch.setattr(article_counters, "move_counter", conflicting)
        started = time.monotonic()
        response = await asyncio.wait_for(
            client.post(f"/api/articles/{article['slug']}/favorite", headers=anna.headers),
            timeout=10,  # Motor's with_transaction would spin for 120 s
        )
        assert time.monotonic() - started < 1.5
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert len(calls) > 2  # it did retry, with pauses, until the deadline
        assert await collection(Favorite).count_documents({}) == 0


async def test_a_favorite_retried_after_conflicts_counts_once(app, client, settings,
                                                              monkeypatch):
    # Wire tier and MongoDB (see above for `transactions`).
    needs_a_server(settings)

    app.state.engine.transactions = True
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    original, conflicts = article_counters.move_counter, [write_conflict(), write_conflict()]

    async def conflicting_twice(article_id, counter, delta, session=None):
        result = await original(article_id, counter, delta, session)
        if conflicts:
            raise conflicts.pop()  # after the write: the abort must take it back
        return result

    monkeypatch.setattr(article_counters, "move_counter", conflicting_twice)
    response = await client.post(f"/api/articles/{article['slug']}/favorite",
                                 headers=anna.headers)
    assert response.status_code == 200
    assert response.json()["article"]["favoritesCount"] == 1
    assert await collection(Favorite).count_documents({}) == 1
    stored = await collection(Article).find_one({"slug": article["slug"]})
    assert stored["favorites_count"] == 1


async def test_the_hot_article_is_written_first_in_the_transaction(app, client, settings):
    # Wire tier and MongoDB: the order of the statements inside the transaction.
    needs_a_server(settings)
    app.state.engine.transactions = True
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    for path in ("favorite", "comments"):
        body = {"comment": {"body": "hi"}} if path == "comments" else None
        with oplog.recording() as log:
            response = await client.post(f"/api/articles/{article['slug']}/{path}", json=body,
                                         headers=anna.headers)
        assert response.status_code in (200, 201)
        writes = [op for op in log.operations
                  if op[1] in ("findAndModify", "find_one_and_update", "insert", "insert_one")
                  and op[0] in ("articles", "favorites", "comments")]
        assert writes[0][0] == "articles", log.operations


async def test_all_of_a_request_shares_one_deadline(monkeypatch):
    # Wire tier and MongoDB: the embedded engine ignores timeouts. With a budget per
    # operation only, the read after the pause would get a fresh 300 ms and succeed.
    settings = make_settings(operation_timeout_ms=300)
    needs_a_server(settings)
    async def slow_then_read(*args, **kwargs):
        await asyncio.sleep(0.4)
        await collection(Article).find_one({})
        return []

    async with serving(create_app(settings)) as application, client_for(application) as client:
        monkeypatch.setattr("service.tags.router.queries.all_tags", slow_then_read)
        response = await client.get("/api/tags")
    assert response.status_code == 504, response.text


# --- comment ids from per-process blocks (point 14) ---------------------------------------


async def test_comment_ids_come_from_a_block_reserved_once_per_process(client):
    jake = await register(client)
    article = await create_article(client, jake)
    first = await add_comment(client, jake, article["slug"])
    with oplog.recording() as log:
        others = [await add_comment(client, jake, article["slug"]) for _ in range(5)]
    assert not [op for op in log.operations if op[0] == "counters"]
    ids = [first["id"], *(comment["id"] for comment in others)]
    assert ids == list(range(ids[0], ids[0] + 6))
    stored = await collection(Counter).find_one({"_id": "comments"})
    assert stored["seq"] == comment_ids.ID_BLOCK_SIZE  # one `$inc` of a whole block


async def test_two_processes_never_hand_out_the_same_id(app, monkeypatch):
    # Two processes are two engines on one database (each keeps its own blocks); on the wire
    # tier and MongoDB the database is a real shared server.
    monkeypatch.setattr(comment_ids, "ID_BLOCK_SIZE", 3)
    engines = [engine_adapter.current_engine(),
               Engine(client=app.state.engine.client, database=app.state.engine.database,
                      embedded=app.state.engine.embedded)]
    handed: list[int] = []
    for turn in range(20):
        monkeypatch.setattr(engine_adapter, "_current", engines[0 if turn % 3 else 1])
        handed.append(await comment_ids.next_id("comments"))
        if turn == 7:  # the seed reserves a range of the same sequence meanwhile
            last = await comment_ids.next_sequence("comments", 4)
            handed.extend(range(last - 3, last + 1))
    assert len(handed) == len(set(handed))
    assert min(handed) >= 1


async def test_concurrent_comments_in_one_process_share_one_reservation(app):
    ids = await asyncio.gather(*(comment_ids.next_id("comments") for _ in range(50)))
    assert sorted(ids) == list(range(1, 51))
    assert (await collection(Counter).find_one({"_id": "comments"}))["seq"] == 100


# --- a comment's version comes from the server (point 17) ---------------------------------


async def test_a_comment_without_a_version_is_never_set_back(app, client):
    from service.comments.queries import update_comment

    jake = await register(client)
    article = await create_article(client, jake)
    posted = await add_comment(client, jake, article["slug"])
    # Read as it was stored before versions existed...
    await collection(Comment).update_one({"_id": posted["id"]}, {"$unset": {"version": ""}})
    read = await collection(Comment).find_one({"_id": posted["id"]})
    assert "version" not in read
    # ...then moved on by other writes before this one lands (no If-Match).
    await collection(Comment).update_one({"_id": posted["id"]}, {"$set": {"version": 5}})
    author = await User.find_one({"username": jake.username})
    updated = await update_comment(read, author, "$body is kept as text")
    assert updated["version"] == 6
    stored = await collection(Comment).find_one({"_id": posted["id"]})
    assert (stored["version"], stored["body"]) == (6, "$body is kept as text")


async def test_an_old_comment_gets_version_two_at_its_first_edit(app, client):
    jake = await register(client)
    article = await create_article(client, jake)
    posted = await add_comment(client, jake, article["slug"])
    await collection(Comment).update_one({"_id": posted["id"]}, {"$unset": {"version": ""}})
    response = await client.put(f"/api/articles/{article['slug']}/comments/{posted['id']}",
                                json={"comment": {"body": "edited"}}, headers=jake.headers)
    assert response.status_code == 200, response.text
    assert (await collection(Comment).find_one({"_id": posted["id"]}))["version"] == 2


# --- the audit log's previous role (point 20) ---------------------------------------------


async def test_the_role_log_names_the_role_the_write_replaced(app, client):
    from service.moderation.queries import store_role

    await register(client, "boss")
    target_account = await register(client)
    admin = await User.find_one({"username": "boss"})
    stale = await User.find_one({"username": target_account.username})
    assert stale.role == "author"
    # Another admin made the account a moderator after `stale` was read.
    await collection(User).update_one({"_id": stale.id}, {"$set": {"role": "moderator"}})
    await store_role(stale, "admin", admin)
    entries = await collection(ModerationEntry).find({"action": "set_role"}).to_list(None)
    assert [(e["details"]["previous"], e["details"]["role"]) for e in entries] == [
        ("moderator", "admin")]
    # Setting the role it already holds logs nothing, whatever the stale copy says.
    await store_role(stale, "admin", admin)
    assert await collection(ModerationEntry).count_documents({"action": "set_role"}) == 1
    assert isinstance(stale.id, PydanticObjectId)


@pytest.mark.skipif(REAL_MONGODB_URL is None, reason="needs a database server two processes "
                    "share (the wire tier, or FOLIO_TEST_MONGODB_URL)")
async def test_two_uvicorn_processes_hand_out_disjoint_comment_ids():
    # Wire tier and MongoDB: two real processes, each with its own block of ids.
    settings = make_settings()
    env = {"FOLIO_MONGODB_URL": REAL_MONGODB_URL, "FOLIO_DATABASE": settings.database,
           "FOLIO_JWT_SECRET": TEST_SECRET, "FOLIO_ARGON2_TIME_COST": "1",
           "FOLIO_ARGON2_MEMORY_COST_KIB": "8", "FOLIO_ARGON2_PARALLELISM": "1"}
    async with serving(create_app(settings)):
        with ExitStack() as stack:
            processes = []
            for _ in range(2):
                port = free_port()
                stack.enter_context(running(uvicorn_command("service.main:app", port), port, env))
                processes.append(stack.enter_context(
                    httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)))
            user = {"username": "jake", "email": "jake@example.com", "password": PASSWORD}
            token = processes[0].post("/api/users", json={"user": user}).json()["user"]["token"]
            headers = {"Authorization": f"Token {token}"}
            article = {"title": "T", "description": "d", "body": "b", "tagList": []}
            slug = processes[0].post("/api/articles", json={"article": article},
                                     headers=headers).json()["article"]["slug"]
            ids = {0: [], 1: []}
            for turn in range(6):
                response = processes[turn % 2].post(f"/api/articles/{slug}/comments", headers=headers,
                                                    json={"comment": {"body": f"c{turn}"}})
                assert response.status_code == 201, response.text
                ids[turn % 2].append(response.json()["comment"]["id"])
            every = ids[0] + ids[1]
            assert len(set(every)) == 6
            assert ids[0] == list(range(ids[0][0], ids[0][0] + 3))  # each from its own block
            assert ids[1] == list(range(ids[1][0], ids[1][0] + 3))
            assert abs(ids[0][0] - ids[1][0]) >= comment_ids.ID_BLOCK_SIZE
            listed = processes[1].get(f"/api/articles/{slug}/comments").json()["comments"]
            assert sorted(comment["id"] for comment in listed) == sorted(every)
