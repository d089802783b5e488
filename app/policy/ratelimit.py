"""A token bucket, pure: the caller passes the clock in."""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """`rate_per_second` tokens flow in, up to `burst`; each event takes one.

    Starts full. `take(now)` is O(1) and allocation-free; `now` is any
    monotonic clock in seconds.
    """

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate_per_second: float, burst: int, now: float) -> None:
        self._rate = rate_per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = now

    def take(self, now: float) -> bool:
        """Take one token; False when the bucket is empty (the event is refused)."""
        tokens = self._tokens + (now - self._last) * self._rate
        self._last = now
        if tokens > self._burst:
            tokens = self._burst
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True
