"""An article's revisions, and restoring one: `/articles/{slug}/revisions...`."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from service.articles import reads, writes
from service.articles.history_deps import ArticleHistory, IfRestoreVersion, RestorableArticle
from service.articles.router import with_tag
from service.articles.schemas import SingleArticleResponse
from service.contract.schemas import error_responses
from service.revisions import queries
from service.revisions.schemas import MultipleRevisionsResponse, RevisionPageParams
from service.users.deps import WritingUser

router = APIRouter(
    prefix="/articles/{slug}/revisions",
    tags=["Revisions"],
    responses=error_responses(401, 403, 404, 422, 429),
)

Version = Annotated[int, Path(ge=1, le=2**63 - 1, description="the version to restore")]


@router.get(
    "",
    name="revisions:list",
    response_model=MultipleRevisionsResponse,
    summary="Get an article's revisions",
)
async def list_revisions(
    article: ArticleHistory, page: Annotated[RevisionPageParams, Query()]
) -> MultipleRevisionsResponse:
    """The content each update replaced, newest version first (the last 50 are kept).

    For the article's author, moderators and admins.
    """
    found = await queries.revisions_page(article["_id"], limit=page.limit, cursor=page.cursor)
    return MultipleRevisionsResponse.model_validate(
        {"revisions": found.revisions, "revisions_count": found.total,
         "next_cursor": found.next_cursor}
    )


@router.post(
    "/{version}/restore",
    name="revisions:restore",
    response_model=SingleArticleResponse,
    summary="Restore a revision of an article",
    responses=error_responses(409, 412),
)
async def restore_revision(
    user: WritingUser, article: RestorableArticle, version: Version, if_version: IfRestoreVersion
) -> Response:
    """Make a revision's title, description, body and tags the content again, as a new version.

    It is an update like any other: the content it replaces becomes a revision too. Honours
    `If-Match` (412, nothing written). For the article's author, moderators and admins.
    """
    revision = await queries.revision_at(article["_id"], version)
    updated = await writes.update_article(
        article, user, queries.restored_content(revision), if_version=if_version
    )
    await reads.add_viewer_flags([updated], user.id)
    return with_tag(updated)
