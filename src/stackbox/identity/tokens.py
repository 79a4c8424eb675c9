"""Stateless Fernet tokens: an encrypted, signed payload naming the user, scope and lifetime."""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


def iso_time(timestamp: float) -> str:
    """Keystone's `2026-11-29T02:56:33.000000Z` format."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class TokenPayload:
    user_id: str
    methods: tuple[str, ...]
    project_id: str | None
    domain_id: str | None
    issued_at: float
    expires_at: float
    audit_ids: tuple[str, ...]
    app_cred_id: str | None = None

    @classmethod
    def issue(cls, user_id: str, methods: tuple[str, ...], ttl: int, *, project_id: str | None = None,
              domain_id: str | None = None, app_cred_id: str | None = None,
              parent: TokenPayload | None = None) -> TokenPayload:
        """A fresh token; one re-scoped from `parent` keeps its audit chain and never outlives it."""
        now = time.time()
        expires_at = now + ttl
        audit_ids: tuple[str, ...] = (new_audit_id(),)
        if parent is not None:
            expires_at = min(expires_at, parent.expires_at)
            audit_ids = (audit_ids[0], parent.audit_ids[-1])
        return cls(user_id, methods, project_id, domain_id, now, expires_at, audit_ids, app_cred_id)

    def with_methods(self, methods: tuple[str, ...]) -> TokenPayload:
        return replace(self, methods=methods)

    def expiring_by(self, deadline: float | None) -> TokenPayload:
        """This token, cut short if it would outlive `deadline`."""
        if deadline is None or deadline >= self.expires_at:
            return self
        return replace(self, expires_at=deadline)

    @property
    def expired(self) -> bool:
        return self.expires_at <= time.time()


class TokenCodec:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encode(self, payload: TokenPayload) -> str:
        data = {"u": payload.user_id, "m": payload.methods, "p": payload.project_id, "d": payload.domain_id,
                "i": payload.issued_at, "e": payload.expires_at, "a": payload.audit_ids,
                "c": payload.app_cred_id}
        return self._fernet.encrypt(orjson.dumps(data)).decode()

    def decode(self, token: str) -> TokenPayload | None:
        """The payload of a token we issued, or None when it is forged, corrupt or not ours."""
        try:
            data: dict[str, Any] = orjson.loads(self._fernet.decrypt(token.encode()))
            return TokenPayload(data["u"], tuple(data["m"]), data["p"], data["d"], float(data["i"]),
                                float(data["e"]), tuple(data["a"]), data["c"])
        except (InvalidToken, UnicodeError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
