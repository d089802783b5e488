"""Choosing the agent: the path or query names it, the caller's pin and the agent's rules decide."""

from __future__ import annotations

import pytest

from app.agents import Caller, CallerRule, ClaimRule, admits, choose_agent, requested_agent
from app.errors import Refusal

SUPPORT_ROLE = ClaimRule(claim="roles", contains="support")
AGENTS: dict[str, tuple[CallerRule, ...] | None] = {
    "support": ("web", SUPPORT_ROLE),
    "sales": None,
}


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("support", {"model": "sales"}, "support"),
        (None, {"model": "sales", "deployment": "support"}, "sales"),
        (None, {"deployment": "support"}, "support"),
        (None, {}, None),
        (None, {"model": ""}, None),
    ],
)
def test_the_path_then_model_then_deployment_names_the_agent(
    path: str | None, query: dict[str, str], expected: str | None
) -> None:
    assert requested_agent(path, query) == expected


CHOICES: list[tuple[str, str | None, str | None, Caller, str | tuple[int, str]]] = [
    ("named", "sales", "sales", Caller("anyone"), "sales"),
    ("unknown falls back", "sales", "gpt-realtime", Caller("anyone"), "sales"),
    ("none named falls back", "sales", None, Caller("anyone"), "sales"),
    ("unknown, no default", None, "gpt-realtime", Caller("anyone"), (404, "agent_not_found")),
    ("none named, no default", None, None, Caller("anyone"), (404, "agent_not_found")),
    ("identity admitted", None, "support", Caller("web"), "support"),
    ("identity refused", None, "support", Caller("kiosk"), (403, "agent_not_allowed")),
    (
        "claim admitted",
        None,
        "support",
        Caller("u1", {"roles": ["staff", "support"]}),
        "support",
    ),
    ("space-separated claim", None, "support", Caller("u1", {"roles": "a support"}), "support"),
    (
        "claim refused",
        None,
        "support",
        Caller("u1", {"roles": ["sales"]}),
        (403, "agent_not_allowed"),
    ),
    ("no identity refused", None, "support", Caller(None), (403, "agent_not_allowed")),
    ("pinned opens its agent", None, None, Caller("u1", agent="sales"), "sales"),
    ("pinned wins over unknown", None, "gpt-realtime", Caller("u1", agent="sales"), "sales"),
    (
        "pinned refuses another",
        None,
        "support",
        Caller("web", agent="sales"),
        (403, "agent_not_allowed"),
    ),
    ("pinned to nothing", "sales", None, Caller("u1", agent="gone"), (403, "agent_not_allowed")),
    (
        "pinned still checks callers",
        None,
        None,
        Caller("kiosk", agent="support"),
        (403, "agent_not_allowed"),
    ),
    ("minted skips callers", None, None, Caller("be:u", agent="support", minted=True), "support"),
]


@pytest.mark.parametrize(
    ("case", "default", "requested", "caller", "expected"), CHOICES, ids=[c[0] for c in CHOICES]
)
def test_choose_agent(
    case: str,
    default: str | None,
    requested: str | None,
    caller: Caller,
    expected: str | tuple[int, str],
) -> None:
    if isinstance(expected, str):
        assert choose_agent(AGENTS, default, requested, caller) == expected
        return
    with pytest.raises(Refusal) as refused:
        choose_agent(AGENTS, default, requested, caller)
    assert (refused.value.status, refused.value.code) == expected
    assert refused.value.outcome == "rejected_agent"


def test_claim_rules_equals_and_contains() -> None:
    tenant = ClaimRule(claim="tenant", equals="acme")
    assert admits([tenant], Caller("u", {"tenant": "acme"}))
    assert not admits([tenant], Caller("u", {"tenant": "acme-evil"}))
    assert not admits([tenant], Caller("u", {"tenant": ["acme"]}))
    assert not admits([SUPPORT_ROLE], Caller("u", {"roles": "supporter"}))
    assert not admits([SUPPORT_ROLE], Caller("u", {}))
    assert admits(None, Caller(None))


def test_a_claim_rule_needs_exactly_one_test() -> None:
    with pytest.raises(ValueError, match="exactly one of contains or equals"):
        ClaimRule(claim="roles", contains="a", equals="b")
