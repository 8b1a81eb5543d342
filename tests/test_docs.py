"""Documentation generated from code, or describing it, stays in step with it."""

import re
from pathlib import Path

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
