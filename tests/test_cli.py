"""The `folio` command as an operator meets it: mistakes end in one clear line, never a traceback.

These run the real command in a subprocess (`python -m scripts.cli`), so that what is checked is
exactly what a terminal shows: standard error, the exit status and nothing else.
"""

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from scripts.cli import app as cli
from tests.servers import ROOT, free_port, running

FAST_FAILURE = {"FOLIO_SERVER_SELECTION_TIMEOUT_MS": "200", "FOLIO_JWT_SECRET": "s" * 40}
UNREACHABLE = "mongodb://127.0.0.1:1"
EMPTY_EXPORT = ROOT / "tests" / "data" / "empty-export.jsonl"  # a complete export of nothing


def folio(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `folio ARGS` with no database configured unless `env` says otherwise."""
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


def assert_one_line_failure(result: subprocess.CompletedProcess, *expected: str) -> str:
    """Exit status 1, nothing on stdout, one `folio: …` line on stderr that says `expected`."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("folio: "), lines
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


# A bad or unreachable database URL, in `serve` and every data command --------------------------

DATA_COMMANDS = [
    ["seed"], ["migrate", "status"], ["migrate", "up"], ["db", "sync"], ["db", "check"],
    ["export", "--out", "/tmp/folio-never-written.jsonl"], ["import", str(EMPTY_EXPORT)],
    ["serve", "--port", "1"], ["users", "delete", "someone", "--yes"], ["users", "finish-deletions"],
    ["users", "role", "someone", "moderator"], ["users", "list", "--role", "admin"],
    ["media", "gc"],
]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("foo://x", "FOLIO_MONGODB_URL must start with mongodb:// or mongodb+srv://"),
        ("mongodb://127.0.0.1:99999", "Port must be an integer between 0 and 65535"),
        ("mongodb://user:pw@", "is not a valid MongoDB URL"),
        (UNREACHABLE, "cannot reach MongoDB within 0.2 s: 127.0.0.1:1"),
    ],
    ids=["scheme", "port", "no-host", "unreachable"],
)
@pytest.mark.parametrize("command", DATA_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_bad_or_unreachable_url_is_one_line_in_every_command(command, url, expected):
    result = folio(*command, env={**FAST_FAILURE, "FOLIO_MONGODB_URL": url})
    line = assert_one_line_failure(result, expected)
    assert "pw" not in line  # credentials in a URL are never echoed


def test_the_url_option_is_checked_like_the_environment():
    result = folio("db", "check", "--url", "mongodb://127.0.0.1:99999")
    assert_one_line_failure(result, "Port must be an integer")


# Files -------------------------------------------------------------------------------------------


def test_import_of_a_binary_file_is_refused_in_one_line(tmp_path):
    binary = tmp_path / "photo.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    result = folio("import", str(binary))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{binary} is not a text file; expected a `folio export` file" in result.stderr


@pytest.mark.parametrize("target", ["directory", "missing"])
def test_import_of_a_directory_or_a_missing_file_is_one_line(tmp_path, target):
    path = tmp_path if target == "directory" else tmp_path / "missing.jsonl"
    result = folio("import", str(path))
    assert_one_line_failure(result, str(path), "is not a file" if target == "directory"
                            else "does not exist")


def test_export_into_a_missing_directory_is_one_line_before_any_work(tmp_path):
    result = folio("export", "--out", str(tmp_path / "nowhere" / "x.jsonl"))
    assert_one_line_failure(result, f"the directory {tmp_path / 'nowhere'} does not exist")


def test_export_onto_a_directory_is_one_line(tmp_path):
    assert_one_line_failure(folio("export", "--out", str(tmp_path)), "is a directory; name a file")


def test_export_from_the_embedded_engine_writes_nothing_and_says_why(tmp_path):
    out = tmp_path / "x.jsonl"
    result = folio("export", "--out", str(out))
    assert_one_line_failure(result, "nothing to export", "folio serve --save FILE")
    assert not out.exists()


def test_serve_load_of_a_bad_file_is_one_line_and_starts_nothing(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"collection": "users", "document": {"_id": 1}}\nnot json\n')
    result = folio("serve", "--load", str(bad), "--port", str(free_port()))
    assert_one_line_failure(result, f"--load {bad}: line 2 is not a Folio export line")


def test_serve_refuses_demo_and_load_together(tmp_path):
    result = folio("serve", "--demo", "--load", str(tmp_path / "x.jsonl"))
    assert_one_line_failure(result, "--demo and --load both fill the embedded engine; choose one")


def test_serve_save_into_a_missing_directory_is_refused_before_starting(tmp_path):
    result = folio("serve", "--save", str(tmp_path / "nowhere" / "x.jsonl"))
    assert_one_line_failure(result, "does not exist")


def test_serve_demo_save_and_load_refuse_a_real_database():
    result = folio("serve", "--demo", env={**FAST_FAILURE, "FOLIO_MONGODB_URL": UNREACHABLE})
    assert_one_line_failure(result, "work on the embedded engine only")


def test_serve_on_a_port_in_use_fails_at_once_without_seeding():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = folio("serve", "--demo", "--port", str(port))
    assert_one_line_failure(result, f"cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "Demo data loaded" not in result.stderr


# Saving the embedded engine on shutdown, and starting from the save -------------------------------


def test_serve_save_writes_the_data_on_shutdown_and_load_brings_it_back(tmp_path, monkeypatch):
    from scripts.migrate import discover

    # With FOLIO_JWT_SECRET set, a token issued before --save still works after --load.
    monkeypatch.setenv("FOLIO_JWT_SECRET", "k" * 40)
    saved = tmp_path / "kept.jsonl"
    port = free_port()
    command = [sys.executable, "-m", "scripts.cli", "serve", "--save", str(saved),
               "--port", str(port)]
    user = {"username": "keeper", "email": "keeper@example.com", "password": "keep-me-please"}
    with running(command, port, stderr=subprocess.DEVNULL) as server:
        base = f"http://127.0.0.1:{port}/api"
        registered = httpx.post(f"{base}/users", json={"user": user})
        assert registered.status_code == 201
        token = registered.json()["user"]["token"]
        assert not saved.exists()  # written on shutdown, not before
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    *lines, trailer = [json.loads(line) for line in saved.read_text().splitlines()]
    assert "users" in {line["collection"] for line in lines}
    assert trailer["folio_export"]["counts"]["users"] == 1
    # What this process wrote is at the current schema, and the file says so (for `import`).
    assert trailer["folio_export"]["schema"] == [migration.id for migration in discover()]
    assert not saved.with_name(saved.name + ".partial").exists()

    port = free_port()
    command = [sys.executable, "-m", "scripts.cli", "serve", "--load", str(saved),
               "--port", str(port)]
    with running(command, port, stderr=subprocess.DEVNULL):
        login = httpx.post(f"http://127.0.0.1:{port}/api/users/login", json={
            "user": {"email": user["email"], "password": user["password"]}})
        assert login.status_code == 200, login.text
        current = httpx.get(f"http://127.0.0.1:{port}/api/user",
                            headers={"Authorization": f"Token {token}"})
        assert current.status_code == 200, current.text


def test_serve_save_or_load_without_a_secret_says_tokens_will_not_survive(tmp_path, monkeypatch):
    import uvicorn

    monkeypatch.delenv("FOLIO_JWT_SECRET", raising=False)
    monkeypatch.delenv("FOLIO_MONGODB_URL", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    result = CliRunner().invoke(cli, ["serve", "--save", str(tmp_path / "x.jsonl"),
                                      "--port", str(free_port())], env={"COLUMNS": "500"})
    assert result.exit_code == 0, result.output
    assert "Set FOLIO_JWT_SECRET (32+ characters) to keep tokens across restarts" in result.output


# Hostile export files: one line each, before anything is written ---------------------------------

HOSTILE_LINES = {
    "document-not-object": ('{"collection": "users", "document": 5}',
                            "line 1: the users document is not an object"),
    "document-list": ('{"collection": "users", "document": [1, 2]}', "is not an object"),
    "collection-not-string": ('{"collection": 5, "document": {"_id": 1}}',
                              "line 1 names an unknown collection '5'"),
    "collection-object": ('{"collection": {"a": 1}, "document": {"_id": 1}}',
                          "names an unknown collection"),
    "invalid-oid": ('{"collection": "users", "document": {"_id": {"$oid": "zz"}}}',
                    "line 1 is not a Folio export line: 'zz' is not a valid ObjectId"),
    "invalid-date": ('{"collection": "users", "document": {"_id": 1, "d": {"$date": "never"}}}',
                     "line 1 is not a Folio export line"),
    "deeply-nested": ('{"collection": "users", "document": {"_id": 1, "a": '
                      + "[" * 100_000 + "]" * 100_000 + "}}", "line 1 is not a Folio export line"),
    "nested-past-bson": ('{"collection": "users", "document": {"_id": 1, "a": '
                         + '{"b": ' * 150 + "1" + "}" * 150 + "}}", "nested more than 100 levels"),
    "top-level-dollar": ('{"$where": "1", "collection": "users", "document": {"_id": 1}}',
                         "it must hold exactly `collection` and `document`"),
    "dollar-field": ('{"collection": "users", "document": {"_id": 1, "$set": {"role": "admin"}}}',
                     "holds a field name MongoDB cannot store ('$set')"),
    "nul-in-name": ('{"collection": "users", "document": {"_id": 1, "a\\u0000b": 1}}',
                    "holds a field name MongoDB cannot store"),
    "no-id": ('{"collection": "users", "document": {"username": "x"}}', "has no _id"),
    "array-id": ('{"collection": "users", "document": {"_id": [1]}}', "has an array as its _id"),
    "huge-integer": ('{"collection": "users", "document": {"_id": 1, "n": ' + "9" * 40 + "}}",
                     "holds an integer larger than 64 bits"),
    "not-an-object": ("[1, 2, 3]", "line 1 is not a Folio export line: not a JSON object"),
    "bare-oid": ('{"$oid": "5f3e8c1a9b2d4e6f8a0b1c2d"}', "not a JSON object"),
    "lone-surrogate": ('{"collection": "users", "document": {"_id": 1, "bio": "\\ud800"}}',
                       "cannot be stored as BSON"),
    "too-large": ('{"collection": "users", "document": {"_id": 1, "bio": "' + "x" * (17 * 2**20)
                  + '"}}', "larger than MongoDB's 16 MB document limit"),
    "empty-file": ("", "ends without the trailer"),
}


@pytest.mark.parametrize("case", HOSTILE_LINES, ids=list(HOSTILE_LINES))
def test_import_of_a_hostile_line_is_one_line_and_writes_nothing(tmp_path, case):
    text, expected = HOSTILE_LINES[case]
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text(text + "\n" if text else "")
    assert_one_line_failure(folio("import", str(hostile)), f"refusing to import {hostile}",
                            expected)


def test_import_on_the_embedded_engine_is_refused_and_points_to_serve_load():
    assert_one_line_failure(folio("import", str(EMPTY_EXPORT)), "keeps nothing",
                            "folio serve --load FILE")


def _export_of(tmp_path, lines):
    from tests.factories import write_export

    return write_export(tmp_path / "load.jsonl", lines)


@pytest.mark.parametrize("case", ["same-slug", "same-id", "hostile-line"])
def test_serve_load_of_a_file_that_cannot_be_inserted_is_one_line_before_starting(tmp_path, case):
    from bson import ObjectId

    same = ObjectId()
    article = {"slug": "same", "title": "t", "author_id": ObjectId(), "status": "published"}
    if case == "same-slug":
        path = _export_of(tmp_path, [("articles", {"_id": ObjectId(), **article}),
                                     ("articles", {"_id": ObjectId(), **article})])
        expected = "1 articles documents were refused"
    elif case == "same-id":
        path = _export_of(tmp_path, [("articles", {"_id": same, **article}),
                                     ("articles", {"_id": same, **article, "slug": "other"})])
        expected = "a second articles document with the _id"
    else:
        path = tmp_path / "load.jsonl"
        path.write_text(HOSTILE_LINES["deeply-nested"][0] + "\n")
        expected = "line 1 is not a Folio export line"
    result = folio("serve", "--load", str(path), "--port", str(free_port()))
    assert_one_line_failure(result, f"--load {path}:", expected)


# Migrations, settings and options: the same one-line form ---------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    (["migrate", "up", "--to", "base"], "`up --to base` would apply nothing"),
    (["migrate", "up", "--to", "nope"], "no migration 'nope'; see `folio migrate status`"),
    (["migrate", "down", "--to", "nope"], "no migration 'nope'"),
    (["db", "check", "--url", ""], "--url is empty"),
    (["seed", "--db", " "], "--db is empty"),
])
def test_migrate_targets_and_empty_options_are_one_line(args, expected):
    assert_one_line_failure(folio(*args), expected)


def test_a_settings_mistake_names_its_variable():
    result = folio("db", "check", env={"FOLIO_JWT_TTL_MINUTES": "a week"})
    assert_one_line_failure(result, "FOLIO_JWT_TTL_MINUTES: Input should be a valid integer")


# Help ----------------------------------------------------------------------------------------------


def test_help_shows_where_url_and_db_default_from():
    result = CliRunner().invoke(cli, ["seed", "--help"], env={"COLUMNS": "200"})
    assert "[default: (FOLIO_MONGODB_URL, else the embedded engine)]" in result.output
    assert "[default: (FOLIO_DATABASE, else folio)]" in result.output


def test_serve_help_names_save_and_the_demo_load_rule():
    output = CliRunner().invoke(cli, ["serve", "--help"], env={"COLUMNS": "200"}).output
    words = " ".join(output.split())
    assert "--save" in words and "--demo and --load exclude each other" in words


def _commands(group, path=()):
    """Every command of the `folio` click group, with its path."""
    import click

    context = click.Context(group)  # type: ignore[arg-type]
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        yield (*path, name), command
        if hasattr(command, "list_commands"):  # a group (typer may bring its own click)
            yield from _commands(command, (*path, name))


def test_every_help_text_reads_as_whole_sentences():
    # Click shows a docstring's first paragraph as the one-line summary in lists: a paragraph
    # that wraps onto a second source line was cut in the middle of its sentence there.
    import typer.main

    group = typer.main.get_command(cli)
    for path, command in [((), group), *_commands(group)]:
        help_text = " ".join(path) + ": " + (command.help or "")
        summary, *rest = (command.help or "").split("\n\n")
        assert summary.strip() and "\n" not in summary.strip(), help_text
        assert summary.strip().endswith("."), help_text
        for paragraph in rest:
            lines = [line.strip() for line in paragraph.strip().splitlines()]
            assert all(len(line) < 100 for line in lines), help_text


def test_an_unexpected_error_still_shows_its_traceback_to_developers(tmp_path):
    # FOLIO_CLI_TRACEBACK=1 is for developers: the one-line rule must not hide a real bug.
    result = folio("import", str(tmp_path), env={"FOLIO_CLI_TRACEBACK": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_the_folio_script_is_the_one_line_entry_point():
    scripts = Path(ROOT / "pyproject.toml").read_text()
    assert 'folio = "scripts.cli:main"' in scripts


def test_tools_run_without_the_api_operation_budget():
    # An index build or an export's cursor may rightly outlast an API request's 10 s budget,
    # which PyMongo would send as maxTimeMS and MongoDB would enforce.
    from scripts.cli import tool_settings
    from service.engine.client import build_client

    settings = tool_settings("mongodb://127.0.0.1:1")
    assert settings.operation_timeout_ms == 0
    client = build_client(settings)
    assert client.options.timeout is None
    assert client.options.server_selection_timeout == 3
    client.close()


def test_users_role_and_list_refuse_an_unknown_role_in_one_line():
    for command in (["users", "role", "someone", "owner"], ["users", "list", "--role", "owner"]):
        assert_one_line_failure(folio(*command), "no role 'owner'; use one of: author, moderator, admin")


def test_users_role_on_the_embedded_engine_says_it_needs_a_database():
    assert_one_line_failure(folio("users", "role", "someone", "admin"),
                            "the embedded engine starts empty in every command")


def test_serve_with_a_redis_url_but_no_redis_package_says_so_in_one_line(tmp_path):
    # Hide the installed package the way a base install lacks it: `import redis` fails.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['redis'] = None\n")
    result = folio("serve", "--port", "1", env={"FOLIO_REDIS_URL": "redis://127.0.0.1:1/0",
                                                "PYTHONPATH": str(tmp_path)})
    assert_one_line_failure(result, "FOLIO_REDIS_URL is set but the redis package is not installed")
