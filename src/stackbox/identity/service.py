"""The identity service of one worker: token issue/validation and the in-process API for S3 and Swift.

`validate_token` and `ec2_secret` run on every object request, so their answers are cached in the
worker and dropped whenever any identity write bumps the shared epoch counter.

On a database server every store call is a network round trip: the event loop then hands store work
to a small per-worker thread pool (`run`), and the async variants of the hot lookups answer from the
cache inline and go to a thread only on a miss. On SQLite everything runs inline, as it is fast.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from stackbox.auth import AuthContext, Ec2Secret, SecretNotCached
from stackbox.cluster import ClusterCounter
from stackbox.config import Settings
from stackbox.epoch import EpochCache, SharedCounter
from stackbox.identity.access_rules import AccessRule, access_rule_json
from stackbox.identity.keys import load_keys
from stackbox.identity.secrets import SecretBox
from stackbox.identity.store import Row, Store, is_restricted
from stackbox.identity.tokens import TokenCodec, TokenPayload, iso_time
from stackbox.sql import Connection

_T = TypeVar("_T")

#: Threads per worker process running identity store work when the database is a server.
STORE_THREADS = 8


def database_path(settings: Settings) -> Path:
    return settings.data_dir / "identity.db"


def open_store(settings: Settings, on_write: Callable[[], object] = lambda: None,
               announce: Callable[[Connection], object] | None = None) -> Store:
    """The identity store: the data dir's identity.db, or the metadata database (PostgreSQL)."""
    if settings.embedded_metadata:
        return Store.open(database_path(settings), on_write, announce=announce)
    # Each store thread holds its own connection, and so may the event loop's.
    return Store.open(settings.metadata_url, on_write, pool_size=STORE_THREADS + 2, announce=announce)


def ec2_credential_id(access: str) -> str:
    """Keystone's id of an EC2 credential: the sha256 hex digest of its access key."""
    return hashlib.sha256(access.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ValidToken:
    """A token that checked out: who it stands for and its body (without the catalog)."""

    payload: TokenPayload
    context: AuthContext
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Scope:
    """The effective roles of a user on a project or domain, after every enabled-check passed."""

    context: AuthContext
    roles: list[Row]
    project: Row | None
    domain: Row | None


class IdentityService:
    def __init__(self, settings: Settings, counter: SharedCounter) -> None:
        self.settings = settings
        self.counter = counter
        if isinstance(counter, ClusterCounter):  # other nodes hear of a write within its transaction
            self.store = open_store(settings, on_write=counter.bump_local, announce=counter.announce)
        else:
            self.store = open_store(settings, on_write=counter.bump)
        try:
            self.keys = load_keys(settings, self.store)
        except BaseException:
            self.store.close()
            raise
        self.codec = TokenCodec(self.keys.token)
        self.secrets = SecretBox(self.keys.credential)
        self._tokens: EpochCache[str, ValidToken] = EpochCache(counter)
        #: Each pair with the time its application credential expires (None: never).
        self._ec2: EpochCache[str, tuple[Ec2Secret | None, float | None]] = EpochCache(counter)
        self._catalogs: EpochCache[str | None, list[dict[str, Any]]] = EpochCache(counter)
        self._rows: EpochCache[tuple[str, str], tuple[Row | None]] = EpochCache(counter)
        self._executor = (None if settings.embedded_metadata else
                          ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="identity-store"))
        self._thread_loops = threading.local()

    @property
    def remote(self) -> bool:
        """Whether store calls are network round trips (and so run off the event loop)."""
        return self._executor is not None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.store.close()

    # Off the event loop --------------------------------------------------------------------------

    async def run(self, work: Callable[..., _T], *args: Any) -> _T:
        """`work(*args)`: inline on SQLite, in the store thread pool on a database server."""
        if self._executor is None:
            return work(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    async def run_async(self, work: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """A coroutine doing store work between its awaits (password checks): on a database server it
        runs whole in a store thread, on that thread's own event loop."""
        if self._executor is None:
            return await work(*args)
        return await self.run(self._drive, work, *args)

    def _drive(self, work: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        loop: asyncio.AbstractEventLoop | None = getattr(self._thread_loops, "loop", None)
        if loop is None:
            loop = self._thread_loops.loop = asyncio.new_event_loop()
        return loop.run_until_complete(work(*args))

    # The in-process API --------------------------------------------------------------------------

    def validate_token(self, token: str) -> AuthContext | None:
        valid = self.validate(token)
        return valid.context if valid else None

    async def validate_token_async(self, token: str) -> AuthContext | None:
        valid = await self.validate_async(token)
        return valid.context if valid else None

    def ec2_secret(self, access: str) -> Ec2Secret | None:
        cached = self._ec2.get(access)
        if cached is None:
            cached = self._resolve_ec2(access)
            self._ec2.put(access, cached)
        return _unexpired(cached)

    def ec2_secret_cached(self, access: str) -> Ec2Secret | None:
        """The cached answer of `ec2_secret`; SecretNotCached when the cache does not hold one."""
        cached = self._ec2.get(access)
        if cached is None:
            raise SecretNotCached(access)
        return _unexpired(cached)

    async def ec2_secret_async(self, access: str) -> Ec2Secret | None:
        cached = self._ec2.get(access)
        if cached is None:
            return await self.run(self.ec2_secret, access)
        return _unexpired(cached)

    def cached_row(self, table: str, ident: str) -> Row | None:
        """A project's or user's row for the object front ends (ACL names, S3 display names): kept
        until the next identity write, so a database server is asked once, not on every request."""
        cached = self._rows.get((table, ident))
        if cached is None:
            cached = (self.store.get(table, ident),)
            self._rows.put((table, ident), cached)
        return cached[0]

    # Tokens --------------------------------------------------------------------------------------

    def validate(self, token: str) -> ValidToken | None:
        """The token's facts, or None if it is forged, expired, revoked or its user/scope lost access."""
        valid = self._tokens.get(token)
        if valid is None:
            payload = self.codec.decode(token)
            valid = self._resolve_token(payload) if payload else None
            if valid is None:
                return None
            self._tokens.put(token, valid)
        return None if valid.payload.expired else valid

    async def validate_async(self, token: str) -> ValidToken | None:
        """`validate`, answered inline when cached or forged, in a store thread otherwise."""
        valid = self._tokens.get(token)
        if valid is not None:
            return None if valid.payload.expired else valid
        if self._executor is None or self.codec.decode(token) is None:
            return self.validate(token)
        return await self.run(self.validate, token)

    def issue(self, payload: TokenPayload) -> tuple[str, ValidToken] | None:
        """Sign a new token; one from an application credential expires no later than the credential."""
        if payload.app_cred_id:
            app_cred = self.store.get("application_credential", payload.app_cred_id)
            payload = payload.expiring_by(app_cred["expires_at"] if app_cred else None)
        valid = self._resolve_token(payload)
        return (self.codec.encode(payload), valid) if valid else None

    def revoke(self, payload: TokenPayload) -> None:
        self.store.revoke_audit_ids(payload.audit_ids[:1], payload.expires_at)

    def _resolve_token(self, payload: TokenPayload) -> ValidToken | None:
        if payload.expired or self.store.any_revoked(payload.audit_ids):
            return None
        user = self.active_user(payload.user_id)
        if user is None or user["password_changed_at"] > payload.issued_at:
            return None
        app_cred = None
        if payload.app_cred_id:
            app_cred = self.store.get("application_credential", payload.app_cred_id)
            if app_cred is None or _expired(app_cred["expires_at"]):
                return None
        scope = self.scope_for(user, project_id=payload.project_id, domain_id=payload.domain_id,
                               app_cred=app_cred)
        if scope is None or self._revoked_on_disable(payload, user, scope):
            return None
        return ValidToken(payload, scope.context, self._token_body(payload, user, scope, app_cred))

    def _revoked_on_disable(self, payload: TokenPayload, user: Row, scope: Scope) -> bool:
        """Whether the user, project or a domain the token names was disabled after it was issued."""
        targets = [user["id"], user["domain_id"]]
        if scope.project is not None:
            targets += [scope.project["id"], scope.project["domain_id"]]
        if scope.domain is not None:
            targets.append(scope.domain["id"])
        return self.store.any_target_revoked(targets, payload.issued_at)

    def revoke_on_disable(self, target_id: str) -> None:
        """Keystone's revocation event: tokens naming the disabled entity never come back."""
        self.store.revoke_targets([target_id], prune_before=time.time() - self.settings.token_ttl)

    # Users, scopes and roles ---------------------------------------------------------------------

    def active_user(self, user_id: str) -> Row | None:
        """The user, if it and its domain are enabled."""
        user = self.store.get("user", user_id)
        if user is None or not user["enabled"]:
            return None
        domain = self.store.get("domain", user["domain_id"])
        return user if domain is not None and domain["enabled"] else None

    def scope_for(self, user: Row, *, project_id: str | None = None, domain_id: str | None = None,
                  app_cred: Row | None = None) -> Scope | None:
        """The user's effective roles on a project or domain (unscoped when neither is given).

        None when the target is missing or disabled, or the user holds no role on it.
        """
        project = domain = None
        if project_id is not None:
            project = self.store.get("project", project_id)
            if project is None or not project["enabled"] or not self._domain_enabled(project["domain_id"]):
                return None
        elif domain_id is not None:
            domain = self.store.get("domain", domain_id)
            if domain is None or not domain["enabled"]:
                return None
        target = project_id or domain_id
        roles = self.effective_roles(user["id"], target, app_cred) if target else []
        if target and not roles:
            return None
        context = AuthContext(
            user_id=user["id"], user_name=user["name"], user_domain_id=user["domain_id"],
            project_id=project["id"] if project else None, project_name=project["name"] if project else None,
            project_domain_id=project["domain_id"] if project else None,
            roles=frozenset(role["name"] for role in roles),
            app_cred_id=app_cred["id"] if app_cred else None,
            app_cred_restricted=app_cred is not None and is_restricted(app_cred),
            access_rules=self.access_rules(app_cred) if app_cred else None)
        return Scope(context, roles, project, domain)

    def access_rules(self, app_cred: Row) -> tuple[AccessRule, ...] | None:
        """The credential's access rules; None when it has none (no limit, as in Keystone)."""
        rows = self.store.access_rules_of(app_cred["id"])
        return tuple(AccessRule(row["service"], row["method"], row["path"]) for row in rows) or None

    def effective_roles(self, user_id: str, target_id: str, app_cred: Row | None = None) -> list[Row]:
        role_ids = self.store.expand_implied(self.store.direct_role_ids(user_id, target_id))
        if app_cred is not None:
            role_ids &= self.store.expand_implied(orjson.loads(app_cred["role_ids"]))
        return self.store.roles(role_ids)

    def _domain_enabled(self, domain_id: str) -> bool:
        domain = self.store.get("domain", domain_id)
        return domain is not None and bool(domain["enabled"])

    # EC2 -----------------------------------------------------------------------------------------

    def _resolve_ec2(self, access: str) -> tuple[Ec2Secret | None, float | None]:
        """The pair, and when the application credential it was made with expires (it dies with it)."""
        row = self.store.get("credential", ec2_credential_id(access))
        if row is None or row["type"] != "ec2" or row["project_id"] is None:
            return None, None
        blob = self.decrypt_blob(row)
        user = self.active_user(row["user_id"])
        if user is None or not isinstance(blob.get("secret"), str):
            return None, None
        app_cred = None
        if row["app_cred_id"]:
            app_cred = self.store.get("application_credential", row["app_cred_id"])
            if app_cred is None or app_cred["project_id"] != row["project_id"]:
                return None, None
        scope = self.scope_for(user, project_id=row["project_id"], app_cred=app_cred)
        pair = Ec2Secret(access, blob["secret"], scope.context) if scope else None
        return pair, app_cred["expires_at"] if app_cred else None

    def decrypt_blob(self, row: Row) -> dict[str, Any]:
        """A credential's blob as a dict (an EC2 blob holds access, secret and trust_id)."""
        text = self.secrets.open(row["encrypted_blob"])
        try:
            blob = orjson.loads(text) if text is not None else {}
        except orjson.JSONDecodeError:
            return {}
        return blob if isinstance(blob, dict) else {}

    def blob_text(self, row: Row) -> str:
        return self.secrets.open(row["encrypted_blob"]) or ""

    # Token bodies and the catalog ----------------------------------------------------------------

    def _token_body(self, payload: TokenPayload, user: Row, scope: Scope, app_cred: Row | None
                    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "methods": list(payload.methods),
            "user": {"domain": self._domain_ref(user["domain_id"]), "id": user["id"], "name": user["name"],
                     "password_expires_at": None},
            "audit_ids": list(payload.audit_ids),
            "expires_at": iso_time(payload.expires_at),
            "issued_at": iso_time(payload.issued_at),
        }
        if scope.project is not None:
            project = scope.project
            body["project"] = {"domain": self._domain_ref(project["domain_id"]), "id": project["id"],
                               "name": project["name"]}
            body["is_domain"] = False
        elif scope.domain is not None:
            body["domain"] = {"id": scope.domain["id"], "name": scope.domain["name"]}
        if scope.project is not None or scope.domain is not None:
            body["roles"] = [{"id": role["id"], "name": role["name"]} for role in scope.roles]
        if app_cred is not None:
            body["application_credential"] = {"id": app_cred["id"], "name": app_cred["name"],
                                              "restricted": is_restricted(app_cred)}
            rules = self.store.access_rules_of(app_cred["id"])
            if rules:
                body["application_credential"]["access_rules"] = [access_rule_json(row) for row in rules]
        return body

    def _domain_ref(self, domain_id: str) -> dict[str, str]:
        domain = self.store.get("domain", domain_id)
        return {"id": domain_id, "name": domain["name"] if domain else ""}

    def token_body(self, valid: ValidToken, *, with_catalog: bool = True) -> dict[str, Any]:
        body = dict(valid.body)
        if with_catalog and ("project" in body or "domain" in body):
            body["catalog"] = self.catalog(valid.payload.project_id)
        return {"token": body}

    def catalog(self, project_id: str | None) -> list[dict[str, Any]]:
        cached = self._catalogs.get(project_id)
        if cached is None:
            cached = self._build_catalog(project_id)
            self._catalogs.put(project_id, cached)
        return cached

    def _build_catalog(self, project_id: str | None) -> list[dict[str, Any]]:
        """Every enabled service, even one whose endpoints all need a project the token lacks."""
        entries = []
        for service in self.store.select("service", {"enabled": 1}):
            endpoints = []
            for endpoint in self.store.select("endpoint", {"service_id": service["id"], "enabled": 1}):
                url = substitute_project(endpoint["url"], project_id)
                if url is not None:
                    endpoints.append({"id": endpoint["id"], "interface": endpoint["interface"],
                                      "region_id": endpoint["region_id"], "url": url,
                                      "region": endpoint["region_id"]})
            entries.append({"endpoints": endpoints, "id": service["id"], "type": service["type"],
                            "name": service["name"]})
        return entries


def _unexpired(cached: tuple[Ec2Secret | None, float | None]) -> Ec2Secret | None:
    pair, expires_at = cached
    return None if _expired(expires_at) else pair


def _expired(expires_at: float | None) -> bool:
    return expires_at is not None and expires_at <= time.time()


def substitute_project(url: str, project_id: str | None) -> str | None:
    """Fill `%(project_id)s` / `$(project_id)s`; an endpoint that needs a project is left out without one."""
    for marker in ("%(project_id)s", "$(project_id)s", "%(tenant_id)s", "$(tenant_id)s"):
        if marker in url:
            if project_id is None:
                return None
            url = url.replace(marker, project_id)
    return url
