"""Client secrets: short-lived `ek_` credentials a backend mints for a browser."""

from app.client_secrets.mint import (
    SECRET_PREFIX,
    MintError,
    MintRequest,
    end_user,
    new_secret,
    parse_mint_request,
)
from app.client_secrets.store import (
    MemorySecretStore,
    SecretRecord,
    SecretStore,
    SecretStoreFull,
    secret_digest,
)

__all__ = [
    "SECRET_PREFIX",
    "MemorySecretStore",
    "MintError",
    "MintRequest",
    "SecretRecord",
    "SecretStore",
    "SecretStoreFull",
    "end_user",
    "new_secret",
    "parse_mint_request",
    "secret_digest",
]
