"""An app with one slow route, for the graceful-shutdown test (run by uvicorn in a subprocess)."""

import asyncio

from fastapi import FastAPI

from service.main import create_app
from tests.conftest import make_settings


def build() -> FastAPI:
    """Folio plus `/slow`, which answers after a second and a half."""
    app = create_app(make_settings())

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(1.5)
        return {"status": "finished"}

    return app
