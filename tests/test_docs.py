"""Documentation generated from code stays in step with it."""

from pathlib import Path

from scripts.pipelines_doc import render

ROOT = Path(__file__).resolve().parent.parent


def test_pipelines_doc_is_up_to_date():
    current = (ROOT / "docs" / "pipelines.md").read_text()
    assert current == render(), "run: python -m scripts.pipelines_doc > docs/pipelines.md"
