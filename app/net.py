"""Small facts about hosts and addresses, shared by the settings and the checks."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["AddressSet", "host_of", "is_loopback_host"]


def is_loopback_host(host: str | None) -> bool:
    """True for `localhost` and any loopback IP literal (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_of(netloc: str) -> str:
    """The host part of a `Host` header value, lower-cased, without port or brackets."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1 : netloc.find("]")] if "]" in netloc else netloc
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


class AddressSet:
    """IP addresses and CIDR networks (`*` is every address); names never match."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.any = False
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            if entry == "*":
                self.any = True
            else:
                self._networks.append(ipaddress.ip_network(entry, strict=False))

    def __contains__(self, host: object) -> bool:
        if self.any:
            return True
        if not isinstance(host, str):
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)
