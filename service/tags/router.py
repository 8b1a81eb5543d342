"""Tags in use: `/tags`."""

from fastapi import APIRouter

from service.contract.schemas import error_responses
from service.tags import queries
from service.tags.schemas import TagsResponse

router = APIRouter(prefix="/tags", tags=["Tags"], responses=error_responses())


@router.get("", name="tags:list", response_model=TagsResponse, summary="Get tags")
async def list_tags() -> TagsResponse:
    """Every tag in use, alphabetically."""
    return TagsResponse(tags=await queries.all_tags())
