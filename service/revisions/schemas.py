"""Wire shapes of the revisions domain."""

from pydantic import BaseModel, Field

from service.contract.schemas import MAX_LIMIT, Timestamp, WireModel


class RevisionPageParams(BaseModel):
    """Keyset paging of an article's revisions, newest version first."""

    limit: int = Field(default=20, ge=1, le=MAX_LIMIT, description="revisions per page")
    cursor: str | None = Field(
        default=None, max_length=512, description="`nextCursor` of the previous page"
    )


class Editor(WireModel):
    """Who wrote or replaced a version."""

    username: str


class RevisionOut(WireModel):
    """One replaced version of an article: its content, who wrote it and who replaced it."""

    version: int
    title: str
    description: str
    body: str
    tag_list: list[str]
    editor: Editor | None = Field(description="who wrote this version; null if since deleted")
    edited_at: Timestamp
    replaced_by: Editor | None = Field(
        description="who replaced this version; null if since deleted"
    )
    replaced_at: Timestamp


class MultipleRevisionsResponse(WireModel):
    """A page of revisions, newest version first, and how many the article keeps."""

    revisions: list[RevisionOut]
    revisions_count: int = Field(description="every revision kept for the article (at most 50)")
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last page"
    )
