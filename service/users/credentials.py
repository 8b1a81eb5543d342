"""Password hashing (argon2id) and access tokens (HS256 JWT); no HTTP and no database here."""

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.config import Settings
from service.contract.errors import Unauthorized

TOKEN_ALGORITHM = "HS256"


class Passwords:
    """Hashes and verifies passwords off the event loop, since argon2 is deliberately slow."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        )
        # Verified against when an account does not exist, so both paths cost the same.
        self._decoy_hash = self._hasher.hash("folio-decoy-password")

    async def hash(self, password: str) -> str:
        """An argon2id hash of the password."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether the password matches; with no hash, spends the same time and says no."""
        try:
            return await asyncio.to_thread(
                self._hasher.verify, password_hash or self._decoy_hash, password
            ) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: whose it is, and the session it belongs to.

    Tokens issued before sessions existed name no session; they carry the account's token
    version instead, and stay good until it changes.
    """

    user_id: str
    session_id: str | None
    token_version: int = 0


# Tokens whose signature and claims were checked lately, so that a client sending the same
# token with every request costs one HMAC and one JSON parse a minute, not one a request
# (about 35 µs). Safe to keep: the same bytes under the same secret always verify the same
# way; expiry is checked again at every use, and whether the session is still live is never
# cached here (that is a read, service/users/queries.py). Bounded, least recently used first out.
CHECKED_FOR_SECONDS = 60.0
CHECKED_LIMIT = 10_000


class Tokens:
    """Issues and checks the signed access tokens clients send as `Token <jwt>`."""

    def __init__(self, settings: Settings) -> None:
        assert settings.jwt_secret is not None, "settings always carry a secret"
        self._secret = settings.jwt_secret.get_secret_value()
        self._ttl = timedelta(minutes=settings.jwt_ttl_minutes)
        # token -> (its claims, when it expires (epoch seconds), until when to trust the check)
        self._checked: OrderedDict[str, tuple[TokenClaims, float, float]] = OrderedDict()

    def issue(self, user_id: str, session_id: str) -> str:
        """A token for this user's session, valid for the configured lifetime."""
        now = datetime.now(UTC)
        claims = {"sub": user_id, "sid": session_id, "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._secret, algorithm=TOKEN_ALGORITHM)

    def claims(self, token: str) -> TokenClaims:
        """The user and session a valid token names; Unauthorized for anything else.

        A token checked in the last CHECKED_FOR_SECONDS is not verified again, only its expiry.
        """
        checked = self._checked.get(token)
        if checked is not None:
            claims, expires, trusted_until = checked
            if time.time() < expires and time.monotonic() < trusted_until:
                self._checked.move_to_end(token)
                return claims
            del self._checked[token]
        claims, expires = self._verify(token)
        self._checked[token] = (claims, expires, time.monotonic() + CHECKED_FOR_SECONDS)
        if len(self._checked) > CHECKED_LIMIT:
            self._checked.popitem(last=False)
        return claims

    def _verify(self, token: str) -> tuple[TokenClaims, float]:
        """Verify the signature and claims; the claims and the expiry (epoch seconds)."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[TOKEN_ALGORITHM],
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token", "has expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("token", "is invalid") from None
        session_id, version = claims.get("sid"), claims.get("tv", 0)
        if "sid" in claims and not (isinstance(session_id, str) and session_id):
            raise Unauthorized("token", "is invalid")
        if not isinstance(version, int) or isinstance(version, bool):
            raise Unauthorized("token", "is invalid")
        return TokenClaims(str(claims["sub"]), session_id, version), float(claims["exp"])


@dataclass(frozen=True)
class Security:
    """The password hasher and token codec one app instance uses."""

    passwords: Passwords
    tokens: Tokens


def build_security(settings: Settings) -> Security:
    """Build the security helpers from settings."""
    return Security(passwords=Passwords(settings), tokens=Tokens(settings))
