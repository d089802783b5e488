"""`GET /metrics`: Prometheus text, behind an optional Bearer token and an optional own port."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from app.simulator import Simulator
from tests.e2e.harness import make_settings, running_relay
from tests.observability.values import relay_values
from tests.support.metrics import get
from tests.support.net import free_port
from tests.support.relay_process import relay_process

METRICS_TOKEN = "metrics-token-obs-31415926"
FAMILIES = {
    "relay_sessions_active",
    "relay_sessions",
    "relay_events",
    "relay_event_bytes",
    "relay_events_refused",
    "relay_upstream_events_dropped",
    "relay_tokens",
    "relay_upstream_connect_seconds",
    "relay_session_duration_seconds",
}


def family_names(body: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(body)}


async def test_metrics_token_is_required_when_configured(simulator: Simulator) -> None:
    """With RELAY_METRICS_TOKEN, /metrics answers 401 without or with a wrong token, 200 with it."""
    settings = make_settings(**relay_values(simulator, auth="none", metrics_token=METRICS_TOKEN))
    async with running_relay(settings) as relay:
        url = f"{relay.http_url}/metrics"
        missing, _ = await get(url)
        wrong, _ = await get(url, {"Authorization": "Bearer not-the-metrics-token"})
        basic, _ = await get(url, {"Authorization": f"Basic {METRICS_TOKEN}"})
        right, body = await get(url, {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert (missing, wrong, basic, right) == (401, 401, 401, 200)
    assert family_names(body) >= FAMILIES


async def test_metrics_are_open_without_a_token(simulator: Simulator) -> None:
    """Without RELAY_METRICS_TOKEN, /metrics serves every relay metric family."""
    async with running_relay(make_settings(**relay_values(simulator, auth="none"))) as relay:
        status, body = await get(f"{relay.http_url}/metrics")
    assert status == 200
    names = family_names(body)
    assert names >= FAMILIES
    assert "relay_identity_tokens" not in names  # only with static-token identities


async def test_metrics_port_serves_metrics_and_the_public_port_answers_404(
    tmp_path: Path,
) -> None:
    """With RELAY_METRICS_PORT, `python -m app` serves /metrics there only, token still enforced."""
    metrics_port = free_port()
    env = {
        "RELAY_UPSTREAM": "simulator",
        "RELAY_AUTH": "none",
        "RELAY_METRICS_PORT": str(metrics_port),
        "RELAY_METRICS_TOKEN": METRICS_TOKEN,
    }
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    async with relay_process(tmp_path, **env) as relay:
        public, _ = await get(f"{relay.http_url}/metrics", auth)
        healthy, _ = await get(f"{relay.http_url}/healthz")
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        unauthorised, _ = await get(metrics_url)
        served, body = await get(metrics_url, auth)
        await relay.stop()
    assert public == 404
    assert healthy == 200
    assert unauthorised == 401
    assert served == 200
    assert family_names(body) >= FAMILIES
