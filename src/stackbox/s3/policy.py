"""Bucket policies: validation (MalformedPolicy with AWS's messages), compilation and evaluation.

A policy is compiled once per stored text (`compiled()` is cached on the text, which the container
metadata cache hands back unchanged until the policy changes); evaluating it for a request only looks
at the statements whose actions name the request's operation (indexed per action name on first use).

Principals: `*` or {"AWS": "*"} is everyone (anonymous callers too); a project is named by its id,
`arn:aws:iam::<project_id>:root` or {"CanonicalUser": "<project_id>"} (any user acting in it); a user by
`arn:aws:iam::<project_id>:user/<user name>` (that user acting in that project).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from stackbox.auth import AuthContext
from stackbox.s3.errors import S3Error
from stackbox.s3.operations import ON_OBJECT
from stackbox.s3.policy_conditions import (
    EXISTING_TAG_KEY,
    AnyWildcard,
    BadCondition,
    Condition,
    KeyValues,
    parse_conditions,
    restricts,
    wildcard,
)

MAX_POLICY_BYTES = 20 * 1024
VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_FIELDS = frozenset({"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                               "Resource", "NotResource", "Condition"})
_TOP_FIELDS = frozenset({"Version", "Id", "Statement"})
_ACTION = re.compile(r"^(\*|s3:[A-Za-z*?]+)$", re.I)
_IAM_ARN = re.compile(r"^arn:aws:iam::([^:/]+):(root|user/(.+))$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ARN_PREFIX = "arn:aws:s3:::"


class Effect(Enum):
    ALLOW = "Allow"
    DENY = "Deny"


def malformed(message: str) -> S3Error:
    return S3Error("MalformedPolicy", message)


@dataclass(frozen=True, slots=True)
class Principals:
    everyone: bool = False
    projects: frozenset[str] = frozenset()
    users: frozenset[tuple[str, str]] = frozenset()  # (project id, user name)

    def match(self, context: AuthContext | None) -> bool:
        if self.everyone:
            return True
        if context is None or context.project_id is None:
            return False
        return context.project_id in self.projects or (context.project_id, context.user_name) in self.users


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Effect
    principals: Principals
    not_principal: bool
    actions: AnyWildcard
    not_action: bool
    resources: AnyWildcard
    not_resource: bool
    conditions: tuple[Condition, ...]
    #: `Principal: "*"`: any caller matches (no question to ask of it).
    open_to_all: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "open_to_all", self.principals.everyone and not self.not_principal)

    def applies_to(self, action: str) -> bool:
        return self.actions.fullmatch(action) != self.not_action

    def matches(self, context: AuthContext | None, resource: str, lookup: KeyValues) -> bool:
        if not self.open_to_all and self.principals.match(context) == self.not_principal:
            return False
        if self.resources.fullmatch(resource) == self.not_resource:
            return False
        conditions = self.conditions
        return not conditions or all(condition.holds(lookup) for condition in conditions)

    @property
    def public(self) -> bool:
        """An Allow to everyone not pinned by a condition to fixed callers (AWS's IsPublic)."""
        everyone = not self.principals.everyone if self.not_principal else self.principals.everyone
        return (self.effect is Effect.ALLOW and everyone
                and not any(restricts(condition) for condition in self.conditions))


class ActionStatements(NamedTuple):
    """A policy's statements that name one action, by effect (those differing only in Resource merged)."""

    denies: tuple[Statement, ...]
    allows: tuple[Statement, ...]
    #: Some of them have conditions (the request's condition keys must be looked up).
    conditional: bool


@dataclass(slots=True)
class Policy:
    statements: tuple[Statement, ...]
    _by_action: dict[str, ActionStatements] = field(default_factory=dict)
    #: Whether a condition asks for the object's tags (s3:ExistingObjectTag/<key>): they are read first.
    reads_existing_tags: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.reads_existing_tags = any(condition.key.startswith(EXISTING_TAG_KEY)
                                       for statement in self.statements for condition in statement.conditions)

    @property
    def public(self) -> bool:
        return any(statement.public for statement in self.statements)

    def for_action(self, action: str) -> tuple[tuple[Statement, ...], tuple[Statement, ...]]:
        """(the Deny statements, the Allow statements) whose actions name `action`."""
        found = self.statements_for(action)
        return found.denies, found.allows

    def statements_for(self, action: str) -> ActionStatements:
        found = self._by_action.get(action)
        if found is None:
            applying = [statement for statement in self.statements if statement.applies_to(action)]
            found = ActionStatements(
                _merged([statement for statement in applying if statement.effect is Effect.DENY]),
                _merged([statement for statement in applying if statement.effect is Effect.ALLOW]),
                any(statement.conditions for statement in applying))
            if len(self._by_action) < 256:
                self._by_action[action] = found
        return found

    def evaluate(self, action: str, resource: str, context: AuthContext | None, lookup: KeyValues, *,
                 denies_only: bool = False) -> Effect | None:
        """DENY if a matching statement denies, else ALLOW if one allows, else None (no opinion).
        `denies_only`: the caller is allowed anyway, only a Deny could change that."""
        return decide_among(self.statements_for(action), resource, context, lookup, denies_only=denies_only)


def decide_among(statements: ActionStatements, resource: str, context: AuthContext | None, lookup: KeyValues,
                 *, denies_only: bool = False) -> Effect | None:
    """`Policy.evaluate` on the statements of its action."""
    for statement in statements.denies:
        if statement.matches(context, resource, lookup):
            return Effect.DENY
    if denies_only:
        return None
    for statement in statements.allows:
        if statement.matches(context, resource, lookup):
            return Effect.ALLOW
    return None


def _merged(statements: list[Statement]) -> tuple[Statement, ...]:
    """Statements of one effect that differ only in their Resource lists, as one statement naming all
    those resources: the same verdict (any of them matching decides), one match for a request instead
    of one per statement (policies often repeat a statement per prefix or per Sid)."""
    merged: dict[object, Statement] = {}
    for index, statement in enumerate(statements):
        key = index if statement.not_resource else _merge_key(statement, index)
        earlier = merged.get(key)
        merged[key] = statement if earlier is None else dataclasses.replace(
            earlier, resources=AnyWildcard(earlier.resources.patterns + statement.resources.patterns))
    return tuple(merged.values())


def _merge_key(statement: Statement, index: int) -> object:
    """What must be equal for two statements to merge (their own index if it cannot be compared)."""
    key = (statement.principals, statement.not_principal, statement.conditions)
    try:
        hash(key)
    except TypeError:
        return index
    return key


def resource_arn(bucket: str, key: str = "") -> str:
    return f"{ARN_PREFIX}{bucket}/{key}" if key else f"{ARN_PREFIX}{bucket}"


@functools.lru_cache(maxsize=512)
def compiled(text: str, bucket: str) -> Policy:
    """The policy stored as `text` (validated when it was stored)."""
    return parse(text, bucket)


def parse(text: str, bucket: str) -> Policy:
    """Validate and compile a policy document for `bucket`; MalformedPolicy if AWS would refuse it."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        raise malformed("Policies must be less than 20 KB")
    if not text.lstrip().startswith("{"):
        raise malformed("Policies must be valid JSON and the first byte must be '{'")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise malformed("This policy contains invalid Json") from None
    if not isinstance(document, dict):
        raise malformed("Policies must be valid JSON and the first byte must be '{'")
    for name in document:
        if name not in _TOP_FIELDS:
            raise malformed(f"Unknown field {name}")
    version = document.get("Version")
    if version is not None and version not in VERSIONS:
        raise malformed("The policy must contain a valid version string")
    raw = document.get("Statement")
    if raw is None:
        raise malformed("Missing required field Statement")
    statements = raw if isinstance(raw, list) else [raw]
    if not statements:
        raise malformed("Could not parse the policy: Statement is empty!")
    return Policy(tuple(_statement(item, bucket) for item in statements))


def _statement(raw: Any, bucket: str) -> Statement:
    if not isinstance(raw, dict):
        raise malformed("This policy contains invalid Json")
    for name in raw:
        if name not in _STATEMENT_FIELDS:
            raise malformed(f"Unknown field {name}")
    effect = raw.get("Effect")
    if effect is None:
        raise malformed("Missing required field Effect")
    if effect not in ("Allow", "Deny"):
        raise malformed(f"Invalid effect: {effect}")
    principal_field = _one_of(raw, "Principal", "NotPrincipal")
    action_field = _one_of(raw, "Action", "NotAction")
    resource_field = _one_of(raw, "Resource", "NotResource")
    actions = _strings(raw[action_field], "Policy has invalid action")
    if not actions or not all(_ACTION.match(action) for action in actions):
        raise malformed("Policy has invalid action")
    resources = _strings(raw[resource_field], "Policy has invalid resource")
    if not resources or not all(_resource_ok(resource, bucket) for resource in resources):
        raise malformed("Policy has invalid resource")
    if action_field == "Action" and resource_field == "Resource" and not _applies(actions, resources):
        raise malformed("Action does not apply to any resource(s) in statement")
    try:
        conditions = parse_conditions(raw["Condition"]) if "Condition" in raw else ()
    except BadCondition as error:
        raise malformed(str(error)) from None
    return Statement(
        effect=Effect(effect),
        principals=_principals(raw[principal_field]),
        not_principal=principal_field == "NotPrincipal",
        actions=_any_of(actions, ignore_case=True),
        not_action=action_field == "NotAction",
        resources=_any_of(resources),
        not_resource=resource_field == "NotResource",
        conditions=conditions,
    )


def _one_of(raw: dict[str, Any], name: str, negated: str) -> str:
    if name in raw and negated in raw:
        raise malformed(f"Conflicting fields {name} and {negated}")
    if name in raw:
        return name
    if negated in raw:
        return negated
    raise malformed(f"Missing required field {name}")


def _strings(value: Any, error: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) and item for item in values):
        raise malformed(error)
    return values


def _applies(actions: Sequence[str], resources: Sequence[str]) -> bool:
    """Some action names a kind of resource listed (S3 refuses e.g. s3:GetObject on the bucket alone).
    Wildcard actions and actions stackbox does not know are given the benefit of the doubt."""
    kinds = {ON_OBJECT.get(action.lower()) for action in actions}
    if None in kinds or any("*" in action or "?" in action for action in actions):
        return True
    objects = any(resource == "*" or "/" in resource[len(ARN_PREFIX):] or resource.endswith("*")
                  for resource in resources)
    buckets = any(resource == "*" or "/" not in resource[len(ARN_PREFIX):] for resource in resources)
    return (True in kinds and objects) or (False in kinds and buckets)


def _resource_ok(resource: str, bucket: str) -> bool:
    """The resource names this bucket or objects in it (wildcards allowed), as S3 requires."""
    if resource == "*":
        return True
    if not resource.startswith(ARN_PREFIX):
        return False
    bucket_part = resource[len(ARN_PREFIX):].split("/", 1)[0]
    return wildcard(bucket_part).fullmatch(bucket)


def _any_of(patterns: Sequence[str], *, ignore_case: bool = False) -> AnyWildcard:
    return AnyWildcard(patterns, ignore_case=ignore_case)


def _principals(value: Any) -> Principals:
    if value == "*":
        return Principals(everyone=True)
    if not isinstance(value, dict) or not value:
        raise malformed("Invalid principal in policy")
    everyone = False
    projects: set[str] = set()
    users: set[tuple[str, str]] = set()
    for kind, raw in value.items():
        if kind not in ("AWS", "CanonicalUser"):
            raise malformed("Invalid principal in policy")
        for name in _strings(raw, "Invalid principal in policy"):
            if name == "*" and kind == "AWS":
                everyone = True
                continue
            match = _IAM_ARN.match(name) if kind == "AWS" else None
            if match is not None and match.group(3) is not None:
                users.add((match.group(1), match.group(3)))
            elif match is not None:
                projects.add(match.group(1))
            elif _ID.match(name):
                projects.add(name)
            else:
                raise malformed("Invalid principal in policy")
    return Principals(everyone, frozenset(projects), frozenset(users))
