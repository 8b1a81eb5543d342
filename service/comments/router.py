"""Comments on an article: `/articles/{slug}/comments...`."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from service.articles.deps import ArticleBySlug, VisibleArticle
from service.comments import queries
from service.comments.deps import IfVersion, OwnedComment, VisibleComment
from service.comments.schemas import (
    CommentOut,
    CommentPageParams,
    MultipleCommentsResponse,
    NewCommentRequest,
    SingleCommentResponse,
    UpdateCommentRequest,
)
from service.contract.conditional import IfNoneMatch, tagged_response
from service.contract.schemas import error_responses
from service.users.deps import OptionalViewer, WritingUser

router = APIRouter(
    prefix="/articles/{slug}/comments",
    tags=["Comments"],
    responses=error_responses(401, 403, 404, 413, 422, 429),
)


@router.get(
    "",
    name="comments:list",
    response_model=MultipleCommentsResponse,
    summary="Get comments for an article",
)
async def list_comments(
    article: VisibleArticle, viewer: OptionalViewer, page: Annotated[CommentPageParams, Query()]
) -> MultipleCommentsResponse:
    """An article's comments, newest first; auth optional.

    Without `limit`, up to 500 comments (`nextCursor` then leads on). `commentsCount` counts
    every comment the caller may see: a hidden comment is listed to its author only.
    """
    found = await queries.comment_page(
        article, viewer, offset=page.offset,
        limit=page.limit or queries.COMMENTS_CAP, cursor=page.cursor,
    )
    return MultipleCommentsResponse(
        comments=[CommentOut.from_doc(c) for c in found.comments],
        comments_count=found.total,
        next_cursor=found.next_cursor,
    )


@router.post(
    "",
    name="comments:create",
    status_code=status.HTTP_201_CREATED,
    response_model=SingleCommentResponse,
    summary="Create a comment for an article",
)
async def create_comment(
    body: NewCommentRequest, user: WritingUser, article: ArticleBySlug
) -> SingleCommentResponse:
    """Comment on an article (201, as RealWorld 2.0 says)."""
    comment = await queries.add_comment(
        article["_id"], user, body.comment.body, published_at=article.get("published_at"),
        article=article,
    )
    return SingleCommentResponse(comment=CommentOut.from_doc(comment))


def with_tag(comment: dict[str, Any], if_none_match: str | None = None) -> Response:
    """The comment's JSON with its ETag; 304 and no body when If-None-Match names that tag."""
    envelope = SingleCommentResponse(comment=CommentOut.from_doc(comment))
    return tagged_response(comment, envelope, if_none_match)


@router.get(
    "/{id}",
    name="comments:get",
    response_model=SingleCommentResponse,
    summary="Get a comment",
    responses={304: {"description": "unchanged since the ETag sent in If-None-Match"}},
)
async def get_comment(
    comment: VisibleComment,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """One comment; auth optional. Its `ETag` serves If-None-Match and If-Match."""
    return with_tag(comment, if_none_match)


@router.put(
    "/{id}",
    name="comments:update",
    response_model=SingleCommentResponse,
    summary="Edit a comment",
    responses=error_responses(412),
)
async def update_comment(
    body: UpdateCommentRequest, user: WritingUser, comment: OwnedComment, if_version: IfVersion
) -> Response:
    """Change the body of a comment you wrote; `updatedAt` moves.

    With `If-Match` (an ETag from GET or an earlier edit), the change applies only if nobody
    changed the comment since: otherwise 412, and nothing is written.
    """
    updated = await queries.update_comment(comment, user, body.comment.body, if_version=if_version)
    return with_tag(updated)


@router.delete(
    "/{id}",
    name="comments:delete",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a comment for an article",
)
async def delete_comment(comment: OwnedComment) -> Response:
    """Delete a comment you wrote."""
    await queries.delete_comment(comment)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
