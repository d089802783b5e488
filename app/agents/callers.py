"""Who may use an agent: its `callers` rules, and the caller a request proves to be.

A rule is either an identity (a static-token or backend identity, or a JWT's
identity claim) or a claim rule on a verified JWT:

    callers:
      - web                               # the identity `web`
      - {claim: roles, contains: support} # a list claim holding it, or a space-separated one
      - {claim: tenant, equals: acme}     # a claim equal to it

A caller passes when any rule matches. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.auth.caller import Caller

__all__ = ["Caller", "CallerRule", "ClaimRule", "admits"]


class ClaimRule(BaseModel):
    """A rule on one claim of a verified JWT: `contains` or `equals`, exactly one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    claim: str = Field(min_length=1)
    contains: str | None = None
    equals: str | None = None

    @model_validator(mode="after")
    def _one_test(self) -> ClaimRule:
        if (self.contains is None) == (self.equals is None):
            raise ValueError("a claim rule needs exactly one of contains or equals")
        return self

    def matches(self, claims: Mapping[str, Any]) -> bool:
        value = claims.get(self.claim)
        if self.equals is not None:
            return isinstance(value, str | int | bool) and str(value) == self.equals
        if isinstance(value, list):
            return self.contains in value
        return isinstance(value, str) and self.contains in value.split()


CallerRule = str | ClaimRule


def admits(rules: Iterable[CallerRule] | None, caller: Caller) -> bool:
    """Whether `caller` may use an agent with these `callers` rules (None: everyone)."""
    if rules is None or caller.minted:
        return True
    for rule in rules:
        if isinstance(rule, str):
            if caller.identity == rule:
                return True
        elif rule.matches(caller.claims):
            return True
    return False
