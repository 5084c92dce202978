"""Where a webhook may point (api.md v1.2): https, or http to a host the operator allows; never an
address inside the server's own networks (loopback, private, link-local, which holds the clouds'
metadata service, shared, reserved) unless the operator sets WEBHOOK_ALLOW_PRIVATE=1.

The host is checked when the webhook is created and resolved again at every delivery, and the
delivery connects to the very address that was checked (server/integrations/webhooks/delivery.py): a name that
resolves to a public address at creation and to 127.0.0.1 later (DNS rebinding) is refused then.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit


class UnsafeUrl(ValueError):
    """Why a webhook URL is refused; the message names no credential."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent on the request line
    username: str | None
    password: str | None


@dataclass(frozen=True)
class UrlPolicy:
    allowed_http_hosts: frozenset[str]
    allow_private: bool

    @classmethod
    def from_config(cls, config: dict[str, object]) -> UrlPolicy:
        hosts = config.get("WEBHOOK_ALLOWED_HTTP_HOSTS") or ()
        return cls(frozenset(str(h).lower() for h in hosts),  # type: ignore[union-attr]
                   bool(config.get("WEBHOOK_ALLOW_PRIVATE")))


def parse(url: str, policy: UrlPolicy) -> Target:
    """The URL's parts, or UnsafeUrl if its form is refused (no lookup)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeUrl("Not a valid URL.") from error
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise UnsafeUrl("The URL must be https://host/... (or http:// to a host the operator allows).")
    if parts.scheme == "http" and host not in policy.allowed_http_hosts:
        raise UnsafeUrl("Plain http is only allowed to the hosts the operator lists in "
                        "WEBHOOK_ALLOWED_HTTP_HOSTS; use https.")
    if parts.fragment:
        raise UnsafeUrl("The URL must not have a #fragment.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path,
                  parts.username, parts.password)


def is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # `is_global` is False for loopback, RFC 1918, link-local (169.254.169.254, the metadata
    # service), shared (100.64/10), unique-local, documentation and reserved ranges alike.
    return not ip.is_global or ip.is_multicast


def resolve(target: Target, policy: UrlPolicy) -> list[str]:
    """The addresses to connect to, each one checked; UnsafeUrl if none may be used."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as error:
        raise UnsafeUrl(f"The host {target.host} does not resolve.") from error
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not policy.allow_private and any(is_private(address) for address in addresses):
        raise UnsafeUrl(f"The host {target.host} resolves to a loopback, private or link-local address.")
    return addresses


def check(url: str, policy: UrlPolicy) -> Target:
    target = parse(url, policy)
    resolve(target, policy)
    return target


def redacted(url: str) -> str:
    """The URL without its password, for answers and log lines."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(SplitResult(parts.scheme, f"{parts.username}:***@{netloc}", parts.path, parts.query,
                                  parts.fragment))
