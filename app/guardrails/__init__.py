"""Guardrails: a turn checked before the model answers, and the answer while it streams."""

from app.guardrails.gate import CheckText, GuardClient, GuardEnd, GuardrailGate, GuardUpstream
from app.guardrails.spec import Guardrails, GuardrailsError, load_blocklist

__all__ = [
    "CheckText",
    "GuardClient",
    "GuardEnd",
    "GuardUpstream",
    "GuardrailGate",
    "Guardrails",
    "GuardrailsError",
    "load_blocklist",
]
