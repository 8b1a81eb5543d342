"""Reports by readers, and the moderators' and admins' tools: `/moderation/...`."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response, status

from service.articles.deps import ArticleBySlug
from service.articles.reads import add_viewer_flags
from service.articles.schemas import SingleArticleResponse
from service.comments.deps import CommentId
from service.comments.queries import comment_on_article
from service.contract.schemas import error_responses
from service.moderation import log as audit_log
from service.moderation import media as media_moderation
from service.moderation import queries, reports
from service.moderation.schemas import (
    LogEntryOut,
    LogParams,
    LogResponse,
    ModeratedCommentOut,
    ModeratedCommentResponse,
    ModeratedMediaOut,
    ModeratedMediaResponse,
    ModeratedUserOut,
    ModeratedUserResponse,
    NewReportRequest,
    OptionalReasonRequest,
    QueuedReportOut,
    QueueParams,
    ReasonRequest,
    ReportOut,
    ReportQueueResponse,
    ReportResponse,
    RoleChangeRequest,
    SuspendRequest,
)
from service.profiles.queries import user_by_username, usernames_of
from service.users.deps import (
    AdminReading,
    AdminUser,
    ModeratingUser,
    ModeratorReading,
    SettingsDep,
    WritingUser,
)
from service.users.queries import live_suspension

reports_router = APIRouter(
    prefix="/articles/{slug}",
    tags=["Moderation"],
    responses=error_responses(401, 403, 404, 413, 422, 429),
)
router = APIRouter(
    prefix="/moderation",
    tags=["Moderation"],
    responses=error_responses(401, 403, 404, 409, 413, 422, 429),
)
OptionalReason = Annotated[OptionalReasonRequest | None, Body()]


def _report_out(report: dict[str, Any], slug: str | None) -> ReportResponse:
    """The `report` envelope, its target named by slug (and comment id)."""
    target = {
        "type": "comment" if report.get("comment_id") is not None else "article",
        "slug": slug,
        "comment_id": report.get("comment_id"),
    }
    return ReportResponse(report=ReportOut.from_doc(report, target))


def _report_answer(
    report: dict[str, Any], slug: str, created: bool, response: Response
) -> ReportResponse:
    """201 for a new report, 200 for the reporter's open one on the same target."""
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _report_out(report, slug)


@reports_router.post(
    "/reports",
    name="reports:article",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportResponse,
    summary="Report an article to moderators (Folio)",
    responses={200: {"description": "you already have an open report of it: that one"}},
)
async def report_article(
    body: NewReportRequest, user: WritingUser, article: ArticleBySlug, response: Response
) -> ReportResponse:
    """Report an article you can see: 201, or 200 with your open report of it."""
    report, created = await reports.file_report(
        user, article["_id"], None, body.report.reason, body.report.note, article["slug"]
    )
    return _report_answer(report, article["slug"], created, response)


@reports_router.post(
    "/comments/{id}/reports",
    name="reports:comment",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportResponse,
    summary="Report a comment to moderators (Folio)",
    responses={200: {"description": "you already have an open report of it: that one"}},
)
async def report_comment(
    id: CommentId, body: NewReportRequest, user: WritingUser, article: ArticleBySlug,
    response: Response,
) -> ReportResponse:
    """Report a comment you can see: 201, or 200 with your open report of it."""
    comment = await comment_on_article(article["_id"], id, user.id)
    report, created = await reports.file_report(
        user, article["_id"], comment["_id"], body.report.reason, body.report.note,
        article["slug"],
    )
    return _report_answer(report, article["slug"], created, response)


@router.get(
    "/reports",
    name="moderation:reports",
    response_model=ReportQueueResponse,
    summary="The report queue, oldest first (moderators)",
)
async def report_queue(
    moderator: ModeratorReading, params: Annotated[QueueParams, Query()]
) -> ReportQueueResponse:
    """Reports in one status, each with its reporter, its target and the target's counts."""
    page = await reports.report_queue(params.status, params.limit, params.cursor)
    return ReportQueueResponse(
        reports=[QueuedReportOut.from_doc(row, row["target"]) for row in page.reports],
        reports_count=page.total,
        reports_count_capped=page.capped,
        next_cursor=page.next_cursor,
    )


@router.post(
    "/reports/{id}/dismiss",
    name="moderation:dismiss",
    response_model=ReportResponse,
    summary="Dismiss the open reports of a report's target (moderators)",
)
async def dismiss(moderator: ModeratingUser, id: str, body: OptionalReason = None) -> ReportResponse:
    """Resolve, as dismissed, every open report of the same target; nothing is hidden."""
    report = await reports.report_by_id(id)
    slug = await queries.slug_of(report["article_id"])
    await reports.dismiss_reports(report, slug, moderator, body.reason if body else None)
    return _report_out(await reports.report_by_id(id), slug)


async def _article_answer(article: dict[str, Any], moderator_id: Any) -> SingleArticleResponse:
    await add_viewer_flags([article], moderator_id)
    return SingleArticleResponse.of(article)


@router.post(
    "/articles/{slug}/hide",
    name="moderation:hide_article",
    response_model=SingleArticleResponse,
    summary="Hide an article (moderators)",
)
async def hide_article(
    moderator: ModeratingUser, article: ArticleBySlug, body: ReasonRequest
) -> SingleArticleResponse:
    """Hide an article from everyone but its author and moderators; resolves its open reports."""
    hidden = await queries.hide_article(article, moderator, body.reason)
    return await _article_answer(hidden, moderator.id)


@router.post(
    "/articles/{slug}/unhide",
    name="moderation:unhide_article",
    response_model=SingleArticleResponse,
    summary="Show a hidden article again (moderators)",
)
async def unhide_article(
    moderator: ModeratingUser, article: ArticleBySlug, body: OptionalReason = None
) -> SingleArticleResponse:
    """Make a hidden article public again."""
    shown = await queries.unhide_article(article, moderator, body.reason if body else None)
    return await _article_answer(shown, moderator.id)


async def _comment_action(
    moderator: Any, comment_id: int, reason: str | None, *, hidden: bool
) -> ModeratedCommentResponse:
    comment, slug = await queries.comment_to_moderate(comment_id, moderator)
    updated = await queries.set_comment_hidden(comment, slug, moderator, reason, hidden=hidden)
    author = (await usernames_of({updated["author_id"]})).get(updated["author_id"])
    moderation = updated.get("moderation")
    return ModeratedCommentResponse(comment=ModeratedCommentOut(
        id=updated["_id"], body=updated["body"], author=author,
        moderation={"hidden": True, "reason": moderation["reason"]} if moderation else None,
    ))


@router.post(
    "/comments/{id}/hide",
    name="moderation:hide_comment",
    response_model=ModeratedCommentResponse,
    summary="Hide a comment (moderators)",
)
async def hide_comment(
    moderator: ModeratingUser, id: CommentId, body: ReasonRequest
) -> ModeratedCommentResponse:
    """Hide a comment from everyone but its author; resolves its open reports."""
    return await _comment_action(moderator, id, body.reason, hidden=True)


@router.post(
    "/comments/{id}/unhide",
    name="moderation:unhide_comment",
    response_model=ModeratedCommentResponse,
    summary="Show a hidden comment again (moderators)",
)
async def unhide_comment(
    moderator: ModeratingUser, id: CommentId, body: OptionalReason = None
) -> ModeratedCommentResponse:
    """Show a hidden comment again."""
    return await _comment_action(moderator, id, body.reason if body else None, hidden=False)


async def _media_action(
    moderator: Any, media_id: str, reason: str | None, *, hidden: bool
) -> ModeratedMediaResponse:
    media = await media_moderation.media_to_moderate(media_id)
    updated = await media_moderation.set_media_hidden(media, moderator, reason, hidden=hidden)
    owner = (await usernames_of({updated["owner_id"]})).get(updated["owner_id"])
    moderation = updated.get("moderation")
    return ModeratedMediaResponse(media=ModeratedMediaOut(
        id=str(updated["_id"]), owner=owner,
        moderation={"hidden": True, "reason": moderation["reason"]} if moderation else None,
    ))


@router.post(
    "/media/{id}/hide",
    name="moderation:hide_media",
    response_model=ModeratedMediaResponse,
    summary="Hide an upload of the media library (moderators)",
)
async def hide_media(
    moderator: ModeratingUser, id: str, body: ReasonRequest
) -> ModeratedMediaResponse:
    """Hide an upload: its URLs answer 404 to everyone but its owner and moderators."""
    return await _media_action(moderator, id, body.reason, hidden=True)


@router.post(
    "/media/{id}/unhide",
    name="moderation:unhide_media",
    response_model=ModeratedMediaResponse,
    summary="Show a hidden upload again (moderators)",
)
async def unhide_media(
    moderator: ModeratingUser, id: str, body: OptionalReason = None
) -> ModeratedMediaResponse:
    """Show a hidden upload again."""
    return await _media_action(moderator, id, body.reason if body else None, hidden=False)


def _user_answer(account: dict[str, Any]) -> ModeratedUserResponse:
    return ModeratedUserResponse(user=ModeratedUserOut(
        username=account["username"], role=account.get("role", "author"),
        suspension=live_suspension(account.get("suspension")),
    ))


@router.post(
    "/users/{username}/suspend",
    name="moderation:suspend",
    response_model=ModeratedUserResponse,
    summary="Suspend an account (moderators: authors; admins: anyone)",
)
async def suspend(
    moderator: ModeratingUser, username: str, body: SuspendRequest
) -> ModeratedUserResponse:
    """Suspend an account: its writes answer 403 until `until` (or until lifted), and every
    session ends."""
    target = await user_by_username(username)
    return _user_answer(await queries.suspend(target, moderator, body.reason, body.until))


@router.post(
    "/users/{username}/unsuspend",
    name="moderation:unsuspend",
    response_model=ModeratedUserResponse,
    summary="Lift a suspension (moderators: authors; admins: anyone)",
)
async def unsuspend(
    moderator: ModeratingUser, username: str, body: OptionalReason = None
) -> ModeratedUserResponse:
    """Lift an account's suspension."""
    target = await user_by_username(username)
    return _user_answer(
        await queries.unsuspend(target, moderator, body.reason if body else None)
    )


@router.put(
    "/users/{username}",
    name="moderation:role",
    response_model=ModeratedUserResponse,
    summary="Change an account's role (admins)",
)
async def change_role(
    admin: AdminUser, username: str, body: RoleChangeRequest, settings: SettingsDep
) -> ModeratedUserResponse:
    """Make an account an author, a moderator or an admin."""
    target = await user_by_username(username)
    return _user_answer(
        await queries.change_role(target, admin, body.user.role, settings.admins)
    )


@router.get(
    "/log",
    name="moderation:log",
    response_model=LogResponse,
    summary="The moderation log, newest first (admins)",
)
async def moderation_log(
    admin: AdminReading, params: Annotated[LogParams, Query()]
) -> LogResponse:
    """Every moderation action: who, what, which target, why and when."""
    rows, next_cursor = await audit_log.log_page(params.limit, params.cursor)
    return LogResponse(
        entries=[LogEntryOut.model_validate({**row, "id": str(row["_id"])}) for row in rows],
        next_cursor=next_cursor,
    )

