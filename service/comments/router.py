"""Comments on an article: `/articles/{slug}/comments...`."""

from fastapi import APIRouter, Response, status

from service.articles.deps import ArticleBySlug
from service.comments import queries
from service.comments.deps import OwnedComment
from service.comments.schemas import (
    CommentOut,
    MultipleCommentsResponse,
    NewCommentRequest,
    SingleCommentResponse,
)
from service.schemas import error_responses
from service.users.deps import OptionalViewerId, WritingUser

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
    article: ArticleBySlug, viewer_id: OptionalViewerId
) -> MultipleCommentsResponse:
    """An article's comments, newest first; auth optional."""
    comments = await queries.comments_for(article["_id"], viewer_id)
    return MultipleCommentsResponse(comments=[CommentOut.from_doc(c) for c in comments])


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
    comment = await queries.add_comment(article["_id"], user, body.comment.body)
    return SingleCommentResponse(comment=CommentOut.from_doc(comment))


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
