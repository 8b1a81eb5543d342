"""The sender: claims due deliveries, signs and POSTs them, and schedules retries.

Each API process runs one (service/main.py), and so can a worker process (`run_sender`). A
delivery is claimed by one `find_one_and_update` that moves its `next_attempt_at` past the
attempt's time limit and writes a lease, so two processes never send the same attempt; the
outcome is written only under that lease. A process that dies mid-attempt leaves the lease to
lapse and the attempt is made again: delivery is at least once, and receivers deduplicate by
`webhook-id`, the same on every attempt of a delivery (Standard Webhooks).
"""

import asyncio
import contextlib
import logging
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpcore
import httpx
import standardwebhooks
from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from models import ModerationEntry, Webhook, WebhookDelivery
from models.common import as_utc, utc_now
from service.config import Settings, get_settings
from service.engine import atomically, collection
from service.events import record
from service.events.pacing import IdlePacing
from service.moderation.log import write_log
from service.observability import metrics
from service.webhooks.addresses import RefusedAddress, VettingBackend

log = logging.getLogger("folio.webhooks")
MAX_IN_FLIGHT = 8
# A retry due within this long wakes this process's sender by a timer; later ones (and
# deliveries other processes queued) are found by the poll (FOLIO_WEBHOOK_POLL_SECONDS).
TIMER_HORIZON_SECONDS = 300
# A claim holds a delivery this much longer than an attempt may take.
LEASE_MARGIN_SECONDS = 30
MAX_RESPONSE_BYTES = 64 * 1024
MAX_HISTORY = 50  # attempts kept per delivery (redeliveries add rounds)
JITTER = 0.2  # each retry delay is stretched by up to this fraction, at random
FAILING_FOR = timedelta(hours=24)
USER_AGENT = "Folio-Webhooks/1"
SENDER = "webhook sender"

_wakers: set[asyncio.Event] = set()


def wake() -> None:
    """Tell this process's senders that deliveries were just queued."""
    for waker in _wakers:
        waker.set()


def retry_delay(delays: list[float], attempt: int) -> float | None:
    """Seconds before the next attempt after failed attempt number `attempt` (1-based), with
    jitter; None once every delay is used."""
    if attempt > len(delays):
        return None
    return delays[attempt - 1] * (1 + random.uniform(0, JITTER))


def message_id(delivery: dict[str, Any]) -> str:
    """The `webhook-id`: the delivery's, so every attempt and redelivery carries the same one."""
    return f"msg_{delivery['_id']}"


def signed_headers(secret: str, msg_id: str, moment: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt, signed by the `standardwebhooks` library."""
    signature = standardwebhooks.Webhook(secret).sign(msg_id, moment, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def http_client(settings: Settings) -> httpx.AsyncClient:
    """An HTTP client that connects only to vetted addresses, follows no redirects and reads
    no proxy settings from the environment (a proxy would connect for us, unvetted)."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx takes no network backend; its transport wraps one httpcore pool, which does.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(), max_connections=MAX_IN_FLIGHT * 2,
        max_keepalive_connections=MAX_IN_FLIGHT, keepalive_expiry=5.0,
        network_backend=VettingBackend(settings.webhook_allow_private),
    )
    return httpx.AsyncClient(
        transport=transport, follow_redirects=False, trust_env=False,
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
    )


class Sender:
    """One process's sender: claims, attempts and records, at most MAX_IN_FLIGHT at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.owner = uuid.uuid4().hex
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client, built at the first attempt: loading the CA bundle takes tens of
        milliseconds of the event loop, which a process with no webhooks never spends."""
        if self._client is None:
            self._client = http_client(self.settings)
        return self._client

    async def close(self) -> None:
        """Close the HTTP client, if one was built."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def claim(self) -> dict[str, Any] | None:
        """Take the most overdue pending delivery for one attempt, or None if none is due."""
        now = utc_now()
        hold = timedelta(seconds=self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS)
        return await collection(WebhookDelivery).find_one_and_update(
            {"status": "pending", "next_attempt_at": {"$lte": now}},
            {"$set": {"next_attempt_at": now + hold, "lease": f"{self.owner}:{uuid.uuid4().hex}"}},
            sort=[("next_attempt_at", 1)],
            return_document=ReturnDocument.AFTER,
        )

    async def post(self, webhook: dict[str, Any], delivery: dict[str, Any]) -> tuple[int | None, str | None]:
        """One signed POST: (the receiver's status or None, a short error or None)."""
        headers = signed_headers(webhook["secret"], message_id(delivery), utc_now(), delivery["body"])
        try:
            async with asyncio.timeout(self.settings.webhook_timeout_seconds):
                async with self.client.stream(
                    "POST", webhook["url"], content=delivery["body"].encode(), headers=headers
                ) as response:
                    read = 0
                    async for chunk in response.aiter_raw():  # capped: never the whole body
                        read += len(chunk)
                        if read >= MAX_RESPONSE_BYTES:
                            break
        except RefusedAddress as error:
            return None, str(error)[:200]
        except (TimeoutError, httpx.TimeoutException):
            return None, f"timed out after {self.settings.webhook_timeout_seconds:g} s"
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"[:200]
        status = response.status_code
        if 200 <= status < 300:
            return status, None
        if 300 <= status < 400:
            return status, f"HTTP {status}: redirects are not followed"
        return status, f"HTTP {status}"

    async def attempt(self, delivery: dict[str, Any]) -> None:
        """Make one attempt of a claimed delivery and record it under the claim's lease."""
        webhook = await collection(Webhook).find_one({"_id": delivery["webhook_id"]})
        if webhook is None or not webhook.get("enabled") or not webhook.get("secret"):
            # Disabled (or deleted) since it was queued: a disabled webhook stays silent.
            await self.record(delivery, None, "webhook disabled: not sent", final=True)
            return
        status, error = await self.post(webhook, delivery)
        await self.record(delivery, status, error)
        if error is None:
            metrics.webhook_delivered(
                (utc_now() - as_utc(delivery["event_at"])).total_seconds()
            )
            await collection(Webhook).update_one(
                {"_id": webhook["_id"], "failing_since": {"$ne": None}},
                {"$set": {"failing_since": None}},
            )
        else:
            await self.note_failure(webhook)

    async def record(
        self, delivery: dict[str, Any], status: int | None, error: str | None, final: bool = False
    ) -> None:
        """Write one attempt's outcome: delivered, due again after a delay, or failed."""
        now = utc_now()
        attempt = delivery.get("round_attempts", 0) + 1
        changes: dict[str, Any] = {"lease": None}
        delay = None if final else retry_delay(self.settings.webhook_retry_delays, attempt)
        if error is None:
            changes.update(status="delivered", next_attempt_at=None, delivered_at=now)
            outcome = "delivered"
        elif delay is not None:
            changes.update(next_attempt_at=now + timedelta(seconds=delay))
            outcome = "retried"
            if delay <= TIMER_HORIZON_SECONDS:  # retried promptly, without waiting for a poll
                asyncio.get_running_loop().call_later(delay, wake)
        else:
            changes.update(status="failed", next_attempt_at=None)
            outcome = "failed"
        entry = {"at": now, "status": status, "error": error, "round": delivery.get("round", 1)}
        await collection(WebhookDelivery).update_one(
            {"_id": delivery["_id"], "lease": delivery["lease"]},
            {"$set": changes, "$inc": {"attempt_count": 1, "round_attempts": 1},
             "$push": {"attempts": {"$each": [entry], "$slice": -MAX_HISTORY}}},
        )
        metrics.webhook_attempt(outcome)

    async def note_failure(self, webhook: dict[str, Any]) -> None:
        """Start the failure streak, and disable a webhook whose streak passed a day."""
        now = utc_now()
        since = await streak_start(webhook["_id"], now)
        if since is not None and since <= now - FAILING_FOR:
            await disable_failing(webhook, since, now)


    async def attempt_safely(self, delivery: dict[str, Any]) -> None:
        """An attempt whose database failure is logged; the lease then lapses and it is retried."""
        try:
            await self.attempt(delivery)
        except PyMongoError as error:
            log.warning("webhook delivery %s: %s; retried when its claim lapses", delivery["_id"], error)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and send until `stop` is set: woken at once by this process's consume(), a
        redelivery or a retry's timer, and otherwise every FOLIO_WEBHOOK_POLL_SECONDS."""
        waker = asyncio.Event()
        _wakers.add(waker)
        in_flight: set[asyncio.Task[None]] = set()
        # An idle sender looks less often, up to 8 intervals (service/events/pacing.py).
        pacing = IdlePacing(self.settings.webhook_poll_seconds)
        try:
            while not stop.is_set():
                woken = waker.is_set()
                waker.clear()
                while len(in_flight) < MAX_IN_FLIGHT:
                    try:
                        delivery = await self.claim()
                    except PyMongoError as error:
                        log.warning("webhook sender cannot claim deliveries: %s", error)
                        break
                    if delivery is None:
                        break
                    task = asyncio.create_task(self.attempt_safely(delivery))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                # Claimed attempts are in flight until they finish: work found.
                pacing.found(woken or bool(in_flight))
                signals = [asyncio.create_task(waker.wait()), asyncio.create_task(stop.wait())]
                try:
                    await asyncio.wait(
                        [*signals, *in_flight], timeout=pacing.wait,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    for signal in signals:
                        signal.cancel()
        finally:
            _wakers.discard(waker)
            for task in list(in_flight):  # their claims lapse; the attempts are made again
                task.cancel()
            for task in list(in_flight):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.close()


async def streak_start(webhook_id: Any, now: datetime) -> datetime | None:
    """When the webhook's current failure streak began (now, if this failure starts it); None
    if the webhook is gone."""
    webhooks = collection(Webhook)
    await webhooks.update_one({"_id": webhook_id, "failing_since": None},
                              {"$set": {"failing_since": now}})
    current = await webhooks.find_one({"_id": webhook_id}, {"failing_since": 1})
    since = current.get("failing_since") if current else None
    return as_utc(since) if since is not None else None


async def disable_failing(webhook: dict[str, Any], since: datetime, now: datetime) -> bool:
    """Disable the webhook, log it and announce it, if its streak is still the one that began at
    `since`: equality, so a success that cleared the streak meanwhile (a burst of deliveries
    races) leaves it enabled; whether this call disabled it."""
    webhooks = collection(Webhook)
    reason = "every attempt failed for 24 hours"
    entry = ModerationEntry(
        actor=SENDER, action="webhook_disabled", target_type="webhook",
        target=str(webhook["_id"]), reason=reason, details={"url": webhook["url"]},
    )

    async def disable(session: Any) -> bool:
        # The switch, its moderation-log entry and its event commit together (on a replica
        # set): a disabled webhook is always logged and announced, exactly once.
        disabled = await webhooks.update_one(
            {"_id": webhook["_id"], "enabled": True, "failing_since": since},
            {"$set": {"enabled": False, "disabled_reason": reason, "updated_at": now}},
            session=session,
        )
        if not disabled.modified_count:
            return False
        await write_log(entry.model_dump(exclude={"id"}), session=session)
        await record(
            "moderation.webhook_disabled", actor=None, session=session,
            data={"action": "webhook_disabled", "reason": reason,
                  "webhook": {"id": str(webhook["_id"]), "url": webhook["url"]}},
            refs={},
        )
        return True

    if not await atomically(disable):
        return False
    log.warning("webhook %s (%s) disabled: %s", webhook["_id"], webhook["url"], reason)
    metrics.webhook_disabled()
    return True


async def run_sender(stop: asyncio.Event, settings: Settings | None = None) -> None:
    """Send webhook deliveries until `stop` is set (API processes, or a worker)."""
    await Sender(settings or get_settings()).run(stop)
