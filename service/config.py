"""One settings object for the whole service, read from FOLIO_* environment variables."""

import secrets
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Service configuration; every field maps to a FOLIO_<NAME> environment variable."""

    model_config = SettingsConfigDict(env_prefix="FOLIO_", extra="ignore")

    mongodb_url: str | None = Field(
        default=None,
        description="mongodb:// or mongodb+srv:// URL; unset means the in-memory embedded engine",
    )
    database: str = Field(default="folio", description="database name")
    jwt_secret: SecretStr | None = Field(
        default=None,
        description="HS256 signing key (32+ characters); required with a real MongoDB",
    )
    jwt_ttl_minutes: int = Field(default=60 * 24 * 7, ge=1, description="token lifetime")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated allowed origins"
    )
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="comma-separated usernames that are admins, whatever role is stored",
    )
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    server_selection_timeout_ms: int = Field(
        default=3000, ge=100, description="how long to wait for a reachable MongoDB"
    )
    operation_timeout_ms: int = Field(
        default=10000,
        ge=0,
        description="the database time budget of one API request: all its operations and "
        "transaction retries share it (pymongo.timeout), and each is sent what is left as "
        "maxTimeMS, so MongoDB stops too; outside a request (start-up, background work) the "
        "budget of each operation (PyMongo timeoutMS); 0 means no budget (the folio tools: "
        "index builds, exports, migrations)",
    )
    deletion_sweep_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how often each API process runs a bounded pass that finishes article and "
        "account deletions (and resumes those a stopped process left)",
    )
    tag_sweep_seconds: float = Field(
        default=10.0,
        gt=0,
        description="how often each API process counts the tags of scheduled articles that went "
        "live (sooner for an instant it knows of): /api/tags shows them within this time",
    )
    event_retention_days: int = Field(
        default=14,
        ge=1,
        description="how long events stay in `events` (its TTL index, `expire_at`); changing it "
        "takes `folio db sync` (collMod on MongoDB)",
    )
    event_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="how often the event drain looks for pending events where it has no change "
        "stream (standalone servers, the embedded engine); a process that wrote one wakes its "
        "own drain at once; an idle drain looks less often, up to 8 intervals apart",
    )
    event_drain_in_api: bool = Field(
        default=True,
        description="whether each API process runs the event drain (one at a time, under a "
        "lease); false when `folio worker` drains instead",
    )
    webhook_retry_delays: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5, 30, 120, 600, 3600, 10800, 21600, 43200],
        description="comma-separated seconds between a webhook delivery's attempts (each with "
        "up to 20% jitter): one attempt more than delays; the default spans about 22 hours",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="let webhooks reach loopback, private and other internal addresses "
        "(development and tests only: it opens the server to request forgery)",
    )
    webhook_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="how often each process looks for due webhook deliveries it was not told "
        "of (queued by another process, or left by a stopped one); its own are sent at once; "
        "an idle sender looks less often, up to 8 intervals apart",
    )
    webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="how long one webhook attempt may take"
    )
    notification_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="how often an open notification stream looks for notifications another "
        "process wrote (one indexed read each); this process's own arrive at once",
    )
    notification_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        description="an open notification stream sends a comment line this often, so proxies "
        "and clients see it alive",
    )
    notification_streams_per_user: int = Field(
        default=5, ge=1, description="open notification streams one user may hold (429 past it)"
    )
    notification_streams_per_process: int = Field(
        default=1000,
        ge=1,
        description="open notification streams one API process holds at most (503 past it)",
    )
    notification_ticket_seconds: int = Field(
        default=60,
        ge=5,
        le=3600,
        description="how long a stream ticket (POST /api/notifications/stream-ticket) stays "
        "good; each opens one stream, once",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger bodies get 413")
    max_json_depth: int = Field(default=32, ge=4, description="deeper JSON bodies get 422")
    rate_limits_enabled: bool = Field(default=True, description="turn every rate limit off")
    rate_limit_login_per_address: str = Field(default="60/minute", description="logins per client address")
    rate_limit_login_per_account: str = Field(default="10/minute", description="logins per email")
    rate_limit_register_per_address: str = Field(
        default="120/minute", description="registrations per client address"
    )
    rate_limit_register_per_account: str = Field(
        default="30/minute", description="registrations per email or username"
    )
    rate_limit_writes_per_user: str = Field(default="300/minute", description="writes per user")
    rate_limit_fail_open: bool = Field(
        default=True,
        description="with Redis unreachable, admit requests (true, logged) or refuse rate-limited "
        "ones with 503 (false)",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://, rediss:// or unix:// URL: rate limits and the count, tag and "
        "analytics caches are shared through it; unset, they stay in process memory",
    )
    redis_timeout_ms: int = Field(
        default=250, ge=10, description="connect and reply timeout of each Redis command"
    )
    search_scope: Literal["site", "author"] = Field(
        default="site",
        description="site: one text index over every article; author: the text index is "
        "prefixed by author_id, so a search reads only one author's matches, and every search "
        "must name an author (MongoDB allows one text index per collection)",
    )
    site_url: str | None = Field(
        default=None,
        description="the public reading site (e.g. https://blog.example.com): Atom entries link "
        "to <site_url>/article/<slug>; unset, they link to the article in the API",
    )
    public_url: str | None = Field(
        default=None,
        description="the API's public base URL (e.g. https://api.example.com): media URLs are "
        "built on it; unset, on the base URL of the request that asks",
    )
    media_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024,
        description="larger media uploads get 413, before the body is read whole",
    )
    media_max_pixels: int = Field(
        default=40_000_000, ge=1,
        description="images with more pixels get 422 (the decompression-bomb guard)",
    )
    media_quota_bytes: int = Field(
        default=1024 * 1024 * 1024, ge=0,
        description="the bytes each user's media may take (every rendition counted); an upload "
        "past it gets 413",
    )
    media_gc_grace_hours: float = Field(
        default=24 * 7,
        gt=0,
        description="`folio media gc` removes uploads no article uses once they are this old",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="a bearer token GET /metrics requires; unset, /metrics is open to anyone",
    )
    sentry_dsn: SecretStr | None = Field(
        default=None, description="report unhandled errors to Sentry (needs the `sentry` extra)"
    )
    otel_endpoint: str | None = Field(
        default=None,
        # OpenTelemetry's own variable, which its OTLP exporter reads too; no FOLIO_ prefix.
        validation_alias=AliasChoices("otel_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="export FastAPI and PyMongo spans over OTLP here (needs the `otel` extra)",
    )
    demo: bool = Field(default=False, description="`folio serve`: seed demo data at start-up")
    load: str | None = Field(default=None, description="`folio serve`: load an export at start-up")
    save: str | None = Field(
        default=None, description="`folio serve`: write an export of the embedded engine on shutdown"
    )

    @field_validator("cors_origins", "admins", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept a comma-separated string as well as a list."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("webhook_retry_delays", mode="before")
    @classmethod
    def _split_delays(cls, value: object) -> object:
        """`5,30,120` (seconds) as well as a list; each delay positive and finite."""
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("webhook_retry_delays")
    @classmethod
    def _check_delays(cls, value: list[float]) -> list[float]:
        """At least one delay, each a positive number of seconds below a week."""
        if not value or any(not 0 < delay <= 7 * 24 * 3600 for delay in value):
            raise ValueError("give one or more comma-separated delays in seconds (0 < d <= 604800)")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        """An http(s) URL without a trailing slash; blank means unset."""
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("FOLIO_PUBLIC_URL must start with http:// or https://")
        return value

    @field_validator("metrics_token", "sentry_dsn", "otel_endpoint", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty variable (`FOLIO_METRICS_TOKEN=`) means unset, never an empty token."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "rate_limit_login_per_address", "rate_limit_login_per_account",
        "rate_limit_register_per_address", "rate_limit_register_per_account",
        "rate_limit_writes_per_user",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        """Rates read like `10/minute` or `100 per hour`."""
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as 10/minute") from None
        return value

    @field_validator("mongodb_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        """Refuse anything that is not a MongoDB connection string."""
        if value is not None and not value.strip():
            return None
        if value is not None and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("FOLIO_MONGODB_URL must start with mongodb:// or mongodb+srv://")
        if value is not None and value.startswith("mongodb://"):
            # The driver's own parser, which needs no network for mongodb:// (a +srv URL asks
            # DNS, so it is left to the client); unknown options warn, as the client does.
            from pymongo.errors import ConfigurationError
            from pymongo.uri_parser import parse_uri

            try:
                parse_uri(value, warn=True)
            except (ConfigurationError, ValueError) as error:
                raise ValueError(f"FOLIO_MONGODB_URL is not a valid MongoDB URL: {error}") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        """Refuse anything that is not a Redis URL (read without importing redis)."""
        if value is not None and not value.strip():
            return None
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("FOLIO_REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _require_secret_with_real_database(self) -> "Settings":
        """A real database needs a stable secret; the embedded engine gets a per-process one."""
        if self.jwt_secret is None or not self.jwt_secret.get_secret_value():
            if self.mongodb_url:
                raise ValueError(
                    "FOLIO_JWT_SECRET must be set when FOLIO_MONGODB_URL points at a real MongoDB "
                    f"(use {MIN_SECRET_LENGTH}+ random characters, e.g. `openssl rand -hex 32`)"
                )
            self.jwt_secret = SecretStr(secrets.token_urlsafe(MIN_SECRET_LENGTH))
        elif len(self.jwt_secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"FOLIO_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        return self

    @property
    def embedded(self) -> bool:
        """True when no MongoDB URL is configured and data lives in process memory."""
        return self.mongodb_url is None


def _variable(location: tuple[int | str, ...]) -> str | None:
    """The environment variable a settings field is read from (None for the whole object)."""
    if not location:
        return None
    name = str(location[0])
    if name.isupper():  # read through its alias, e.g. OTEL_EXPORTER_OTLP_ENDPOINT
        return name
    alias = Settings.model_fields[name].validation_alias if name in Settings.model_fields else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[-1])
    return f"FOLIO_{name.upper()}"


def settings_problem(error: ValidationError) -> str:
    """One line naming each variable that is wrong and why, without pydantic's decoration."""
    problems = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        variable = _variable(item["loc"])
        if variable and not message.startswith(variable):
            message = f"{variable}: {message}"
        problems.append(message)
    return "; ".join(problems)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
