"""Server-side request forgery guards: which URLs a webhook may have, and where it may connect.

A URL is vetted twice. When an admin saves it, every address its host resolves to must be a
public one. When a delivery is sent, the connection goes through `VettingBackend`, which
resolves the host again, refuses if any answer is internal, and connects to the vetted address
itself, so a DNS answer that changed in between (rebinding) cannot steer the request inside.
TLS still verifies, and Host still names, the URL's hostname: httpcore passes the hostname to
`start_tls` separately from the address it asked us to connect to.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore

from service.contract.errors import Invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
# Named as well as covered by `is_global`: the cloud metadata service and carrier-grade NAT.
METADATA = ipaddress.ip_address("169.254.169.254")
CGNAT = ipaddress.ip_network("100.64.0.0/10")


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for a host (both families, TCP)."""
    loop = asyncio.get_running_loop()
    answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(answer[4][0]) for answer in answers]


# Replaced by tests (a resolver that answers differently at creation and at delivery).
resolve: Resolver = system_resolve


def internal(address: IPAddress) -> bool:
    """Whether an address is one a webhook must never reach: loopback, private, link-local,
    multicast, reserved, unspecified, CGNAT, unique-local, or an IPv4-mapped form of those."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address) and (address == METADATA or address in CGNAT):
        return True
    return (
        not address.is_global or address.is_private or address.is_loopback
        or address.is_link_local or address.is_multicast or address.is_reserved
        or address.is_unspecified
    )


def refused(addresses: Iterable[str]) -> str | None:
    """The first internal address among these, or None when all are public."""
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        if internal(address):
            return str(address)
    return None


def url_parts(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or Invalid naming what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid("url", "is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise Invalid("url", "must be an http:// or https:// URL")
    if not parts.hostname:
        raise Invalid("url", "has no host")
    if parts.username or parts.password:
        raise Invalid("url", "must not carry credentials")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def vet_url(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not http(s), or whose host resolves to an internal address."""
    _, host, port = url_parts(url)
    if allow_private:
        return
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError):
        raise Invalid("url", f"host {host} does not resolve") from None
    if not addresses:
        raise Invalid("url", f"host {host} does not resolve")
    bad = refused(addresses)
    if bad is not None:
        raise Invalid("url", f"resolves to {bad}, an internal address; webhooks reach public hosts only")


class RefusedAddress(httpcore.ConnectError):
    """The host resolved to an internal address at delivery time: nothing was connected."""


class VettingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, but `connect_tcp` connects only to a vetted public address."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None, socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve, refuse if any answer is internal, connect to the vetted addresses in turn."""
        try:
            addresses = await asyncio.wait_for(resolve(host, port), timeout)
        except (OSError, UnicodeError, TimeoutError) as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        if not self.allow_private:
            bad = refused(addresses)
            if bad is not None:
                raise RefusedAddress(f"{host} resolved to internal address {bad}; not connected")
        failure: Exception | None = None
        for address in dict.fromkeys(addresses):  # each vetted answer in turn, as a resolver's
            try:                                  # caller would (IPv6 first may be unroutable)
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure or httpcore.ConnectError(f"cannot connect to {host}")

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        """Never: webhooks reach TCP hosts only."""
        raise httpcore.ConnectError("webhooks do not connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        """As httpcore's own backend."""
        await self.inner.sleep(seconds)
