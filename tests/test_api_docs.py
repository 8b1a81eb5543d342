"""The interactive docs work with no network: their assets come from this server only."""

import copy
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from service.config import Settings
from tests.conftest import make_settings
from tests.factories import PASSWORD, add_comment, create_article
from tests.servers import free_port, installed_or_skip, running, uvicorn_command


@pytest.fixture
def settings() -> Settings:
    """FOLIO_ADMINS names `root` (the moderation cast, for moderation answers)."""
    return make_settings(admins=["root"])

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


async def test_no_component_schema_is_empty(client):
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for name in ("ArticleOut", "ArticleListItem", "CommentOut", "CurrentUserOut",
                 "ModeratedCommentOut"):
        assert "properties" in schemas[name], (name, schemas[name])
    for name, schema in schemas.items():
        described = set(schema) - {"title", "description", "example", "examples"}
        assert described, f"{name} is empty: it accepts anything"


def closed(document: dict) -> dict:
    """The document with `additionalProperties: false` on every object schema that lists its
    properties and says nothing about others (Folio's response models never add keys)."""
    def close(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)
        return node
    return close(copy.deepcopy(document))


async def test_every_documented_response_validates_against_its_own_closed_schema(client):
    from jsonschema import Draft202012Validator

    document = closed((await client.get("/openapi.json")).json())
    # The component schemas as `$defs`, so that each response schema validates on its own.
    text = json.dumps(document).replace("#/components/schemas/", "#/$defs/")
    document = json.loads(text)

    def validator_for(method: str, template: str, status: int) -> Draft202012Validator:
        declared = document["paths"][template][method]["responses"][str(status)]
        schema = declared["content"]["application/json"]["schema"]
        return Draft202012Validator({**schema, "$defs": document["components"]["schemas"]})

    def check(method: str, template: str, response) -> None:
        errors = list(validator_for(method, template, response.status_code)
                      .iter_errors(response.json()))
        assert not errors, (method, template, [error.message for error in errors])

    from tests.test_moderation import cast

    people = await cast(client)
    author, moderator = people["author"], people["moderator"]
    article = await create_article(client, author, tagList=["t"], meta={"k": "v"})
    comment = await add_comment(client, author, article["slug"])
    slug, cid = article["slug"], comment["id"]
    calls = [
        ("get", "/api/user", "/api/user", author.headers, None),
        ("get", "/api/articles", "/api/articles", None, None),
        ("get", "/api/articles/{slug}", f"/api/articles/{slug}", None, None),
        ("get", "/api/articles/{slug}/comments", f"/api/articles/{slug}/comments", None, None),
        ("get", "/api/profiles/{username}", f"/api/profiles/{author.username}", None, None),
        ("get", "/api/tags", "/api/tags", None, None),
        ("post", "/api/moderation/comments/{id}/hide", f"/api/moderation/comments/{cid}/hide",
         moderator.headers, {"reason": "spam"}),
        ("get", "/api/articles/{slug}/comments", f"/api/articles/{slug}/comments",
         author.headers, None),
        ("post", "/api/moderation/articles/{slug}/hide",
         f"/api/moderation/articles/{slug}/hide", moderator.headers, {"reason": "spam"}),
        ("get", "/api/articles/{slug}", f"/api/articles/{slug}", author.headers, None),
        ("post", "/api/moderation/users/{username}/suspend",
         f"/api/moderation/users/{author.username}/suspend", moderator.headers,
         {"reason": "r", "until": "2999-01-01T00:00:00Z"}),
        ("post", "/api/users/login", "/api/users/login", None,
         {"user": {"email": author.email, "password": PASSWORD}}),
        ("get", "/api/moderation/log", "/api/moderation/log", people["admin"].headers, None),
    ]
    for method, template, path, headers, body in calls:
        response = await client.request(method.upper(), path, headers=headers, json=body)
        assert response.status_code == 200, (path, response.text)
        check(method, template, response)
    login = await client.post("/api/users/login",
                              json={"user": {"email": author.email, "password": PASSWORD}})
    fresh = {"Authorization": f"Token {login.json()['user']['token']}"}
    suspended = await client.get("/api/user", headers=fresh)
    assert "suspension" in suspended.json()["user"]
    check("get", "/api/user", suspended)
    # A closed schema refuses what the model would never send: the check has teeth.
    shown = (await client.get(f"/api/articles/{slug}", headers=fresh)).json()
    shown["article"]["extra"] = 1
    validator = validator_for("get", "/api/articles/{slug}", 200)
    assert list(validator.iter_errors(shown))


async def test_redoc_draws_no_image_from_a_cdn(client):
    page = await client.get("/redoc")
    script = await client.get("/redoc/redoc.standalone.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert b"cdn.redoc.ly" not in script.content
    assert "/redoc/redoc.standalone.js" in page.text
    assert script.headers["content-security-policy"].startswith("default-src 'self'")
