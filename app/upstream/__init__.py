"""The upstream side: where Azure is, how the relay proves who it is, and dialing."""

from app.upstream.connect import Dialer, UpstreamError, UpstreamOptions
from app.upstream.connection import UpstreamClosed, UpstreamConnection
from app.upstream.credentials import (
    CredentialUnavailableError,
    EntraCredential,
    StaticCredential,
    UpstreamCredential,
)
from app.upstream.target import UpstreamTarget, build_target

__all__ = [
    "CredentialUnavailableError",
    "Dialer",
    "EntraCredential",
    "StaticCredential",
    "UpstreamClosed",
    "UpstreamConnection",
    "UpstreamCredential",
    "UpstreamError",
    "UpstreamOptions",
    "UpstreamTarget",
    "build_target",
]
