"""Who a request proved to be: the `Caller` every authenticator returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request proved to be.

    `agent`, when set, is the only agent the caller may open: a JWT's agent claim,
    or the agent a client secret was minted for. `pinned` holds the session
    values a client secret enforces; `minted` says the caller holds a client
    secret, whose agent was checked against the rules when it was minted.
    """

    identity: str | None
    claims: Mapping[str, Any] = field(default_factory=dict)
    agent: str | None = None
    pinned: Mapping[str, Any] | None = None
    minted: bool = False
