"""`TokenBucket`: a pure rate limiter driven by the caller's clock."""

from __future__ import annotations

import pytest

from app.policy.ratelimit import TokenBucket


def test_bucket_starts_full_and_refuses_when_empty() -> None:
    """A new bucket allows `burst` events at once, then refuses."""
    bucket = TokenBucket(rate_per_second=1.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize(
    ("elapsed", "allowed"),
    [
        pytest.param(0.49, False, id="half-token-not-enough"),
        pytest.param(0.5, True, id="one-token-refilled"),
        pytest.param(10.0, True, id="long-pause"),
    ],
)
def test_bucket_refills_at_the_configured_rate(elapsed: float, allowed: bool) -> None:
    """Tokens flow back at `rate_per_second`; one whole token allows one event."""
    bucket = TokenBucket(rate_per_second=2.0, burst=1, now=100.0)
    assert bucket.take(100.0) is True
    assert bucket.take(100.0 + elapsed) is allowed


def test_bucket_never_holds_more_than_burst() -> None:
    """A long idle period refills the bucket only up to `burst`."""
    bucket = TokenBucket(rate_per_second=100.0, burst=2, now=0.0)
    assert [bucket.take(3600.0) for _ in range(3)] == [True, True, False]


def test_refused_take_keeps_accumulating_partial_tokens() -> None:
    """Partial tokens earned before a refusal count toward the next event."""
    bucket = TokenBucket(rate_per_second=1.0, burst=1, now=0.0)
    assert bucket.take(0.0) is True
    assert bucket.take(0.6) is False
    assert bucket.take(1.0) is True
    assert bucket.take(1.0) is False
