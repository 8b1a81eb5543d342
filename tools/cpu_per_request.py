"""Folio's own CPU per request on the wire tier, against a bare FastAPI floor (issue 21).

    python -m tools.cpu_per_request [--requests 400] [--rounds 3] [--json out.json]
        [--compare DIR] [--mongodb-url URL]

What limits throughput on a real MongoDB is Folio's own CPU per request, so this measures it:

- the wire tier's server (mongoeco, in .wire-venv, as `.ci/wire-tier` starts it) runs in its own
  process, so its CPU is not counted; or, with `--mongodb-url`, a MongoDB of yours (a real one:
  the figures that matter in production), where this tool drops and seeds its own databases
  `folio_cpu` and `folio_cpu_compare`;
- fresh data is seeded through Folio's own code (`folio db sync`'s `sync`, then scripts/seed.py):
  10 users, 60 articles, follows and favorites;
- Folio runs under uvicorn (one worker, uvloop, httptools, no access log, rate limits off) in a
  subprocess, and the floor (tools/cpu_floor.py: a bare FastAPI app answering a fixed 20-article
  RealWorld page through a pydantic response model) in another, with the same flags;
- beside them the **stack floor** (`tools.cpu_floor:stack`, same flags): the floor's answers,
  each after one operation through a bare Motor client, as Folio's reads make them (the first
  page's `find`, the same by tag, an article's `find_one` by slug). What the fixed stack
  (FastAPI, Motor, the wire tier's server) costs per request with no Folio code on the path;
  each Folio row is also shown above the stack floor of the operation it makes;
- for each endpoint, after a warm-up, N sequential requests go over one keep-alive connection,
  and the server process's CPU (utime + stime of all its threads, /proc/<pid>/stat) is read
  before and after. Every answer must be a 200 of the expected shape, so nothing is tuned away.

It prints the median over the rounds of each endpoint's CPU per request and its multiple of the
floor measured in the same run. Every process it starts is stopped by its pid, whatever happens.
"""

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
WIRE_PYTHON = ROOT / ".wire-venv" / "bin" / "python"
UVICORN_FLAGS = ["--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                 "--log-level", "warning", "--host", "127.0.0.1"]
LIST_KEYS = {"slug", "title", "description", "tagList", "createdAt", "updatedAt", "favorited",
             "favoritesCount", "author"}
TICKS = os.sysconf("SC_CLK_TCK")
DATABASE, COMPARED_DATABASE = "folio_cpu", "folio_cpu_compare"
STACK_FIND = "stack floor: one find (no Folio)"
STACK_FIND_TAG = "stack floor: one find by tag (no Folio)"
STACK_FIND_ONE = "stack floor: one find_one (no Folio)"
STACK_SIGNED_IN = "stack floor: the signed-in page's aggregation (no Folio)"
STACK_SIGNED_IN_ONE = "stack floor: the signed-in article's aggregation (no Folio)"
STACK_WAIT = "stack floor: no operation, an idle wait as long as the find's"
UNCOMPARED = {"floor", STACK_FIND, STACK_FIND_TAG, STACK_FIND_ONE, STACK_SIGNED_IN,
              STACK_SIGNED_IN_ONE, STACK_WAIT}  # not Folio: never compared, no operations counted
# Each Folio endpoint and the bare operation it makes (the signed-in ones add the viewer's joins).
STACKED_ON = {"list": STACK_FIND, "tag list": STACK_FIND_TAG,
              "feed (signed in)": STACK_SIGNED_IN, "list (signed in)": STACK_SIGNED_IN,
              "single article": STACK_FIND_ONE,
              "single article (signed in)": STACK_SIGNED_IN_ONE}
# The targets, as multiples of the floor.
TARGETS = {"list": 3, "tag list": 3, "single article": 3, "feed (signed in)": 4,
           "list (signed in)": 4, "single article (signed in)": 4}


def free_port() -> int:
    """A free local TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int, clock: str = "stat") -> float:
    """CPU time of a process so far: utime + stime of all its threads from /proc/<pid>/stat
    (clock ticks), or with `schedstat` the nanoseconds on CPU of each of its live threads."""
    if clock == "schedstat":
        total = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass  # the thread ended between the listing and the read
        return total / 1e9
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5)


class Processes:
    """The processes this run started, each stopped by its pid at the end."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, command: list[str], log: Path, env: dict[str, str] | None = None,
              cwd: Path = ROOT) -> subprocess.Popen:
        """Start one process with its output in `log`."""
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                       cwd=cwd)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        """SIGTERM each (newest first), then SIGKILL what has not stopped in 10 s."""
        for process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.started):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def wait_until(ready: Callable[[], bool], process: subprocess.Popen, log: Path, what: str,
               seconds: float = 60) -> None:
    """Poll until `ready()`, failing with the log when the process dies or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"cpu_per_request: {what} stopped:\n{log.read_text()[-3000:]}")
        try:
            if ready():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    sys.exit(f"cpu_per_request: {what} did not start in {seconds:.0f} s:\n{log.read_text()[-3000:]}")


def http_ready(base: str, path: str) -> Callable[[], bool]:
    """Whether `base + path` answers 200."""
    return lambda: httpx.get(base + path, timeout=2).status_code == 200


async def drop_databases(url: str, names: list[str]) -> None:
    """Drop these databases of the server at `url` (this tool's own, before seeding them)."""
    from motor.motor_asyncio import AsyncIOMotorClient

    client = AsyncIOMotorClient(url, serverSelectionTimeoutMS=10_000)
    try:
        for name in names:
            await client.drop_database(name)
    finally:
        client.close()


async def seed_data(settings: Any) -> dict[str, Any]:
    """Sync the database and seed it through Folio's own code; pick the signed-in viewer.

    The viewer is the user who follows the most authors of live articles (ties: most
    favorites), so that the feed and the signed-in flags have something to show.
    """
    from models import Article, Favorite, Follow, User
    from scripts.dbtools import sync
    from scripts.seed import DEMO_PASSWORD, SeedPlan, seed
    from service.engine import collection, open_engine
    from service.users.credentials import Passwords

    engine = await open_engine(settings)
    try:
        await sync(engine)
        password_hash = await Passwords(settings).hash(DEMO_PASSWORD)
        await seed(SeedPlan(users=10, articles=60, comments=60, follows=40, favorites=120),
                   password_hash)
        authors = {a["author_id"] async for a in collection(Article).find(
            {"status": "published"}, {"author_id": 1})}
        score: dict[Any, list[int]] = {}
        async for follow in collection(Follow).find({}):
            if follow["followee_id"] in authors:
                score.setdefault(follow["follower_id"], [0, 0])[0] += 1
        async for favorite in collection(Favorite).find({}):
            score.setdefault(favorite["user_id"], [0, 0])[1] += 1
        viewer_id = max(score, key=lambda user: score[user])
        viewer = await collection(User).find_one({"_id": viewer_id})
        return {"email": viewer["email"], "password": DEMO_PASSWORD, "id": str(viewer_id)}
    finally:
        engine.close()


def _fail(body: Any) -> None:
    raise AssertionError(body)


def check_page(body: Any, *, tag: str | None = None, feed: bool = False) -> None:
    """A list page of the RealWorld shape: 1 to 20 articles without bodies, and a count."""
    assert isinstance(body, dict) and isinstance(body.get("articles"), list), body
    articles = body["articles"]
    assert 1 <= len(articles) <= 20, f"{len(articles)} articles"
    assert isinstance(body.get("articlesCount"), int) and body["articlesCount"] >= len(articles)
    for article in articles:
        assert LIST_KEYS <= article.keys() and "body" not in article, sorted(article)
        assert isinstance(article["author"].get("following"), bool), article["author"]
        assert isinstance(article["favorited"], bool)
        if tag is not None:
            assert tag in article["tagList"], (tag, article["tagList"])
        if feed:
            assert article["author"]["following"] is True, "a feed article by an unfollowed author"


def check_article(body: Any, slug: str) -> None:
    """A single article of the RealWorld shape, with its body."""
    assert isinstance(body, dict) and isinstance(body.get("article"), dict), body
    article = body["article"]
    assert article["slug"] == slug and isinstance(article.get("body"), str)
    assert LIST_KEYS <= article.keys(), sorted(article)
    assert isinstance(article["author"].get("following"), bool)


def check_single(body: Any) -> None:
    """The stack floor's fixed article."""
    assert isinstance(body, dict) and isinstance(body.get("article"), dict), body


def latency_ms(client: httpx.Client, path: str, requests: int = 50) -> float:
    """The median wall time of `requests` sequential answers to `path`, in milliseconds."""
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        times.append(time.perf_counter() - started)
    return max(0.0, statistics.median(times) * 1000)


def database_operations(client: httpx.Client) -> float:
    """Folio's count of database operations so far (its /metrics, outside the measured span)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in client.get("/metrics").text.splitlines()
               if line.startswith("folio_db_operations_total{"))


Endpoint = tuple[httpx.Client, int, str, dict[str, str], Callable[[Any], None]]


def py_spy(pid: int, output: Path) -> subprocess.Popen:
    """Start py-spy sampling process `pid` (collapsed stacks into `output`) until interrupted."""
    sampler = subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--rate",
         "2000", "--format", "raw", "--output", str(output), "--nonblocking", "--gil"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # attached
    return sampler


def measure_group(group: dict[str, Endpoint], requests: int, chunks: int, warmup: int,
                  clock: str, profiles: Path | None = None) -> dict[str, tuple[float, float | None]]:
    """CPU seconds per request of each endpoint of `group`, measured in turn in `chunks` slices
    of `requests // chunks` (so that the machine's drift falls on all of them alike), every
    answer checked; and database operations per request for Folio's endpoints (not
    UNCOMPARED). With `profiles`, py-spy samples each Folio process meanwhile."""
    def one(name: str) -> None:
        client, _, path, headers, check = group[name]
        response = client.get(path, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"cpu_per_request: {path} answered {response.status_code}: "
                             f"{response.text[:500]}")
        check(response.json())

    folio = [name for name in group if name not in UNCOMPARED]
    for name in group:
        for _ in range(warmup):
            one(name)
    samplers = []
    if profiles is not None:
        profiles.mkdir(parents=True, exist_ok=True)
        samplers = [py_spy(group[name][1], profiles / (
            name.replace(" ", "_").replace("(", "").replace(")", "") + ".txt")) for name in folio]
    try:
        operations_before = {name: database_operations(group[name][0]) for name in folio}
        spent = dict.fromkeys(group, 0.0)
        per_chunk = max(1, requests // chunks)
        for _ in range(chunks):
            for name in group:
                pid = group[name][1]
                before = cpu_seconds(pid, clock)
                for _ in range(per_chunk):
                    one(name)
                spent[name] += cpu_seconds(pid, clock) - before
        done = per_chunk * chunks
        return {name: (spent[name] / done,
                       (database_operations(group[name][0]) - operations_before[name]) / done
                       if name in folio else None) for name in group}
    finally:
        for sampler in samplers:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(30)


def main() -> None:
    """Start the three processes, seed, measure every endpoint, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests first")
    parser.add_argument("--chunks", type=int, default=8,
                        help="slices each endpoint's requests are measured in, interleaved with "
                             "the floor's, its stack floor's and its compared twin's")
    parser.add_argument("--clock", choices=["stat", "schedstat"], default="schedstat",
                        help="stat: utime+stime from /proc/<pid>/stat (clock ticks); schedstat: "
                             "nanoseconds on CPU of each live thread")
    parser.add_argument("--only", default=None, help="comma-separated endpoint names to measure")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.add_argument("--compare", type=Path, default=None,
                        help="another checkout of Folio (e.g. `git worktree add /tmp/before main`): "
                             "run it too, on its own copy of the same data, each endpoint "
                             "measured on both in turn (rows marked [compare]), for a "
                             "before/after in one run")
    parser.add_argument("--profile", type=Path, default=None,
                        help="a directory: record each endpoint's stacks in Folio with py-spy "
                             "(collapsed format; `pip install py-spy`) while it is measured; "
                             "the sampler's own cost inflates that run's figures")
    parser.add_argument("--mongodb-url", default=None,
                        help="measure against this MongoDB instead of starting the wire tier's "
                             f"server; the databases {DATABASE} and {COMPARED_DATABASE} there are "
                             "dropped and seeded afresh")
    args = parser.parse_args()
    if args.mongodb_url is None and not WIRE_PYTHON.exists():
        sys.exit("cpu_per_request: .wire-venv is missing; run `bash .ci/wire-tier` once (or link "
                 "it) to install the wire-tier server")
    # A SIGTERM to this run stops its processes too (the `finally` below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="folio-cpu-"))
    processes = Processes()
    try:
        figures = run(args, processes, workdir)
    finally:
        processes.stop_all()
    report(figures, args)


@dataclass
class Figures:
    """Per endpoint, one value per measurement: CPU seconds per request, database operations
    per request, the multiple of the floor measured beside it, and how far above its stack
    floor (in floors)."""

    results: dict[str, list[float]]
    trips: dict[str, list[float]]
    ratios: dict[str, list[float]]
    above: dict[str, list[float]]


def run(args: argparse.Namespace, processes: Processes, workdir: Path) -> Figures:
    """Everything between starting the processes and stopping them."""
    from service.config import Settings

    folio_port, floor_port = free_port(), free_port()
    url = args.mongodb_url
    if url is None:
        wire_port, wire_log = free_port(), workdir / "wire.log"
        wire = processes.start([str(WIRE_PYTHON), ".ci/wire_server.py", str(wire_port)], wire_log)
        wait_until(lambda: "listening" in wire_log.read_text(), wire, wire_log, "the wire server")
        url = f"mongodb://127.0.0.1:{wire_port}/?directConnection=true"
    else:  # a server of the user's: this tool's own databases only, dropped to start afresh
        asyncio.run(drop_databases(url, [DATABASE, COMPARED_DATABASE]))

    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env.update({
        "FOLIO_MONGODB_URL": url,
        "FOLIO_DATABASE": DATABASE,
        "FOLIO_JWT_SECRET": secrets.token_hex(32),
        "FOLIO_RATE_LIMITS_ENABLED": "false",
    })
    settings = Settings(mongodb_url=env["FOLIO_MONGODB_URL"], database=env["FOLIO_DATABASE"],
                        jwt_secret=env["FOLIO_JWT_SECRET"])
    viewer = asyncio.run(seed_data(settings))

    folio_log, floor_log = workdir / "folio.log", workdir / "floor.log"
    folio = processes.start([sys.executable, "-m", "uvicorn", "service.main:app", "--port",
                             str(folio_port), *UVICORN_FLAGS], folio_log, env)
    floor = processes.start([sys.executable, "-m", "uvicorn", "tools.cpu_floor:app", "--port",
                             str(floor_port), *UVICORN_FLAGS], floor_log, env)
    stack_port, stack_log = free_port(), workdir / "stack.log"
    stack = processes.start([sys.executable, "-m", "uvicorn", "--factory", "tools.cpu_floor:stack",
                             "--port", str(stack_port), *UVICORN_FLAGS], stack_log, env)
    stack_base = f"http://127.0.0.1:{stack_port}"
    folio_base, floor_base = f"http://127.0.0.1:{folio_port}", f"http://127.0.0.1:{floor_port}"
    wait_until(http_ready(folio_base, "/healthz"), folio, folio_log, "Folio")
    wait_until(http_ready(floor_base, "/api/articles"), floor, floor_log, "the floor")
    wait_until(http_ready(stack_base, "/api/articles"), stack, stack_log, "the stack floor")
    other, other_base = None, ""
    if args.compare:
        # Its own copy of the data (the seed is reproducible), so that each Folio holds its own
        # event drain's lease and does the same background work, as a lone process does.
        other_env = {**env, "FOLIO_DATABASE": COMPARED_DATABASE}
        asyncio.run(seed_data(settings.model_copy(update={"database": COMPARED_DATABASE})))
        other_port, other_log = free_port(), workdir / "compare.log"
        other = processes.start([sys.executable, "-m", "uvicorn", "service.main:app", "--port",
                                 str(other_port), *UVICORN_FLAGS], other_log, other_env,
                                cwd=args.compare.resolve())
        other_base = f"http://127.0.0.1:{other_port}"
        wait_until(http_ready(other_base, "/healthz"), other, other_log, "the compared Folio")

    with httpx.Client(base_url=folio_base, timeout=30) as folio_client, \
            httpx.Client(base_url=floor_base, timeout=30) as floor_client, \
            httpx.Client(base_url=stack_base, timeout=30) as stack_client, \
            httpx.Client(base_url=other_base or folio_base, timeout=30) as other_client:
        viewer_id = viewer.pop("id")
        login = folio_client.post("/api/users/login", json={"user": viewer})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Token {login.json()['user']['token']}"}
        other_auth = auth
        if other is not None:
            other_login = other_client.post("/api/users/login", json={"user": viewer})
            assert other_login.status_code == 200, other_login.text
            other_auth = {"Authorization": f"Token {other_login.json()['user']['token']}"}
        tags = folio_client.get("/api/tags").json()["tags"]
        tag = tags[0]
        anonymous = folio_client.get("/api/articles?limit=20").json()
        slug = anonymous["articles"][0]["slug"]
        signed_in = folio_client.get("/api/articles?limit=20", headers=auth).json()
        assert any(a["author"]["following"] or a["favorited"] for a in signed_in["articles"]), \
            "the viewer follows and favorites nothing on the first page: the signed-in flags go unchecked"
        wait_ms = latency_ms(stack_client, "/api/articles") - latency_ms(floor_client,
                                                                          "/api/articles")
        endpoints: dict[str, tuple[httpx.Client, int, str, dict[str, str], Callable[[Any], None]]] = {
            "floor": (floor_client, floor.pid, "/api/articles", {}, check_page),
            # Not Folio: the stack's own cost of one such operation (tools/cpu_floor.py).
            STACK_FIND: (stack_client, stack.pid, "/api/articles", {}, check_page),
            STACK_FIND_TAG: (stack_client, stack.pid, f"/api/articles?tag={tag}", {}, check_page),
            STACK_FIND_ONE: (stack_client, stack.pid, f"/api/articles/{slug}", {}, check_single),
            STACK_SIGNED_IN: (stack_client, stack.pid, f"/api/articles?viewer={viewer_id}", {},
                              check_page),
            STACK_SIGNED_IN_ONE: (stack_client, stack.pid,
                                  f"/api/articles/{slug}?viewer={viewer_id}", {}, check_single),
            # Waiting alone, as long as the stack floor's find keeps the process waiting.
            STACK_WAIT: (stack_client, stack.pid, f"/api/wait?ms={wait_ms:.2f}", {}, check_page),
            # Not a target: Folio's own fixed cost (middleware, routing, logging, metrics)
            # around an endpoint that reads no database.
            "healthz (no database)": (folio_client, folio.pid, "/healthz", {},
                                      lambda body: body == {"status": "ok"} or _fail(body)),
            "list": (folio_client, folio.pid, "/api/articles?limit=20", {}, check_page),
            "tag list": (folio_client, folio.pid, f"/api/articles?tag={tag}&limit=20", {},
                         lambda body: check_page(body, tag=tag)),
            "single article": (folio_client, folio.pid, f"/api/articles/{slug}", {},
                               lambda body: check_article(body, slug)),
            "feed (signed in)": (folio_client, folio.pid, "/api/articles/feed?limit=20", auth,
                                 lambda body: check_page(body, feed=True)),
            "list (signed in)": (folio_client, folio.pid, "/api/articles?limit=20", auth,
                                 check_page),
            "single article (signed in)": (folio_client, folio.pid, f"/api/articles/{slug}", auth,
                                           lambda body: check_article(body, slug)),
        }
        if other is not None:
            for name, (_, _, path, headers, check) in list(endpoints.items()):
                if name not in UNCOMPARED:
                    endpoints[f"{name} [compare]"] = (other_client, other.pid, path,
                                                      other_auth if headers else {}, check)
        chosen = args.only.split(",") if args.only else list(endpoints)
        wanted = {"floor", STACK_WAIT, *chosen, *(STACKED_ON[name] for name in chosen
                                                   if name in STACKED_ON)}
        wanted |= {f"{name} [compare]" for name in wanted}
        # Each endpoint on this Folio, then at once on the compared one: the same conditions.
        order = [name for base in endpoints if not base.endswith("[compare]")
                 for name in (base, f"{base} [compare]") if name in endpoints]
        results: dict[str, list[float]] = {name: [] for name in order if name in wanted}
        trips: dict[str, list[float]] = {name: [] for name in results if name not in UNCOMPARED}
        # Per group: each endpoint over the floor measured beside it, and above its stack floor.
        ratios: dict[str, list[float]] = {}
        above: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            # Each endpoint in turn with the floor, the stack floor of its operation and its
            # compared twin, interleaved: the ratios come from samples taken side by side.
            for name in [name for name in results
                         if name not in UNCOMPARED and not name.endswith("[compare]")]:
                members = ["floor", STACKED_ON.get(name), name, f"{name} [compare]"]
                group = {member: endpoints[member] for member in members
                         if member is not None and member in results}
                figures = measure_group(group, args.requests, args.chunks, args.warmup,
                                        args.clock, args.profile)
                floor, stacked = figures["floor"][0], figures.get(STACKED_ON.get(name) or "")
                if floor <= 0:
                    raise SystemExit("cpu_per_request: the floor measured no CPU at all; "
                                     "measure more requests, or use --clock schedstat")
                for member, (cpu, operations) in figures.items():
                    results[member].append(cpu)
                    ratios.setdefault(member, []).append(cpu / floor)
                    if operations is not None:
                        trips[member].append(operations)
                        if stacked is not None:
                            above.setdefault(member, []).append((cpu - stacked[0]) / floor)
            for name in [name for name in UNCOMPARED if name in results and not any(
                    STACKED_ON.get(endpoint) == name for endpoint in results)]:
                if name != "floor":  # a stack floor no measured endpoint makes: on its own
                    figures = measure_group({"floor": endpoints["floor"], name: endpoints[name]},
                                            args.requests, args.chunks, args.warmup, args.clock)
                    results[name].append(figures[name][0])
                    results["floor"].append(figures["floor"][0])
                    ratios.setdefault(name, []).append(
                        figures[name][0] / max(figures["floor"][0], 1e-9))
    return Figures(results, trips, ratios, above)


def report(figures: "Figures", args: argparse.Namespace) -> None:
    """Print the Markdown table (medians over the rounds) and write the JSON if asked.

    An endpoint's multiple of the floor, and how far above its stack floor it is, are the
    medians of those measured side by side in each group, not ratios of the overall medians.
    """
    medians = {name: statistics.median(values) for name, values in figures.results.items()}
    round_trips = {name: statistics.median(values)
                   for name, values in figures.trips.items() if values}
    times = {name: statistics.median(values) for name, values in figures.ratios.items()}
    above = {name: statistics.median(values) for name, values in figures.above.items()}
    print(f"Measured {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} on {os.cpu_count()} "
          f"cores: {args.requests} sequential requests per endpoint and round, in {args.chunks} "
          f"slices interleaved with the floor's and the stack floor's, median of {args.rounds} "
          f"rounds, CPU from /proc/<pid>/{args.clock}.\n")
    print("| endpoint | CPU per request | × floor | target | above the stack floor "
          "| database operations per request |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, value in medians.items():
        target = f"≤ {TARGETS[name]}×" if name in TARGETS else ""
        operations = f"{round_trips[name]:.2f}" if name in round_trips else ""
        over = f"{above[name]:+.1f}×" if name in above else ""
        print(f"| {name} | {value * 1e6:,.0f} µs | {times.get(name, 1.0):.1f} | {target} "
              f"| {over} | {operations} |")
    if args.json:
        args.json.write_text(json.dumps({
            name: {"median_us": medians[name] * 1e6, "rounds_us": [v * 1e6 for v in values],
                   "times_floor": times.get(name, 1.0), "above_stack_floor": above.get(name),
                   "database_operations_per_request": round_trips.get(name)}
            for name, values in figures.results.items()}, indent=2))


if __name__ == "__main__":
    main()
