"""Probes for orchestrators: `/healthz` (the process) and `/readyz` (the process and MongoDB)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.db import ping

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
