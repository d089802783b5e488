"""The upstream side: where Azure is, how the relay proves who it is, and dialing."""

from app.errors import UpstreamClosed, UpstreamUnavailable
from app.upstream.connect import Dialer, UpstreamOptions
from app.upstream.connection import UpstreamConnection
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
    "UpstreamOptions",
    "UpstreamTarget",
    "UpstreamUnavailable",
    "build_target",
]
