"""The in-process secret store: digests only, expiry-bounded, capped, revoked by its minter."""

from __future__ import annotations

import pytest

from app.client_secrets import (
    MemorySecretStore,
    SecretRecord,
    SecretStoreFull,
    new_secret,
    secret_digest,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(value: str, expires_at: float, backend: str = "shop") -> SecretRecord:
    return SecretRecord(secret_digest(value), "support", f"{backend}:u1", backend, expires_at)


async def test_a_secret_is_found_until_it_expires() -> None:
    clock = Clock()
    store = MemorySecretStore(10, clock)
    await store.put(record("ek_a", 1010.0))
    assert (await store.get(secret_digest("ek_a"))) == record("ek_a", 1010.0)
    clock.now = 1010.0
    assert await store.get(secret_digest("ek_a")) is None
    assert len(store) == 0  # evicted when met


async def test_the_cap_evicts_expired_secrets_then_refuses() -> None:
    clock = Clock()
    store = MemorySecretStore(2, clock)
    await store.put(record("ek_a", 1005.0))
    await store.put(record("ek_b", 1100.0))
    clock.now = 1006.0
    await store.put(record("ek_c", 1100.0))  # ek_a had expired: room is made
    assert len(store) == 2
    with pytest.raises(SecretStoreFull):
        await store.put(record("ek_d", 1100.0))
    assert await store.get(secret_digest("ek_b")) is not None


async def test_only_the_minting_backend_revokes() -> None:
    store = MemorySecretStore(10, Clock())
    await store.put(record("ek_a", 2000.0, backend="shop"))
    assert not await store.revoke(secret_digest("ek_a"), "other")
    assert not await store.revoke(secret_digest("ek_missing"), "shop")
    assert await store.revoke(secret_digest("ek_a"), "shop")
    assert await store.get(secret_digest("ek_a")) is None


def test_a_new_secret_has_256_random_bits_and_the_ek_prefix() -> None:
    values = {new_secret() for _ in range(100)}
    assert len(values) == 100
    for value in values:
        assert value.startswith("ek_")
        assert len(value) == 3 + 43  # 32 bytes in unpadded base64url
        assert all(c.isalnum() or c in "-_" for c in value[3:])
    assert secret_digest("ek_x") != "ek_x"
    assert len(secret_digest("ek_x")) == 64
