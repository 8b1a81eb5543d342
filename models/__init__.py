"""Every collection Folio stores, one Beanie document each, with its named indexes."""

from models.articles import Article
from models.comments import Comment
from models.counters import Counter
from models.events import Event
from models.favorites import Favorite
from models.follows import Follow
from models.leases import Lease
from models.media import Media
from models.migrations import AppliedMigration
from models.moderation_log import ModerationEntry
from models.notifications import Notification
from models.report_sweeps import ReportSweep
from models.reports import Report
from models.revisions import ArticleRevision
from models.rollups import DailyStat, TagDay
from models.stream_tickets import StreamTicket
from models.tags import Tag
from models.users import User
from models.webhooks import Webhook, WebhookDelivery

DOCUMENT_MODELS = [
    User, Follow, Article, Favorite, Comment, Counter, AppliedMigration,
    ArticleRevision, Report, ModerationEntry, ReportSweep, Tag, DailyStat, TagDay,
    Media, Event, Lease, Webhook, WebhookDelivery, Notification, StreamTicket,
]

__all__ = [
    "DOCUMENT_MODELS",
    "AppliedMigration",
    "Article",
    "ArticleRevision",
    "Comment",
    "Counter",
    "DailyStat",
    "Event",
    "Favorite",
    "Follow",
    "Lease",
    "Media",
    "ModerationEntry",
    "Notification",
    "Report",
    "ReportSweep",
    "StreamTicket",
    "Tag",
    "TagDay",
    "User",
    "Webhook",
    "WebhookDelivery",
]
