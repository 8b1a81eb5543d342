"""Property-based fuzzing of every operation against Folio's own OpenAPI document (schemathesis).

The document is the one the app serves at `/openapi.json`. Schemathesis sends generated requests
to the app in-process (ASGI) and runs the app's lifespan itself; its pytest plugin ends the
lifespan after every test, so each operation's test starts the lifespan anew: a fresh embedded
database, seeded by a start-up task with two users who follow each other, three tagged articles,
a favorite and two comments.

Every request carries the seeded author's `Authorization: Token <jwt>` (moderation operations
alternate a moderator's and an admin's, so that they get past their 403s), and hooks often swap the
generated path parameters (and `tag`/`author`/`favorited` filters) for seeded ones, so handlers
get past their 404s. Each response must pass schemathesis's built-in checks: no 5xx, a documented
status code, the documented content type and a body matching the documented schema.

Generation is bounded and derandomized with a fixed seed, so CI sends the same requests each run.
`pytest -s` prints how many requests each operation made; too few fails the operation.
"""

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from service.articles.slugs import RESERVED_SLUGS
from service.engine.client import Engine
from service.main import create_app
from tests.conftest import client_for, make_settings
from tests.factories import add_comment, create_article, favorite, follow, register

SEED = 20240917
MAX_EXAMPLES = 150  # fuzzing-phase examples per operation; the coverage phase adds its own cases
MIN_REQUESTS_PER_OPERATION = 5  # an operation without parameters has only ~10 distinct cases
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# What the start-up task seeds: slugs follow from the titles and comment ids count from 1 on a
# fresh database; only the token differs from one lifespan to the next.
USERNAMES = ["fuzzer", "other"]
TAGS = ["fuzzing", "python", "mongodb"]
SLUGS = ["fuzzing-apis", "python-and-mongodb", "another-one"]
COMMENTS = [("python-and-mongodb", 1), ("fuzzing-apis", 2)]  # (slug, id): fuzzer's, other's


ADMIN, MODERATOR = "root", "mod"  # FOLIO_ADMINS names root; root makes mod a moderator


@dataclass
class Run:
    token: str = ""  # the `fuzzer` account's, from the lifespan now running
    moderating: list[str] = field(default_factory=list)  # the moderator's and the admin's
    requests: dict[str, dict[int, int]] = field(default_factory=dict)  # label -> status -> count


RUN = Run()


async def seed(app: FastAPI, engine: Engine) -> None:
    """The lifespan's start-up task: create the data through the API, as a client would."""
    async with client_for(app) as client:
        fuzzer = await register(client, "fuzzer")
        other = await register(client, "other")
        mine = await create_article(client, fuzzer, title="Fuzzing APIs", tagList=["fuzzing"])
        theirs = await create_article(
            client, other, title="Python and MongoDB", tagList=["python", "mongodb"]
        )
        third = await create_article(client, other, title="Another one", tagList=["python"])
        await follow(client, fuzzer, "other")
        await follow(client, other, "fuzzer")
        await favorite(client, fuzzer, theirs["slug"])
        own = await add_comment(client, fuzzer, theirs["slug"], "Mine")
        others = await add_comment(client, other, mine["slug"], "Theirs")
        admin = await register(client, ADMIN)
        moderator = await register(client, MODERATOR)
        promoted = await client.put(f"/api/moderation/users/{MODERATOR}", headers=admin.headers,
                                    json={"user": {"role": "moderator"}})
        assert promoted.status_code == 200, promoted.text
    assert [mine["slug"], theirs["slug"], third["slug"]] == SLUGS
    assert [(theirs["slug"], own["id"]), (mine["slug"], others["id"])] == COMMENTS
    RUN.token = fuzzer.token
    RUN.moderating = [moderator.token, admin.token]


# Rate limits count requests per minute of wall-clock time: off, or the run would depend on speed.
APP = create_app(make_settings(rate_limits_enabled=False, admins=[ADMIN]), startup_tasks=[seed])

CONFIG = schemathesis.Config(seed=SEED)
CONFIG.projects.default.generation.update(
    max_examples=MAX_EXAMPLES,
    deterministic=True,
    database="none",
    # The token goes on every request, so the security scheme is not a generated parameter.
    with_security_parameters=False,
)
CONFIG.projects.default.phases.update(phases=["examples", "coverage", "fuzzing"])
CONFIG.output.sanitization.enabled = False  # failure reports show each request as it was sent


async def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The document the app serves, fetched without its lifespan (no database at import)."""
    async with client_for(app) as client:
        return (await client.get("/openapi.json")).raise_for_status().json()


schema = schemathesis.openapi.from_dict(asyncio.run(openapi_document(APP)), config=CONFIG)
# The notification stream never ends while its client listens, and the in-process transport
# waits for a whole answer: tests/test_notification_stream.py covers it with a streaming client.
schema = schema.exclude(path="/api/notifications/stream")
schema.app = APP  # requests go to the app in-process, as with `openapi.from_asgi`
schema.location = "/openapi.json"


@schema.hook
def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: Any) -> Any:
    """Keep the generated path parameters, or name a seeded article, comment or user instead."""
    path = context.operation.path if context.operation else ""
    if "{id}" in path:
        known = [{"slug": slug, "id": str(id_)} for slug, id_ in COMMENTS]
    elif "{slug}" in path:
        known = [{"slug": slug} for slug in SLUGS]
    elif "{username}" in path:
        known = [{"username": username} for username in USERNAMES]
    else:
        known = []
    if not known or not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    if path_parameters.get("slug") in RESERVED_SLUGS:  # `/articles/feed` is another route
        return st.sampled_from([{**path_parameters, **k} for k in known])  # keeps `version`
    return st.sampled_from([path_parameters, *({**path_parameters, **k} for k in known)])


@schema.hook
def flatmap_query(context: schemathesis.HookContext, query: Any) -> Any:
    """Keep the generated query, or filter by a seeded tag or user instead."""
    if not isinstance(query, dict):
        return st.just(query)
    known = {"tag": TAGS, "author": USERNAMES, "favorited": USERNAMES}
    variants = [{**query, key: value} for key in known if key in query for value in known[key]]
    return st.sampled_from([query, *variants]) if variants else st.just(query)


@pytest.fixture(scope="module")
def fuzz_run() -> Iterator[Run]:
    """The whole run; afterwards print the requests per operation and status (`pytest -s`)."""
    RUN.requests.clear()
    started = time.monotonic()
    yield RUN
    total = sum(sum(statuses.values()) for statuses in RUN.requests.values())
    print(f"\nschemathesis {schemathesis.__version__}: {total} requests to "
          f"{len(RUN.requests)} operations in {time.monotonic() - started:.1f} s")
    for label, statuses in RUN.requests.items():
        print(f"  {label}: {sum(statuses.values())} {dict(sorted(statuses.items()))}")


@dataclass
class Tally:
    requests: int = 0
    failed: bool = False


@pytest.fixture
def tally(fuzz_run: Run) -> Iterator[Tally]:
    """Start the lifespan (which seeds) before generation; then check the operation was tested."""
    response = schema["/api/tags"]["GET"].Case().call()
    assert response.status_code == 200, response.text
    assert fuzz_run.token
    counted = Tally()
    yield counted
    # A failing operation stops early; one that passed must really have been exercised.
    if not counted.failed and counted.requests < MIN_REQUESTS_PER_OPERATION:
        pytest.fail(f"only {counted.requests} requests were made")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, tally: Tally) -> None:
    token = RUN.token
    if case.operation.path.startswith("/api/moderation"):
        token = RUN.moderating[tally.requests % 2]  # a moderator, then an admin, in turn
    response = case.call(headers={"Authorization": f"Token {token}"})
    tally.requests += 1
    statuses = RUN.requests.setdefault(case.operation.label, {})
    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    if case.operation.label == "PUT /api/user" and response.status_code == 200:
        RUN.token = response.json()["user"]["token"]  # a new password revokes the old token
    try:
        case.validate_response(response, checks=CHECKS)
    except BaseException:  # schemathesis reports failures as a BaseExceptionGroup
        tally.failed = True
        raise
