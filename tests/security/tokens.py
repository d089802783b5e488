"""The security suite's client tokens."""

from __future__ import annotations

ALICE = "alice-token-0123456789"


BOB = "bob-token-9876543210xx"
