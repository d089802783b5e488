"""The upstream side: where Azure is, how the relay proves who it is, and dialing."""

from app.upstream.connect import UpstreamError, UpstreamOptions, open_upstream
from app.upstream.credentials import (
    CredentialUnavailableError,
    EntraCredential,
    StaticCredential,
    UpstreamCredential,
)
from app.upstream.target import UpstreamTarget, build_target

__all__ = [
    "CredentialUnavailableError",
    "EntraCredential",
    "StaticCredential",
    "UpstreamCredential",
    "UpstreamError",
    "UpstreamOptions",
    "UpstreamTarget",
    "build_target",
    "open_upstream",
]
