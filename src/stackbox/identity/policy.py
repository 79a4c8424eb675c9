"""Who may do what, after Keystone's default policies: admin manages everything, users their own things."""

from __future__ import annotations

from stackbox.auth import AuthContext
from stackbox.identity.errors import Forbidden

DELEGATED = "Delegated tokens cannot access credentials directly"


def require_admin(context: AuthContext, action: str) -> None:
    if not context.is_admin:
        raise Forbidden.action(action)


def require_admin_or_service(context: AuthContext, action: str) -> None:
    if not (context.is_admin or context.is_service):
        raise Forbidden.action(action)


def require_admin_or_owner(context: AuthContext, user_id: str, action: str) -> None:
    if not (context.is_admin or context.user_id == user_id):
        raise Forbidden.action(action)


def require_credential_access(context: AuthContext, user_id: str, action: str, *, write: bool) -> None:
    """Own credentials (readers may look, members may change), or admin; never restricted app creds."""
    if context.app_cred_restricted:
        raise Forbidden.action(DELEGATED)
    if context.is_admin:
        return
    if context.user_id != user_id or not context.can_read or (write and not context.can_write):
        raise Forbidden.action(action)
