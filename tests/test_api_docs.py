"""The interactive docs work with no network: their assets come from this server only."""

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.servers import free_port, installed_or_skip, running, uvicorn_command

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium as the machine's own probe starts it, plus a resolver that finds no host but this
# one: any script, style or font the page wanted from a CDN would fail to load.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


class AssetLinks(HTMLParser):
    """Collects every src and href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


def assets_of(html: str) -> list[str]:
    parser = AssetLinks()
    parser.feed(html)
    return parser.links


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_every_asset_from_this_server(client, page):
    response = await client.get(page)
    assert response.status_code == 200
    assets = assets_of(response.text)
    # Scripts and styles are named in <script src> and <link href>; inline scripts name more.
    assets += re.findall(r"url: ?'([^']+)'", response.text)
    assert assets, response.text
    for asset in assets:
        assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
        assert not asset.startswith("//"), f"{page} loads {asset} from elsewhere"
        if asset.startswith("/static-offline-docs/"):
            served = await client.get(asset)
            assert served.status_code == 200 and len(served.content) > 1000, asset
    assert "fonts.googleapis.com" not in response.text and "cdn." not in response.text


async def test_docs_pages_may_only_load_from_this_server(client):
    policy = (await client.get("/docs")).headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "http" not in policy  # no other origin is allowed anything


async def test_every_operation_appears_once_under_one_tag(client):
    document = (await client.get("/openapi.json")).json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert len(operation["tags"]) == 1, (method, path, operation["tags"])
    favorite = document["paths"]["/api/articles/{slug}/favorite"]
    assert favorite["post"]["tags"] == favorite["delete"]["tags"] == ["Favorites"]


def chromium_or_skip() -> str:
    """Chromium's path (see `installed_or_skip`)."""
    return installed_or_skip(CHROMIUM, "chromium")


@pytest.fixture(scope="module")
def docs_server():
    """Folio on a free port, with no database configured (the embedded engine)."""
    port = free_port()
    env = {"FOLIO_MONGODB_URL": "", "FOLIO_RATE_LIMITS_ENABLED": "false"}
    with running(uvicorn_command("service.main:app", port), port, env=env):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("page", "rendered"),
    [
        # Swagger UI draws one block per operation, with its path as text.
        ("/docs", r'class="opblock-summary-path"[^>]*data-path="/api/articles"'),
        # ReDoc renders each operation's summary and the API's title from the OpenAPI document.
        ("/redoc", r"Get recent articles globally"),
    ],
)
def test_docs_render_their_operations_in_a_browser_with_no_network(
    docs_server, page, rendered, tmp_path: Path
):
    browser = chromium_or_skip()
    common = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
              "--virtual-time-budget=15000"]
    dom = subprocess.run([*common, "--dump-dom", docs_server + page],
                         capture_output=True, text=True, timeout=120)
    assert re.search(rendered, dom.stdout), dom.stdout[-3000:] + dom.stderr[-3000:]
    assert "Failed to load API definition" not in dom.stdout
    screenshot = tmp_path / "docs.png"
    subprocess.run([*common, "--window-size=1280,1600", f"--screenshot={screenshot}",
                    docs_server + page], capture_output=True, timeout=120)
    # Kept for people to look at: FOLIO_DOCS_SCREENSHOTS=dir saves each page's picture there.
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 20_000
    if os.environ.get("FOLIO_DOCS_SCREENSHOTS"):
        target = Path(os.environ["FOLIO_DOCS_SCREENSHOTS"]) / f"{page.strip('/')}.png"
        shutil.copy(screenshot, target)
