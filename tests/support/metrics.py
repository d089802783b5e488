"""Reading the relay's /metrics, and the usage blocks the fakes report."""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from app.relay import USAGE_KINDS

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET `url`; the status and body text."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(url, headers=headers or {}) as response,
    ):
        return response.status, await response.text()


async def scrape(base_url: str, token: str | None = None) -> Samples:
    """Every sample of `GET /metrics`, keyed by name and labels."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    status, body = await get(f"{base_url}/metrics", headers)
    assert status == 200, body
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return sample(after, name, **labels) - sample(before, name, **labels)


def usage_split(usage: dict[str, Any]) -> dict[str, int]:
    """A `response.usage` block as the relay's five token kinds."""
    inputs = usage.get("input_token_details") or {}
    outputs = usage.get("output_token_details") or {}
    split = {
        "input_text": inputs.get("text_tokens", 0),
        "input_audio": inputs.get("audio_tokens", 0),
        "input_cached": inputs.get("cached_tokens", 0),
        "output_text": outputs.get("text_tokens", 0),
        "output_audio": outputs.get("audio_tokens", 0),
    }
    assert set(split) == set(USAGE_KINDS)
    return split


def usage_block(
    input_text: int, input_audio: int, input_cached: int, output_text: int, output_audio: int
) -> dict[str, Any]:
    """A `response.usage` block with the given split."""
    return {
        "total_tokens": input_text + input_audio + output_text + output_audio,
        "input_tokens": input_text + input_audio,
        "output_tokens": output_text + output_audio,
        "input_token_details": {
            "text_tokens": input_text,
            "audio_tokens": input_audio,
            "cached_tokens": input_cached,
        },
        "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
    }
