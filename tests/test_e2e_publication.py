"""The end-to-end play of issue 12 (`tools/e2e_publication.py`) against a real uvicorn.

The script starts `uvicorn service.main:app` on a free port itself and plays an admin, a
moderator, two authors and a reporter through moderation, revisions, comment editing, Atom
feeds and account deletion; every check must pass.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.embedded_only("the script starts its own server on the embedded engine")
def test_the_publication_play_passes_every_check() -> None:
    """`python -m tools.e2e_publication` exits 0, within well under a minute."""
    run = subprocess.run(
        [sys.executable, "-m", "tools.e2e_publication"],
        cwd=ROOT, capture_output=True, text=True, timeout=50,
    )
    failed = [line for line in run.stdout.splitlines() if line.startswith("FAIL")]
    assert run.returncode == 0, "\n".join(
        [*failed, *run.stdout.splitlines()[-15:], run.stderr[-2000:]]
    )
    assert "0 failed" in run.stdout
