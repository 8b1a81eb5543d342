"""Probes for orchestrators: `/healthz` (the process) and `/readyz` (the process and MongoDB),
and `/metrics` for Prometheus."""

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from service.contract.errors import error_body
from service.engine import ping
from service.observability import metrics

router = APIRouter(tags=["Health"])


@router.get("/healthz", name="health:live", summary="Liveness")
async def live() -> dict[str, str]:
    """The process is up and serving; touches no database."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    name="health:ready",
    summary="Readiness",
    responses={503: {"description": "the database cannot be reached"}},
)
async def ready(request: Request) -> JSONResponse:
    """The database answers a ping (503 with the error envelope otherwise)."""
    await ping(request.app.state.engine)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", name="health:metrics", include_in_schema=False)
async def scrape(request: Request) -> Response:
    """Every metric in Prometheus's text format (service/observability/metrics.py).

    With FOLIO_METRICS_TOKEN set, only `Authorization: Bearer <token>` may read them (401
    otherwise, compared in constant time); unset, anyone who reaches the port may.
    """
    token = request.app.state.settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), expected):
            return JSONResponse(
                error_body("token", "a valid metrics token is required"), 401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
