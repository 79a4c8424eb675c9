"""Who is calling: the identity facts every front end (identity, S3, Swift) authorizes against."""

from __future__ import annotations

from dataclasses import dataclass, field

READ_ROLES = frozenset({"reader", "member", "admin"})
WRITE_ROLES = frozenset({"member", "admin"})
#: Swift's keystoneauth as the reference cloud configures it: `operator_roles = admin, member` own
#: their project's account, `reseller_admin_role = ResellerAdmin` owns every account (compared
#: case-insensitively, as keystoneauth does).
SWIFT_OPERATOR_ROLES = frozenset({"admin", "member"})
RESELLER_ADMIN_ROLE = "ResellerAdmin"


@dataclass(frozen=True, slots=True)
class AuthContext:
    """An authenticated caller, scoped to a project (or not).

    `roles` are the effective role names on the scoped project, implied roles expanded
    (admin implies member implies reader).
    """

    user_id: str
    user_name: str
    user_domain_id: str
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    roles: frozenset[str]
    app_cred_id: str | None = None
    app_cred_restricted: bool = False
    #: The application credential's access rules as (service type, method, path glob); None: unlimited.
    access_rules: tuple[tuple[str, str, str], ...] | None = None
    # What every request asks of its caller, derived once (a context is cached with its token or key).
    can_read: bool = field(init=False, compare=False, repr=False)
    can_write: bool = field(init=False, compare=False, repr=False)
    #: The object-store account of the scoped project (Swift's `AUTH_<project_id>`).
    account: str | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "can_read", not READ_ROLES.isdisjoint(self.roles))
        object.__setattr__(self, "can_write", not WRITE_ROLES.isdisjoint(self.roles))
        object.__setattr__(self, "account", f"AUTH_{self.project_id}" if self.project_id else None)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_service(self) -> bool:
        return "service" in self.roles

    @property
    def is_reseller_admin(self) -> bool:
        return RESELLER_ADMIN_ROLE.lower() in (role.lower() for role in self.roles)

    @property
    def is_swift_operator(self) -> bool:
        """Holds an operator role on its scoped project (owns that project's Swift account)."""
        return not SWIFT_OPERATOR_ROLES.isdisjoint(role.lower() for role in self.roles)


@dataclass(frozen=True, slots=True)
class Ec2Secret:
    """An EC2 access key resolved for signature checking: its secret and the caller it stands for."""

    access: str
    secret: str
    context: AuthContext


class SecretNotCached(LookupError):
    """The worker's cache holds no answer for this access key: it must be looked up (off the loop)."""

    def __init__(self, access_key: str) -> None:
        super().__init__(access_key)
        self.access_key = access_key
