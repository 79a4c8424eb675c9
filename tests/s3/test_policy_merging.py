"""Policy evaluation merges statements that differ only in their resources (one match per request
instead of one per statement): every verdict must be the one statement-by-statement evaluation gives."""

from __future__ import annotations

import json
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from stackbox.auth import AuthContext
from stackbox.s3.errors import S3Error
from stackbox.s3.policy import Effect, Policy, Statement, parse
from stackbox.s3.policy_conditions import KeyValues

BUCKET = "bench"
ARN = f"arn:aws:s3:::{BUCKET}"
_PRINCIPALS = ["*", {"AWS": "arn:aws:iam::p1:root"},
               {"AWS": ["arn:aws:iam::p2:root", "arn:aws:iam::p1:user/u"]}]
_RESOURCES = [f"{ARN}/*", f"{ARN}/a/*", f"{ARN}/b*", f"{ARN}/a/k", f"{ARN}/?/k", ARN]
_CONDITIONS = [None, {"StringEquals": {"s3:x-amz-acl": "public-read"}},
               {"StringLike": {"aws:UserAgent": "curl*"}}, {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}]
_ACTIONS = ["s3:*", "s3:GetObject", "s3:PutObject", "s3:Get*"]


@st.composite
def _statement(draw: st.DrawFn) -> dict[str, object]:
    statement: dict[str, object] = {
        "Effect": draw(st.sampled_from(["Allow", "Deny"])),
        draw(st.sampled_from(["Principal", "Principal", "NotPrincipal"])): draw(st.sampled_from(_PRINCIPALS)),
        "Action": draw(st.sampled_from(_ACTIONS)),
        draw(st.sampled_from(["Resource", "Resource", "NotResource"])):
            draw(st.lists(st.sampled_from(_RESOURCES), min_size=1, max_size=2)),
    }
    condition = draw(st.sampled_from(_CONDITIONS))
    if condition is not None:
        statement["Condition"] = condition
    return statement


def _context(project: str | None, user: str) -> AuthContext | None:
    if project is None:
        return None
    return AuthContext(user, user, "default", project, project, "default", frozenset({"member"}))


def _one_by_one(statements: Sequence[Statement], action: str, resource: str, context: AuthContext | None,
                lookup: KeyValues) -> Effect | None:
    applying = [statement for statement in statements if statement.applies_to(action)]
    if any(s.effect is Effect.DENY and s.matches(context, resource, lookup) for s in applying):
        return Effect.DENY
    if any(s.effect is Effect.ALLOW and s.matches(context, resource, lookup) for s in applying):
        return Effect.ALLOW
    return None


@settings(max_examples=400, deadline=None)
@given(st.lists(_statement(), min_size=1, max_size=8),
       st.sampled_from(["s3:GetObject", "s3:PutObject", "s3:ListBucket"]),
       st.sampled_from(["", "a/k", "a/x", "b/k", "bz", "c/k"]),
       st.sampled_from([None, "p1", "p2", "p3"]), st.sampled_from(["u", "v"]),
       st.fixed_dictionaries({}, optional={"s3:x-amz-acl": st.sampled_from(["public-read", "private"]),
                                           "aws:useragent": st.sampled_from(["curl/8", "boto3"]),
                                           "aws:sourceip": st.sampled_from(["10.1.2.3", "192.0.2.1"])}))
def test_merged_statements_decide_as_each_statement_would(
        statements: list[dict[str, object]], action: str, key: str, project: str | None, user: str,
        values: dict[str, str]) -> None:
    try:
        policy: Policy = parse(json.dumps({"Version": "2012-10-17", "Statement": statements}), BUCKET)
    except S3Error:  # a drawn statement S3 refuses (an action that names no listed resource)
        return
    resource = f"{ARN}/{key}" if key else ARN
    context = _context(project, user)

    def lookup(name: str) -> tuple[str, ...] | None:
        return (values[name],) if name in values else None

    expected = _one_by_one(policy.statements, action, resource, context, lookup)
    assert policy.evaluate(action, resource, context, lookup) == expected
    if expected is not Effect.DENY:
        assert policy.evaluate(action, resource, context, lookup, denies_only=True) is None


def test_statements_repeated_per_prefix_are_evaluated_as_one() -> None:
    statements = [{"Sid": f"s{i}", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                   "Resource": f"{ARN}/locked{i}/*"} for i in range(5)]
    policy = parse(json.dumps({"Statement": statements}), BUCKET)
    denies, allows = policy.for_action("s3:GetObject")
    assert len(denies) == 1 and not allows
    assert policy.evaluate("s3:GetObject", f"{ARN}/locked3/k", None, lambda _: None) is Effect.DENY
    assert policy.evaluate("s3:GetObject", f"{ARN}/open/k", None, lambda _: None) is None


def test_statements_that_differ_in_more_than_resources_stay_apart() -> None:
    """NotResource lists (each denies all but its own), and Principal beside NotPrincipal."""
    def deny(**fields: object) -> dict[str, object]:
        return {"Effect": "Deny", "Action": "s3:GetObject", **fields}
    not_resources = parse(json.dumps({"Statement": [deny(Principal="*", NotResource=f"{ARN}/a/*"),
                                                    deny(Principal="*", NotResource=f"{ARN}/b/*")]}), BUCKET)
    assert not_resources.evaluate("s3:GetObject", f"{ARN}/a/k", None, lambda _: None) is Effect.DENY
    project = _context("p1", "u")
    principals = parse(json.dumps({"Statement": [
        deny(Principal={"AWS": "arn:aws:iam::p1:root"}, Resource=f"{ARN}/a/*"),
        deny(NotPrincipal={"AWS": "arn:aws:iam::p1:root"}, Resource=f"{ARN}/b/*")]}), BUCKET)
    assert principals.evaluate("s3:GetObject", f"{ARN}/b/k", project, lambda _: None) is None
    assert principals.evaluate("s3:GetObject", f"{ARN}/a/k", project, lambda _: None) is Effect.DENY
