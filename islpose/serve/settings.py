"""Settings of the recognition server (``islpose serve``), checked before anything listens."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from islpose.errors import IslposeError

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
TOKEN_ENV = "ISLPOSE_TOKEN"


def is_local(host: str) -> bool:
    """Whether ``host`` is a loopback address (only this machine can connect)."""
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServeSettings:
    """How the server listens and what it accepts.

    Attributes:
        host, port: where uvicorn listens (loopback by default).
        token: bearer token every API request must carry (``Authorization: Bearer ...``);
            None = no token, allowed only on a loopback host.
        max_upload_mb: largest request body of ``POST /recognize`` in MB (10**6 bytes);
            a larger one is answered 413 as soon as the limit is crossed.
        workers: recognitions that run at once (threads sharing the model); further
            requests wait in a queue.
        max_queue: requests allowed to wait for a worker; beyond them the server answers 503.
        live: whether ``WS /live`` is served.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_upload_mb: float = 50.0
    workers: int = 2
    max_queue: int = 64
    live: bool = True

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    def check(self) -> None:
        """Raises :class:`IslposeError` on impossible or unsafe settings (a non-local bind
        without a token)."""
        if not 0 <= self.port < 65536:
            raise IslposeError(f"port must be 0-65535, got {self.port}")
        if not self.max_upload_mb > 0:
            raise IslposeError(f"max upload must be > 0 MB, got {self.max_upload_mb}")
        if self.workers < 1:
            raise IslposeError(f"workers must be >= 1, got {self.workers}")
        if self.max_queue < 0:
            raise IslposeError(f"max queue must be >= 0, got {self.max_queue}")
        if self.token is not None and len(self.token) < 8:
            raise IslposeError("the token must have at least 8 characters")
        if not self.token and not is_local(self.host):
            raise IslposeError(
                f"refusing to listen on {self.host} without a token: anyone who can reach this machine could "
                f"use the server. Give --token (or set {TOKEN_ENV}), or listen on 127.0.0.1 and put a "
                "reverse proxy with authentication in front"
            )
