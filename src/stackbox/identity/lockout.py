"""Checking a user's password under Keystone's lockout policy.

With `lockout_failure_attempts` set, that many failed checks in a row lock the user out for
`lockout_duration` seconds: every attempt meanwhile, even with the right password, answers 401
"The account is locked for user: <id>." A successful check resets the count.
"""

from __future__ import annotations

import time

from stackbox.identity.errors import Unauthorized
from stackbox.identity.passwords import verify_password_async
from stackbox.identity.service import IdentityService
from stackbox.identity.store import Row


async def check_password(service: IdentityService, user: Row | None, password: str) -> bool:
    """Whether `password` is the user's; an unknown user (None) costs a check and fails."""
    if user is None:
        await verify_password_async(password, None)
        return False
    enforced = service.settings.lockout_failure_attempts > 0
    if enforced:
        _refuse_if_locked(service, user["id"])
    matches = await verify_password_async(password, user["password_hash"])
    if enforced:
        _count(service, user["id"], succeeded=matches)
    return matches


def _count(service: IdentityService, user_id: str, *, succeeded: bool) -> None:
    if not succeeded:
        service.store.record_auth_failure(user_id)
    elif service.store.auth_failures(user_id) is not None:
        service.store.clear_auth_failures(user_id)


def _refuse_if_locked(service: IdentityService, user_id: str) -> None:
    failures = service.store.auth_failures(user_id)
    settings = service.settings
    if failures is None or failures["count"] < settings.lockout_failure_attempts:
        return
    if failures["last_at"] + settings.lockout_duration <= time.time():
        # The lockout is over: the user starts again with a clean count.
        service.store.clear_auth_failures(user_id)
        return
    raise Unauthorized(f"The account is locked for user: {user_id}.")
