"""The deploy files: every overlay renders, validates against a pinned Kubernetes, and agrees
with the relay's own settings (names, drain time). Nothing is downloaded."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.config import Settings, env_names
from tests.support.prerequisites import missing

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("dev", "production", "production-hpa")
ACA = ROOT / "deploy" / "azure-container-apps" / "containerapp.yaml"
KUBERNETES_VERSION = "1.33.0"  # the oldest Kubernetes the manifests are validated against
# azure-identity's own variables (DefaultAzureCredential), documented in .env.example.
AZURE_IDENTITY = {
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_TOKEN_CREDENTIALS",
}
SETTINGS_NAMES = {name for field in Settings.model_fields for name in env_names(field)}


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        missing("kubectl is not installed")
    done = subprocess.run(  # noqa: S603 - a fixed argv
        [kubectl, "kustomize", str(KUSTOMIZE / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def relay_deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [
        d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "realtime-relay"
    ]
    return deployment


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_and_validates_against_kubernetes(overlay: str) -> None:
    docs = render(overlay)
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "ServiceAccount"} <= kinds
    assert {"NetworkPolicy", "ConfigMap"} <= kinds
    for doc in docs:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD, checked below
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_deployment_is_hardened_probed_and_spread(overlay: str) -> None:
    deployment = relay_deployment(render(overlay))
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] == 2
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["limits"]["cpu"] == "1"
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    labels = spec["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    (account,) = of_kind(render(overlay), "ServiceAccount")
    assert "azure.workload.identity/client-id" in account["metadata"]["annotations"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def _configured(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The settings the relay container gets: its ConfigMap, and a generated Secret if any."""
    values: dict[str, str] = {}
    for doc in of_kind(docs, "ConfigMap") + of_kind(docs, "Secret"):
        values.update(doc.get("data") or {})
    return values


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_grace_period_covers_the_pre_stop_and_the_drain(
    overlay: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = render(overlay)
    pod = relay_deployment(docs)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    monkeypatch.chdir(tmp_path)
    settings = of_kind(docs, "ConfigMap")[0]["data"]
    drain = float(
        settings.get("RELAY_DRAIN_SECONDS", Settings.model_fields["drain_seconds"].default)
    )
    budget = drain + 4.0 + 5.0  # app.config: the drain, closing what is left, uvicorn's stop
    assert pod["terminationGracePeriodSeconds"] >= float(pre_stop[1]) + budget


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_the_manifests_set_is_a_setting(overlay: str) -> None:
    names = set(_configured(render(overlay)))
    unknown = names - SETTINGS_NAMES - AZURE_IDENTITY
    assert not unknown, f"not relay settings: {sorted(unknown)}"


def test_the_dev_overlay_is_accepted_by_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The dev overlay's settings, with its Secret's values decoded, start a relay."""
    import base64

    docs = render("dev")
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS_NAMES:
        monkeypatch.delenv(name, raising=False)
    for doc in of_kind(docs, "ConfigMap"):
        for name, value in doc["data"].items():
            monkeypatch.setenv(name, value)
    for doc in of_kind(docs, "Secret"):
        for name, value in doc["data"].items():
            monkeypatch.setenv(name, base64.b64decode(value).decode())
    settings = Settings()
    assert settings.redis_url is not None
    assert settings.upstream == "simulator"


def test_autoscaling_follows_sessions_not_http_requests() -> None:
    (scaled,) = of_kind(render("production"), "ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert "relay_sessions_active" in trigger["metadata"]["query"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "realtime-relay"
    (hpa,) = of_kind(render("production-hpa"), "HorizontalPodAutoscaler")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["pods"]["metric"]["name"] == "relay_sessions_active"


def test_the_container_app_file_uses_websocket_ingress_tcp_scaling_and_only_settings() -> None:
    app = yaml.safe_load(ACA.read_text(encoding="utf-8"))
    assert app["identity"]["type"] == "UserAssigned"
    ingress = app["properties"]["configuration"]["ingress"]
    assert ingress["transport"] in ("http", "auto")
    assert ingress["targetPort"] == 8000
    template = app["properties"]["template"]
    (rule,) = template["scale"]["rules"]
    assert "http" not in rule
    assert "tcp" in rule
    (container,) = template["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    unknown = set(env) - SETTINGS_NAMES - AZURE_IDENTITY
    assert not unknown, f"not relay settings: {sorted(unknown)}"
    secrets = {item["name"] for item in app["properties"]["configuration"]["secrets"]}
    refs = {item["secretRef"] for item in container["env"] if "secretRef" in item}
    assert refs <= secrets
    assert "RELAY_REDIS_URL" in {i["name"] for i in container["env"] if "secretRef" in i}
    drain = float(env.get("RELAY_DRAIN_SECONDS") or 25)
    assert template["terminationGracePeriodSeconds"] >= drain + 9
    probes = {probe["type"]: probe["httpGet"]["path"] for probe in container["probes"]}
    assert probes["Liveness"] == "/healthz"
    assert probes["Readiness"] == "/readyz"
