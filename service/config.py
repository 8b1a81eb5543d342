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
        "<public_url>/api/media/...; unset, they use the request's base URL",
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

    @field_validator("metrics_token", "sentry_dsn", "otel_endpoint", "public_url", mode="before")
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
