"""Documentation generated from code, or describing it, stays in step with it."""

import re
from pathlib import Path

import pytest

from models import DOCUMENT_MODELS
from scripts.dbtools import declared_indexes, validator_for
from tools.pipelines_doc import render

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"`([a-z_]+)`")


def test_pipelines_doc_is_up_to_date():
    current = (ROOT / "docs" / "pipelines.md").read_text()
    assert current == render(), "run: python -m tools.pipelines_doc > docs/pipelines.md"


def readme_data_model() -> dict[str, tuple[set[str], set[str]]]:
    """The README's data-model table: collection -> (field names, index names), as backticked."""
    section = (ROOT / "README.md").read_text().split("## Data model", 1)[1].split("\n## ", 1)[0]
    table_text = section.split("| Collection | Document | Named indexes |", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table_text.splitlines() if line.startswith("| `")]
    table = {}
    for row in rows:
        collection, document, indexes = (cell.strip() for cell in row.strip("|").split("|"))
        fields = set(NAME.findall(document)) - {"counters"}  # "integer from `counters`"
        table[collection.strip("`")] = (fields, set(NAME.findall(indexes)))
    return table


def test_readme_data_model_matches_folio_db_schema():
    # What `folio db schema` prints: each model's validator properties and declared indexes.
    table = readme_data_model()
    assert set(table) == {model.Settings.name for model in DOCUMENT_MODELS}
    for model in DOCUMENT_MODELS:
        fields, indexes = table[model.Settings.name]
        stored = set(validator_for(model)["$jsonSchema"]["properties"])
        assert fields - {"_id"} == stored - {"_id"}, model.Settings.name
        assert indexes == set(declared_indexes(model)), model.Settings.name


# The docs a newcomer follows: docs/mongosh.md's table, links, quoted commands ---------------------

DOCS = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.S)


def test_mongosh_collections_table_matches_the_models():
    # The index column is what `index_summary` renders from models/, so it cannot fall behind.
    from scripts.dbtools import index_summary

    text = (ROOT / "docs" / "mongosh.md").read_text()
    rows = {line.strip("|").split(" | ")[0].strip().strip("`"): line.strip().strip("|").split(" | ")
            for line in text.split("| Collection | Fields | Indexes (name: keys) |", 1)[1]
            .split("\n\n", 1)[0].splitlines() if line.startswith("| `")}
    assert set(rows) == {model.Settings.name for model in DOCUMENT_MODELS}
    for model in DOCUMENT_MODELS:
        _, fields, indexes = rows[model.Settings.name]
        assert indexes.strip() == index_summary(model), (model.Settings.name, index_summary(model))
        stored = set(validator_for(model)["$jsonSchema"]["properties"])
        assert stored <= set(NAME.findall(fields)), (model.Settings.name, stored - set(NAME.findall(fields)))


FILE_NAME = re.compile(r"[\w./-]+\.(?:md|py|yml|yaml|toml|json|txt|cfg)")


def _third_party(path: str) -> bool:
    """A path inside an installed package that is not Folio's (`mongomock/collection.py`)."""
    import importlib.util

    first = path.split("/", 1)[0]
    return first.isidentifier() and first not in {"service", "models", "scripts", "tests"} and (
        importlib.util.find_spec(first) is not None)


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_relative_link_in_the_docs_resolves_inside_the_repository(doc):
    # Markdown links, and file names quoted as code (`docs/engines.md`, `../shared/x.md`):
    # either way a reader looks for the file, beside the document or from the repository root.
    text = doc.read_text()
    quoted = [span for block, span in CODE.findall(text)
              if span and FILE_NAME.fullmatch(span) and "/" in span and not span.startswith("/")
              and not _third_party(span)]
    broken = []
    for target in [*LINK.findall(text), *quoted]:
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        relative = target.split("#", 1)[0]
        candidates = [(doc.parent / relative).resolve(), (ROOT / relative).resolve()]
        if not any(path.is_relative_to(ROOT) and path.exists() for path in candidates):
            broken.append(target)
    assert broken == [], f"{doc.name}: {broken}"


def _folio_commands():
    """The `folio` command tree: path -> the options it takes."""
    import click
    import typer.main

    from scripts.cli import app

    tree: dict[tuple[str, ...], set[str]] = {}

    def walk(command, path):
        tree[path] = {opt for param in command.params for opt in param.opts if opt.startswith("-")}
        if hasattr(command, "list_commands"):
            context = click.Context(command)  # type: ignore[arg-type]
            for name in command.list_commands(context):
                walk(command.get_command(context, name), (*path, name))

    walk(typer.main.get_command(app), ())
    return tree


def _quoted_folio_commands(text: str):
    """(path, options) for each `folio …` quoted in code in a document."""
    for block, inline in CODE.findall(text):
        for line in (block or inline).splitlines():
            words = line.replace("\\|", " | ").split()
            for start, word in enumerate(words):
                if word != "folio" and not word.endswith("/folio"):
                    continue
                yield words[start + 1:]


def _wrong_folio_commands(text: str, tree: dict[tuple[str, ...], set[str]]) -> list[str]:
    """Each `folio …` quoted in `text` whose command, subcommand or option does not exist."""
    wrong = []
    for quoted in _quoted_folio_commands(text):
        words = [word.strip("\\`.,;:()") for word in quoted]
        path: tuple[str, ...] = ()
        for word in words:
            if (*path, word) not in tree:
                break
            path = (*path, word)
        rest = words[len(path):]
        group = any(len(key) > len(path) and key[:len(path)] == path for key in tree)
        if group and rest and re.fullmatch(r"[a-z][a-z-]*", rest[0]):
            wrong.append(" ".join(["folio", *path, rest[0]]))  # no such (sub)command
            continue
        for word in rest:
            if word in ("&&", "|", ";", ">", "2>&1"):
                break
            option = word.strip("[]").split("=", 1)[0]
            if option.startswith("--") and option not in tree[path]:
                wrong.append(f"folio {' '.join(path)} {option}")
    return wrong


def test_the_folio_command_check_finds_a_wrong_command_or_option():
    tree = _folio_commands()
    text = "Run `folio db sink`, `folio serve --daemon`, `folio backup`, `folio db sync --rebuild-changed`."
    assert _wrong_folio_commands(text, tree) == [
        "folio db sink", "folio serve --daemon", "folio backup"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_folio_command_quoted_in_the_docs_exists(doc):
    assert _wrong_folio_commands(doc.read_text(), _folio_commands()) == [], doc.name


def test_security_md_makes_no_claim_the_code_has_outgrown():
    security = (ROOT / "SECURITY.md").read_text()
    assert "no admin API" not in security  # the moderation API has admin-only routes
    assert "shared rate-limit store for several processes" not in security  # Redis is one
    assert "/api/moderation/" in security and "FOLIO_REDIS_URL" in security
