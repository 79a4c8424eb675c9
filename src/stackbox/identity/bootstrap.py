"""First start: keys, the Default domain, the admin project/user, roles and the service catalog.

Idempotent: running it again creates only what is missing and points the bootstrap endpoints and the
admin openrc at the current host and ports. On PostgreSQL, nodes bootstrapping at once take turns
(`Store.exclusive`), so the cluster gets one admin, one set of roles and one set of keys.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from stackbox.auth import RESELLER_ADMIN_ROLE
from stackbox.config import Settings
from stackbox.identity.keys import ensure_keys, ensure_shared_keys
from stackbox.identity.passwords import hash_password
from stackbox.identity.service import open_store
from stackbox.identity.store import Store, new_id

DEFAULT_DOMAIN_ID = "default"
ADMIN = "admin"
#: Each role implies the next: admin ⊃ member ⊃ reader.
ROLE_CHAIN = ("admin", "member", "reader")
#: `ResellerAdmin` owns every Swift account (keystoneauth's `reseller_admin_role`); no one holds it
#: until an admin assigns it.
OTHER_ROLES = ("service", RESELLER_ADMIN_ROLE)
INTERFACES = ("public", "internal", "admin")


@dataclass(frozen=True)
class BootstrapResult:
    #: Only when the admin user was created by this run (the password is shown once).
    admin_password: str | None
    openrc_path: Path


def bootstrap(settings: Settings) -> BootstrapResult:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings)
    try:
        store.create_schema()
        # Nodes starting at once against one database take turns: one creates, the others find.
        with store.exclusive("identity-bootstrap"):
            if store.embedded:
                ensure_keys(settings.data_dir)
            else:
                ensure_shared_keys(store, settings.cluster_key_path)
            created_password = _ensure_admin(store)
            _ensure_catalog(store, settings)
    finally:
        store.close()
    openrc_path = settings.data_dir / "admin-openrc"
    password = created_password or _password_in_openrc(openrc_path)
    _write_private(openrc_path, render_openrc(settings, user=ADMIN, project=ADMIN, password=password))
    return BootstrapResult(admin_password=created_password, openrc_path=openrc_path)


def render_openrc(settings: Settings, *, user: str, project: str, password: str | None = None,
                  domain: str = "Default") -> str:
    """An openrc for `user` on `project`; without a password it asks for one, like Horizon's."""
    values = {
        "OS_AUTH_URL": settings.identity_url,
        "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": user,
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": domain,
        "OS_PROJECT_DOMAIN_NAME": domain,
        "OS_REGION_NAME": settings.region,
        "OS_INTERFACE": "public",
    }
    lines = [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    if password is not None:
        lines.append(f"export OS_PASSWORD={shlex.quote(password)}")
    else:
        lines += [
            'echo "Please enter your OpenStack password for project $OS_PROJECT_NAME as user $OS_USERNAME: "',
            "read -sr OS_PASSWORD_INPUT",
            'export OS_PASSWORD="$OS_PASSWORD_INPUT"',
        ]
    return "\n".join(lines) + "\n"


def _ensure_admin(store: Store) -> str | None:
    """Create the Default domain, roles, admin project and admin user; the new password, if created."""
    if store.get("domain", DEFAULT_DOMAIN_ID) is None:
        store.insert("domain", {"id": DEFAULT_DOMAIN_ID, "name": "Default",
                                "description": "The default domain"})
    role_ids = {name: _ensure_role(store, name) for name in (*ROLE_CHAIN, *OTHER_ROLES)}
    for prior, implied in itertools.pairwise(ROLE_CHAIN):
        store.imply(role_ids[prior], role_ids[implied])
    project = store.project_by_name(ADMIN, DEFAULT_DOMAIN_ID)
    project_id = project["id"] if project else new_id()
    if project is None:
        store.insert("project", {"id": project_id, "name": ADMIN, "domain_id": DEFAULT_DOMAIN_ID,
                                 "description": "Bootstrap project for initializing the cloud."})
    if store.user_by_name(ADMIN, DEFAULT_DOMAIN_ID) is not None:
        return None
    password = secrets.token_urlsafe(18)
    user_id = new_id()
    store.insert("user", {"id": user_id, "name": ADMIN, "domain_id": DEFAULT_DOMAIN_ID,
                          "password_hash": hash_password(password), "password_changed_at": time.time()})
    store.assign(user_id, "project", project_id, role_ids[ADMIN])
    return password


def _ensure_role(store: Store, name: str) -> str:
    role = store.role_by_name(name)
    if role is not None:
        return str(role["id"])
    role_id = new_id()
    store.insert("role", {"id": role_id, "name": name})
    return role_id


def _ensure_catalog(store: Store, settings: Settings) -> None:
    if store.get("region", settings.region) is None:
        store.insert("region", {"id": settings.region})
    swift_url = f"{settings.object_url}/v1/AUTH_%(project_id)s"
    wanted = {
        ("identity", "keystone", ""): settings.identity_url,
        ("object-store", "swift", "OpenStack Object Storage"): swift_url,
    }
    for (service_type, name, description), url in wanted.items():
        services = store.select("service", {"type": service_type, "name": name})
        service_id = services[0]["id"] if services else new_id()
        if not services:
            store.insert("service", {"id": service_id, "type": service_type, "name": name,
                                     "description": description})
        for interface in INTERFACES:
            _ensure_endpoint(store, service_id, interface, settings.region, url)


def _ensure_endpoint(store: Store, service_id: str, interface: str, region: str, url: str) -> None:
    existing = store.select("endpoint", {"service_id": service_id, "interface": interface,
                                         "region_id": region})
    if not existing:
        store.insert("endpoint", {"id": new_id(), "service_id": service_id, "interface": interface,
                                  "region_id": region, "url": url})
    elif existing[0]["url"] != url:
        store.update("endpoint", existing[0]["id"], {"url": url})


def _password_in_openrc(path: Path) -> str | None:
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("export OS_PASSWORD="):
            parts = shlex.split(line[len("export OS_PASSWORD="):])
            return parts[0] if parts else None
    return None


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, never exposing the contents under wider permissions."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
