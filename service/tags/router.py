"""Tags in use: `/tags`."""

from fastapi import APIRouter

from service.tags import queries
from service.tags.schemas import TagsResponse

router = APIRouter(prefix="/tags", tags=["Tags"])


@router.get("", name="tags:list", response_model=TagsResponse, summary="Get tags")
async def list_tags() -> TagsResponse:
    """Every tag in use, alphabetically."""
    return TagsResponse(tags=await queries.all_tags())
