"""ReDoc at `/redoc`, served entirely from this server.

fastapi-offline ships ReDoc's bundle, but the bundle draws a "Redocly" logo from a CDN, which
the docs' Content-Security-Policy (rightly) blocks: a console error and a broken image. Folio
serves the same bundle with that one image inlined as an empty SVG instead.
"""

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, Response

REDOC_BUNDLE = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
INLINE_LOGO = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"
SCRIPT_PATH = "/redoc/redoc.standalone.js"


@cache
def redoc_bundle() -> bytes:
    """ReDoc's standalone bundle with its CDN logo inlined (read once per process)."""
    return REDOC_BUNDLE.read_bytes().replace(CDN_LOGO, INLINE_LOGO)


def install_redoc(app: FastAPI, *, favicon_url: str = "/static-offline-docs/favicon.png") -> None:
    """Serve `/redoc` and its script (under `/redoc`, so the docs' CSP applies to both)."""

    @app.get("/redoc", include_in_schema=False)
    async def redoc_html(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{SCRIPT_PATH}",
            redoc_favicon_url=f"{root}{favicon_url}",
            with_google_fonts=False,
        )

    @app.get(SCRIPT_PATH, include_in_schema=False)
    async def redoc_script() -> Response:
        return Response(
            redoc_bundle(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )
