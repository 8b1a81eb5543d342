"""The `folio` command line: serve the API, and the data tooling operators use.

An operator's mistake (a bad URL, an unreachable server, a wrong file) ends in one clear line
on stderr and exit status 1, never a traceback: see `main`.
"""

import asyncio
import os
import secrets
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import uvicorn
from pydantic import ValidationError
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.config import Settings, settings_problem
from service.contract.errors import NotFound
from service.engine import EngineUnavailable

T = TypeVar("T")
# On SIGTERM, uvicorn stops accepting connections and lets in-flight requests finish this long.
GRACEFUL_SHUTDOWN_SECONDS = 30

app = typer.Typer(
    help="Folio: a publishing backend serving the RealWorld API from MongoDB.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True, soft_wrap=True)  # one message, one line, however narrow

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="MongoDB URL",
                 show_default="FOLIO_MONGODB_URL, else the embedded engine"),
]
DbOption = Annotated[
    str | None, typer.Option("--db", help="database name", show_default="FOLIO_DATABASE, else folio")
]


class OperatorError(Exception):
    """A mistake in what the operator asked for, told in one line."""


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit with status 1."""
    console.print(f"[red]folio: {escape(message)}[/red]")
    raise SystemExit(1)


def _describe(error: Exception) -> str:
    """One line for an error an operator can cause and fix."""
    if isinstance(error, ValidationError):
        return settings_problem(error)
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror}"
    if isinstance(error, PyMongoError):
        return f"MongoDB: {str(error).splitlines()[0]}"
    return str(error)


OPERATOR_ERRORS = (OperatorError, EngineUnavailable, ValidationError, OSError, PyMongoError)


def main() -> None:
    """The `folio` entry point: operator mistakes end in one clear line and exit status 1.

    Set FOLIO_CLI_TRACEBACK=1 to see the full traceback instead (for developers).
    """
    try:
        app()
    except OPERATOR_ERRORS as error:
        if os.environ.get("FOLIO_CLI_TRACEBACK"):
            raise
        fail(_describe(error))


def writable_file(path: Path, what: str) -> Path:
    """Check before any work that `path` can be written as a file; OperatorError if not."""
    if path.is_dir():
        raise OperatorError(f"{what} {path} is a directory; name a file")
    if not path.parent.is_dir():
        raise OperatorError(f"{what} {path}: the directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OperatorError(f"{what} {path} cannot be written (permission denied)")
    return path


def readable_file(path: Path, what: str) -> Path:
    """Check that `path` is a file that can be read; OperatorError if not."""
    if not path.exists():
        raise OperatorError(f"{what} {path} does not exist")
    if not path.is_file():
        raise OperatorError(f"{what} {path} is not a file")
    if not os.access(path, os.R_OK):
        raise OperatorError(f"{what} {path} cannot be read (permission denied)")
    return path


def check_port_free(host: str, port: int) -> None:
    """Bind the address once, as uvicorn will, so that a taken port fails before any work."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise OperatorError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise OperatorError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def tool_settings(url: str | None = None, db: str | None = None) -> Settings:
    """Settings for a command-line tool: the environment, with --url/--db on top.

    Tools never issue tokens, so a missing FOLIO_JWT_SECRET is replaced by a throwaway one.
    They run with no per-operation time budget: an index build, an export's cursor or a
    migration may rightly take longer than an API request may (the server would stop them).
    """
    overrides: dict[str, object] = {"operation_timeout_ms": 0}
    if url is not None:
        if not url.strip():  # never a silent fall-back to the embedded engine
            raise OperatorError("--url is empty; give a mongodb:// URL, or leave --url out "
                                "for FOLIO_MONGODB_URL (unset: the embedded engine)")
        overrides["mongodb_url"] = url
    if db is not None:
        if not db.strip():
            raise OperatorError("--db is empty; give a database name, or leave --db out")
        overrides["database"] = db
    if not os.environ.get("FOLIO_JWT_SECRET"):
        overrides["jwt_secret"] = secrets.token_urlsafe(32)
    return Settings(**overrides)  # type: ignore[arg-type]


SECRET_PER_PROCESS = (
    "Note: FOLIO_JWT_SECRET is unset, so tokens are signed with a secret made for this process "
    "only: the accounts --save keeps (or --load brings back) sign in again, their old tokens "
    "no longer work. Set FOLIO_JWT_SECRET (32+ characters) to keep tokens across restarts."
)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind; 0.0.0.0 for all")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    reload: Annotated[bool, typer.Option(help="restart on code changes (development)")] = False,
    demo: Annotated[
        bool, typer.Option(help="seed the embedded engine with demo data at start-up")
    ] = False,
    load: Annotated[
        Path | None, typer.Option(help="start the embedded engine from a `folio export` file")
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(help="on shutdown, write the embedded engine's data to this file "
                          "(a `folio export` file, for --load or `folio import`)"),
    ] = None,
) -> None:
    """Run the API server (the embedded in-memory engine unless FOLIO_MONGODB_URL is set).

    With --demo, the embedded engine starts with about 25 users and 200 articles; sign in as
    demo@folio.dev with the password folio-demo-password. --demo and --load exclude each
    other. Everything is checked before the server starts: the settings, the database, the
    files and the port.
    """
    from scripts.dump import ImportRefused, check_loadable
    from service.engine import check_reachable

    settings = Settings()  # a configuration mistake stops here, in one line
    if demo and load:
        raise OperatorError("--demo and --load both fill the embedded engine; choose one")
    if (demo or load or save) and not settings.embedded:
        raise OperatorError("--demo, --load and --save work on the embedded engine only; with "
                            "FOLIO_MONGODB_URL set use `folio seed`, `folio import` or `folio export`")
    if load:  # loaded once into a throwaway engine: every line, every unique index, first
        try:
            asyncio.run(check_loadable(readable_file(load, "--load")))
        except ImportRefused as error:
            raise OperatorError(f"--load {load}: {error}") from None
    if save:
        writable_file(save, "--save")
    if settings.redis_url:
        try:
            import redis  # noqa: F401  (only checked here: the app imports it itself)
        except ImportError:
            raise OperatorError("FOLIO_REDIS_URL is set but the redis package is not installed; "
                                "pip install 'folio[redis]'") from None
    asyncio.run(check_reachable(settings))
    check_port_free(host, port)
    if (save or load) and not os.environ.get("FOLIO_JWT_SECRET"):
        console.print(SECRET_PER_PROCESS)
    if demo:
        os.environ["FOLIO_DEMO"] = "1"
    if load:
        os.environ["FOLIO_LOAD"] = str(load.resolve())
    if save:
        os.environ["FOLIO_SAVE"] = str(save.resolve())
    from scripts import serve as serving  # imported, not only named: tests/test_layout.py

    uvicorn.run(
        f"{serving.__name__}:{serving.build_app.__name__}",  # a string, so that --reload works
        factory=True,
        host=host,
        port=port,
        reload=reload,
        access_log=False,  # Folio logs one JSON line per request itself
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def _count(minimum: int, name: str, help_text: str) -> Any:
    """A `folio seed` count option, bounded by what the generator can hold (scripts/seed.py)."""
    from scripts.seed import MAXIMUM

    return typer.Option(min=minimum, max=MAXIMUM[name], help=help_text)


@app.command("seed")
def seed_command(
    users: Annotated[int, _count(1, "users", "accounts (the first is demo@folio.dev)")] = 50,
    articles: Annotated[int, _count(0, "articles", "articles, some drafts and scheduled")] = 500,
    comments: Annotated[int, _count(0, "comments", "comments on live articles")] = 1000,
    follows: Annotated[int, _count(0, "follows", "follow edges")] = 250,
    favorites: Annotated[int, _count(0, "favorites", "favorite edges")] = 500,
    random_seed: Annotated[int, typer.Option(help="the same seed gives the same data")] = 42,
    drop: Annotated[bool, typer.Option(help="empty Folio's collections first")] = False,
    append: Annotated[bool, typer.Option(help="add to a database that already holds data")] = False,
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Fill a database with realistic demo data (Faker), in unordered bulk batches.

    Every demo user's password is folio-demo-password; it is hashed once and reused. Refuses a
    database that already holds data unless --drop or --append is given (not both). Documents
    are generated and written in batches, with progress; Ctrl-C stops at the next batch.
    """
    from scripts.seed import (
        DEMO_PASSWORD,
        EmptyDatabaseRequired,
        SeedPlan,
        drop_all,
        seed,
        shortfalls,
    )
    from service.engine import open_engine
    from service.users.credentials import Passwords

    if drop and append:
        raise OperatorError("--drop empties the database and --append adds to its data; "
                            "choose one")
    settings = tool_settings(url, db)
    plan = SeedPlan(users, articles, comments, follows, favorites, random_seed)

    async def run() -> list:
        engine = await open_engine(settings)
        try:
            if drop:
                await drop_all()
            password_hash = await Passwords(settings).hash(DEMO_PASSWORD)
            with Progress(
                TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=console,
            ) as progress:

                def track(name: str, total: int) -> Callable[[int], None]:
                    task = progress.add_task(name, total=total)
                    return lambda done: progress.advance(task, done)

                return await seed(plan, password_hash, append=append, on_collection=track)
        finally:
            engine.close()

    if settings.embedded:
        console.print("[yellow]Seeding the embedded engine: nothing is kept after this command. "
                      "Use --url (or FOLIO_MONGODB_URL) to seed MongoDB.[/yellow]")
    try:
        stats = asyncio.run(run())
    except KeyboardInterrupt:  # Ctrl-C lands between two batches
        console.print("[red]folio: seeding interrupted; the batches written so far are kept "
                      "(`folio seed --drop` starts over)[/red]")
        raise typer.Exit(130) from None
    except EmptyDatabaseRequired as error:
        raise OperatorError(f"refusing to seed: {error}; use --drop to start over or --append "
                            "to add to it") from None
    table = Table(title=f"Seeded {settings.database}")
    for column in ("collection", "documents", "seconds", "documents/s"):
        table.add_column(column, justify="left" if column == "collection" else "right")
    for stat in stats:
        table.add_row(stat.collection, str(stat.documents), f"{stat.seconds:.2f}",
                      f"{stat.per_second:,.0f}")
    total_docs, total_seconds = sum(s.documents for s in stats), sum(s.seconds for s in stats)
    table.add_row("total", str(total_docs), f"{total_seconds:.2f}",
                  f"{total_docs / total_seconds if total_seconds else 0:,.0f}", style="bold")
    Console().print(table)
    for line in shortfalls(plan, stats):
        console.print(f"[yellow]Note: {escape(line)}.[/yellow]")


@app.command("worker")
def worker_command(url: UrlOption = None, db: DbOption = None) -> None:
    """Drain the event outbox until stopped (Ctrl-C or SIGTERM), instead of the API processes.

    Set FOLIO_EVENT_DRAIN_IN_API=false on the API then. Several workers (and API processes)
    may run: the `events.drain` lease lets one at a time drain; the others wait to take over.
    It also announces scheduled articles as they go live, and sends webhook deliveries beside
    the API processes (each delivery is claimed by one sender at a time).
    """
    settings = tool_settings(url, db)
    if settings.embedded:
        raise OperatorError("folio worker needs MongoDB (--url or FOLIO_MONGODB_URL): the "
                            "embedded engine's events live in the API process, which drains them")

    async def run(engine: Any) -> None:
        from service.api import EVENT_CONSUMERS
        from service.articles import announcing
        from service.events.drain import Drain
        from service.webhooks.sender import run_sender

        drain = Drain(EVENT_CONSUMERS, poll_seconds=settings.event_poll_seconds)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(drain.run()),
                 asyncio.create_task(announcing.sweep_forever(engine, settings.tag_sweep_seconds)),
                 asyncio.create_task(run_sender(stop, settings))]
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        console.print(f"folio worker: draining events of {settings.database} and sending webhooks")
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # the drain releases its lease

    settings = settings.model_copy(update={"operation_timeout_ms": 10000})
    run_with_engine(settings, run)


migrate_app = typer.Typer(help="Schema migrations (scripts/migrations), recorded in `migrations`.",
                          no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")
ToOption = Annotated[
    str | None, typer.Option("--to", help="a migration ID (`base` with down: revert them all)")
]


def run_with_engine(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Open the engine, run one piece of async work with it, and close it."""
    from service.engine import open_engine

    async def run() -> T:
        engine = await open_engine(settings)
        try:
            return await work(engine)
        finally:
            engine.close()

    return asyncio.run(run())


@migrate_app.command("status")
def migrate_status(url: UrlOption = None, db: DbOption = None) -> None:
    """List every migration and when it was applied."""
    from scripts import migrate

    states = run_with_engine(tool_settings(url, db), migrate.status)
    table = Table(title="Migrations")
    for column in ("id", "applied at", "description"):
        table.add_column(column)
    for state in states:
        applied = state.applied_at.isoformat() if state.applied_at else "[yellow]pending[/yellow]"
        table.add_row(state.migration.id, applied, state.migration.description)
    Console().print(table)


def _run_migrations(direction: str, to: str | None, url: str | None, db: str | None) -> None:
    from scripts import migrate

    step = getattr(migrate, direction)
    try:
        migrate.check_target(to, direction)  # before connecting: a typo costs nothing
    except migrate.UnknownMigration as error:
        raise OperatorError(str(error)) from None
    with Progress(TextColumn("{task.description}"), MofNCompleteColumn(), TextColumn("documents"),
                  TimeElapsedColumn(), console=console) as progress:
        tasks: dict[str, Any] = {}

        def report(migration_id: str, done: int) -> None:
            if migration_id not in tasks:
                tasks[migration_id] = progress.add_task(f"{direction} {migration_id}", total=None)
            progress.advance(tasks[migration_id], done)

        try:
            done = run_with_engine(
                tool_settings(url, db), lambda engine: step(engine, to, progress=report)
            )
        except migrate.MigrationIncomplete as error:
            raise OperatorError(str(error)) from None
    if not done:
        console.print("Nothing to do.")
    for migration_id, changed in done:
        console.print(f"{direction} {migration_id}: {changed} documents changed")


@migrate_app.command("up")
def migrate_up(to: ToOption = None, url: UrlOption = None, db: DbOption = None) -> None:
    """Apply pending migrations in order (all of them, or up to and including --to)."""
    _run_migrations("up", to, url, db)


@migrate_app.command("down")
def migrate_down(to: ToOption = None, url: UrlOption = None, db: DbOption = None) -> None:
    """Revert the last applied migration, or every one after --to (`--to base`: all)."""
    _run_migrations("down", to, url, db)


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="file to write (Extended JSON lines)")],
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Write every collection to one file, losslessly (canonical Extended JSON, one per line).

    The file appears only once it is complete. The embedded engine starts empty in every
    command, so there is nothing to export from it: use `folio serve --save FILE` to keep
    what a running embedded server holds.
    """
    from scripts.dump import export

    writable_file(out, "--out")
    settings = tool_settings(url, db)
    if settings.embedded:
        raise OperatorError(
            "nothing to export: the embedded engine starts empty in every command. Point --url "
            "(or FOLIO_MONGODB_URL) at MongoDB, or run `folio serve --save FILE` to write what "
            "a running embedded server holds"
        )
    counts = run_with_engine(settings, lambda engine: export(engine, out))
    total = sum(counts.values())
    if not total:
        console.print(f"[yellow]The database {escape(settings.database)} holds no documents: "
                      f"{escape(str(out))} is an empty export.[/yellow]")
    console.print(f"Exported {total} documents to {escape(str(out))}: "
                  + ", ".join(f"{n} {name}" for name, n in counts.items()))


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="a file written by `folio export`")],
    drop: Annotated[bool, typer.Option(help="empty Folio's collections first")] = False,
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Load an export: re-creates the indexes; refuses a database with data unless --drop.

    The whole file is checked before anything is written: every line, and the trailer that
    `folio export` writes last (counts and a checksum), so a cut-off file is refused. The
    database's migrations ledger is kept (also with --drop) and must record the export's
    schema; an empty ledger takes the export's.
    """
    from scripts.dump import ImportRefused, import_dump, read_dump

    readable_file(file, "import file")
    settings = tool_settings(url, db)
    try:
        dump = read_dump(file)
        if settings.embedded:
            raise ImportRefused(
                "the embedded engine starts empty in every command and keeps nothing. Point "
                "--url (or FOLIO_MONGODB_URL) at MongoDB, or run `folio serve --load FILE`"
            )
        counts = run_with_engine(settings, lambda engine: import_dump(engine, dump, drop=drop))
    except ImportRefused as error:
        raise OperatorError(f"refusing to import {file}: {error}") from None
    console.print(f"Imported {sum(counts.values())} documents: "
                  + ", ".join(f"{n} {name}" for name, n in counts.items()))


db_app = typer.Typer(help="Validators and indexes: print, apply and check them.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("schema")
def db_schema() -> None:
    """Print each collection's $jsonSchema validator (generated from its model) and indexes."""
    import json

    from bson import json_util

    from models import DOCUMENT_MODELS
    from scripts.dbtools import declared_indexes, validator_for

    schema = {
        model.Settings.name: {
            "validator": validator_for(model),
            "indexes": list(declared_indexes(model).values()),
        }
        for model in DOCUMENT_MODELS
    }
    print(json.dumps(json.loads(json_util.dumps(schema)), indent=2))


@db_app.command("sync")
def db_sync(
    rebuild_changed: Annotated[
        bool, typer.Option(help="drop and rebuild indexes whose keys or options changed")
    ] = False,
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Create missing collections with their validators, create missing indexes.

    Run it before the API starts on MongoDB (docker compose's `migrate` service does): the API
    never builds indexes itself, it only logs drift. An index whose keys or options changed
    is rebuilt only with --rebuild-changed; stop the API first when that index is unique,
    since duplicates written while it is gone would make the rebuild fail.
    """
    from scripts.dbtools import SyncRefused, sync

    try:
        lines = run_with_engine(
            tool_settings(url, db), lambda engine: sync(engine, rebuild_changed=rebuild_changed)
        )
    except SyncRefused as error:
        raise OperatorError(str(error)) from None
    for line in lines:
        console.print(line)


@db_app.command("recount")
def db_recount(url: UrlOption = None, db: DbOption = None) -> None:
    """Remove orphans, then make every article's counters and the tag counts exact.

    The counters are favorites_count, comments_count and hidden_comments_count (from their
    edges and comments); the tag counts (`tags`) are rebuilt from the live articles.

    Safe while serving. Orphans are favorites, comments, reports and revisions whose article,
    comment or user is gone (not one being deleted). Reports what it removed and every counter
    it fixed; on a replica set each fix is exact (a transaction per article), elsewhere a counter
    that kept moving while checked is reported, to run again.
    """
    from scripts.dbtools import recount

    with Progress(TextColumn("{task.description}"), MofNCompleteColumn(), TextColumn("documents"),
                  TimeElapsedColumn(), console=console) as progress:
        sweep = progress.add_task("orphans", total=None)
        task = progress.add_task("recount", total=None)
        found = run_with_engine(
            tool_settings(url, db),
            lambda engine: recount(engine, lambda n: progress.advance(task, n),
                                   lambda n: progress.advance(sweep, n)),
        )
    for kind, removed in found.orphans.items():
        if removed:
            console.print(f"removed {removed} orphaned {kind} (their article, comment or user is gone)")
    for slug, counter, stored, true in found.fixed:
        console.print(f"{escape(slug)}: {counter} {stored} -> {true}")
    for slug, counter in found.moved_meanwhile:
        console.print(f"[yellow]{escape(slug)}: {counter} kept changing while checked; "
                      "run again to settle[/yellow]")
    console.print(f"Removed {sum(found.orphans.values())} orphans. "
                  f"Checked {found.checked} articles, fixed {len(found.fixed)}.")
    _recount_tags(url, db)
    _recount_rollups(url, db)


def _with_progress(label: str, unit: str, url: str | None, db: str | None,
                   work: Callable[[Any, Callable[[int], None]], Awaitable[T]]) -> T:
    """Run `work(engine, advance)` on the tools' engine under one progress line."""
    with Progress(TextColumn(label), MofNCompleteColumn(), TextColumn(unit),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(label, total=None)
        return run_with_engine(
            tool_settings(url, db), lambda engine: work(engine, lambda n: progress.advance(task, n))
        )


def _recount_tags(url: str | None, db: str | None) -> None:
    """`folio db recount`'s second step: the tag counts (`tags`), rebuilt exactly."""
    from scripts.dbtools import recount_tags

    found = _with_progress("tags", "articles", url, db, recount_tags)
    for slug, was, live in found.flags_fixed:
        console.print(f"{escape(slug)}: tags_counted {was} -> {live}")
    for tag, stored, true in found.counts_fixed:
        console.print(f"tag {escape(tag)}: {stored} -> {true} live articles")
    for name in found.moved_meanwhile:
        console.print(f"[yellow]{escape(name)}: changed while checked; run again to settle[/yellow]")
    console.print(f"Checked the tags of {found.checked} articles, fixed "
                  f"{len(found.flags_fixed)} flags and {len(found.counts_fixed)} tag counts.")


def _recount_rollups(url: str | None, db: str | None) -> None:
    """`folio db recount`'s last step: rebuild the analytics rollups from the data."""
    from scripts.dbtools import recount_rollups

    days = _with_progress("analytics rollups", "days", url, db, recount_rollups)
    console.print(f"Rebuilt the analytics rollups of {days} days.")


@db_app.command("check")
def db_check(url: UrlOption = None, db: DbOption = None) -> None:
    """Check the indexes, the stored text and the media bucket.

    Compares declared with actual indexes, and finds stored text that writes now refuse.
    Refused text holds characters XML 1.0 forbids. Media findings: orphaned chunks, files
    without a media document, media whose owner is gone, media missing files. Exits 1 on
    index drift, on such text or on any media finding.
    """
    from scripts.dbtools import check, forbidden_text
    from scripts.mediatools import media_findings

    async def both(engine: Any) -> Any:
        return (await check(engine), await forbidden_text(engine, lambda n: None),
                await media_findings())

    drift, text, media = run_with_engine(tool_settings(url, db), both)
    if not drift:
        console.print("[green]No drift: every declared index exists as declared.[/green]")
    for name, lines in drift.items():
        for line in lines:
            console.print(f"[red]{name}: {line}[/red]")
    if not text.counts:
        console.print("[green]No stored text holds a character that writes refuse.[/green]")
    for name, lines in text.lines.items():
        for line in lines:
            console.print(f"[red]{name}: {escape(line)}[/red]", highlight=False)
        if text.counts[name] > len(lines):
            console.print(f"[red]{name}: and {text.counts[name] - len(lines)} more[/red]")
    if text.counts:
        console.print("[yellow]Feeds and pages show these characters as U+FFFD; edit the "
                      "values to clear them (see README, Text).[/yellow]")
    if not media.counts:
        console.print("[green]The media bucket and the media documents agree.[/green]")
    for kind, lines in media.lines.items():
        for line in lines:
            console.print(f"[red]media: {kind}: {escape(line)}[/red]", highlight=False)
        shown = len(lines)
        if media.counts[kind] > shown and kind != "orphaned chunks":
            console.print(f"[red]media: {kind}: and {media.counts[kind] - shown} more[/red]")
        if kind == "orphaned chunks":
            console.print(f"[red]media: orphaned chunks: {media.counts[kind]} in all[/red]")
    if media.counts:
        console.print("[yellow]`folio media gc` removes orphaned chunks and files without "
                      "metadata (see docs/operations.md, Media).[/yellow]")
    if drift or text.counts or media.counts:
        raise typer.Exit(1)


users_app = typer.Typer(help="Accounts: roles, deleting one, finishing interrupted deletions.",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")


def _deleted_line(deletion: Any) -> str:
    """One line for one finished deletion: what it removed."""
    removed = ", ".join(f"{n} {kind}" for kind, n in deletion.removed.items() if n) or "nothing else"
    settled = f" (settled {deletion.settled} articles of an interrupted batch)" if deletion.settled else ""
    return f"Deleted {escape(deletion.username)}: {removed}{settled}."


@users_app.command("delete")
def users_delete(
    username: Annotated[str, typer.Argument(help="the account's username, exactly")],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Delete an account and everything it wrote, as DELETE /api/user does (no password asked).

    Its sessions end at once; its follows, favorites, comments, reports and articles go in
    batches, then the account. Running it again resumes an interrupted deletion.
    """
    from service.deletion.accounts import DeletionBusy, delete_by_username

    settings = tool_settings(url, db)
    if settings.embedded:
        raise OperatorError(f"no user named {username!r}: the embedded engine starts empty in "
                            "every command; point --url (or FOLIO_MONGODB_URL) at MongoDB")
    if not yes:
        typer.confirm(f"Delete the account {username} and everything it wrote?", abort=True)
    try:
        deletion = run_with_engine(settings, lambda engine: delete_by_username(username))
    except DeletionBusy:
        raise OperatorError(f"the deletion of {username} is running in another process; run "
                            "`folio users finish-deletions` once it stops") from None
    if deletion is None:
        raise OperatorError(f"no user named {username!r}")
    console.print(_deleted_line(deletion))


@users_app.command("finish-deletions")
def users_finish_deletions(url: UrlOption = None, db: DbOption = None) -> None:
    """Finish every account deletion that was started and interrupted.

    The API also resumes them, in the background. On MongoDB each waits out its write window
    (45 s after the deletion started). Exits 1 if another process holds some of them.
    """
    from service.deletion.accounts import finish_marked

    done, busy = run_with_engine(
        tool_settings(url, db), lambda engine: finish_marked(lambda d: console.print(_deleted_line(d)))
    )
    if busy:
        raise OperatorError(f"{len(busy)} deletion(s) are running in another process; run this "
                            "again once they stop")
    if not done:
        console.print("No account deletions to finish.")


media_app = typer.Typer(help="The media library: removing unused uploads.", no_args_is_help=True)
app.add_typer(media_app, name="media")


@media_app.command("gc")
def media_gc(
    grace_hours: Annotated[float | None, typer.Option(
        "--grace-hours", min=0.0,
        help="remove only uploads older than this (default FOLIO_MEDIA_GC_GRACE_HOURS)")] = None,
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Remove unused uploads older than the grace period, and the media bucket's strays.

    An upload is used while an article's cover or body names it. Strays are orphaned chunks
    and files without a media document. Works in batches; running it again finishes an
    interrupted run. Prints what it removed.
    """
    from datetime import timedelta

    from scripts.mediatools import remove_strays
    from service.media.gc import collect

    settings = tool_settings(url, db)
    _needs_database(settings)
    grace = timedelta(hours=settings.media_gc_grace_hours if grace_hours is None else grace_hours)

    async def work(engine: Any) -> Any:
        return await collect(grace), await remove_strays(grace)

    result, strays = run_with_engine(settings, work)
    for media_id in result.removed_ids:
        console.print(f"removed media {media_id}")
    if result.removed > len(result.removed_ids):
        console.print(f"and {result.removed - len(result.removed_ids)} more")
    console.print(
        f"Removed {result.removed} unused uploads ({result.freed_bytes} bytes) of "
        f"{result.scanned} older than {grace}; finished {result.finished} interrupted "
        f"removals; removed {strays.chunks} orphaned chunks and {strays.files} files without "
        "metadata."
    )


RoleArgument = Annotated[str, typer.Argument(help="author, moderator or admin")]


def _checked_role(role: str) -> Any:
    """The role named, or one clear line listing the valid ones."""
    from models.users import ROLES

    if role not in ROLES:
        raise OperatorError(f"no role {role!r}; use one of: {', '.join(ROLES)}")
    return role


def _needs_database(settings: Settings) -> None:
    """Account commands need a MongoDB: the embedded engine starts empty in every command."""
    if settings.embedded:
        raise OperatorError("the embedded engine starts empty in every command; point --url "
                            "(or FOLIO_MONGODB_URL) at MongoDB")


@users_app.command("role")
def users_role(
    username: Annotated[str, typer.Argument(help="the account's username, exactly")],
    role: RoleArgument,
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Give an account a role, as an admin's PUT /api/moderation/users/{username} does.

    The moderation log records it as the operator's.
    """
    from service.moderation.queries import store_role
    from service.profiles.queries import user_by_username

    wanted = _checked_role(role)
    settings = tool_settings(url, db)
    _needs_database(settings)

    async def work(engine: Any) -> dict[str, Any]:
        return await store_role(await user_by_username(username), wanted, None)

    try:
        updated = run_with_engine(settings, work)
    except NotFound:
        raise OperatorError(f"no user named {username!r}") from None
    console.print(f"{escape(updated['username'])} is now {updated['role']}.")


@users_app.command("list")
def users_list(
    role: Annotated[str, typer.Option("--role", help="author, moderator or admin")] = "moderator",
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """List the accounts with one role, by username (index `role_username`)."""
    from service.moderation.queries import users_with_role
    from service.users.queries import suspended_problem

    wanted = _checked_role(role)
    settings = tool_settings(url, db)
    _needs_database(settings)
    accounts = run_with_engine(settings, lambda engine: users_with_role(wanted))
    for account in accounts:
        problem = suspended_problem(account.get("suspension"))
        console.print(f"{escape(account['username'])}\t{account['email']}\t{account['role']}"
                      + (f"\t{escape(problem)}" if problem else ""))
    if not accounts:
        console.print(f"No {wanted} accounts.")


@app.callback()
def commands() -> None:
    """Folio's operator commands."""


if __name__ == "__main__":
    main()
