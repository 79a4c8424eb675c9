"""Fuzzing the bucket policy parser and evaluator.

Property: any text (JSON or not, policy-shaped or not) is a compiled policy or MalformedPolicy, never
another exception; a compiled policy evaluates any request (anonymous or not, any action, resource
and condition keys) to Allow, Deny or no opinion without raising.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from stackbox.auth import AuthContext
from stackbox.s3.errors import S3Error
from stackbox.s3.policy import Effect, parse

from .strategies import any_text

BUCKET = "fuzz-bucket"
OPERATORS = ["StringEquals", "StringNotEquals", "StringLike", "StringNotLikeIfExists", "IpAddress",
             "NotIpAddress", "Bool", "NumericLessThan", "NumericGreaterThanEquals", "DateGreaterThan",
             "Null", "ForAnyValue:StringEquals", "ForAllValues:StringLike", "ArnLike", "Bogus"]
KEYS = ["aws:SourceIp", "aws:SecureTransport", "aws:Referer", "aws:UserAgent", "aws:CurrentTime",
        "aws:PrincipalAccount", "s3:prefix", "s3:max-keys", "s3:x-amz-acl", "s3:ExistingObjectTag/team",
        "s3:RequestObjectTagKeys", "s3:VersionId", "nonsense"]
SCALARS = st.one_of(any_text(20), st.integers(-5, 10**12), st.booleans(), st.none(),
                    st.sampled_from(["*", "10.0.0.0/8", "::1/128", "2026-01-01T00:00:00Z", "true", "a*b?",
                                     f"arn:aws:s3:::{BUCKET}/*", "arn:aws:iam::p1:root",
                                     "arn:aws:iam::p1:user/alice", "s3:Get*", "s3:*"]))


def _values() -> st.SearchStrategy[Any]:
    return st.one_of(SCALARS, st.lists(SCALARS, max_size=3),
                     st.dictionaries(any_text(8), SCALARS, max_size=2))


def _statement() -> st.SearchStrategy[dict[str, Any]]:
    condition = st.dictionaries(st.sampled_from(OPERATORS),
                                st.dictionaries(st.sampled_from(KEYS), _values(), max_size=2), max_size=2)
    fields = {
        "Effect": st.sampled_from(["Allow", "Deny", "allow", ""]),
        "Principal": st.one_of(st.just("*"), st.fixed_dictionaries({"AWS": _values()}),
                               st.fixed_dictionaries({"CanonicalUser": _values()}), _values()),
        "NotPrincipal": st.fixed_dictionaries({"AWS": _values()}),
        "Action": _values(), "NotAction": _values(),
        "Resource": _values(), "NotResource": _values(),
        "Condition": st.one_of(condition, _values()), "Sid": _values(), "Extra": _values(),
    }
    return st.fixed_dictionaries({}, optional=fields)


def policies() -> st.SearchStrategy[str]:
    document = st.fixed_dictionaries({}, optional={
        "Version": st.sampled_from(["2012-10-17", "2008-10-17", "2020-01-01"]),
        "Statement": st.one_of(st.lists(_statement(), max_size=4), _statement(), _values()),
        "Id": _values()})
    return st.one_of(document.map(json.dumps), any_text(60))


CALLERS = [None, AuthContext("u1", "alice", "default", "p1", "one", "default", frozenset({"member"})),
           AuthContext("u2", "bob", "default", "p2", "two", "default", frozenset({"reader"}))]


def _lookup(values: dict[str, Sequence[str]]) -> Any:
    return values.get


ACTIONS = ["s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObjectVersion"]


@given(policies(), st.sampled_from(ACTIONS),
       st.sampled_from([f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/a/b", f"arn:aws:s3:::{BUCKET}/"]),
       st.sampled_from(CALLERS),
       st.dictionaries(st.sampled_from([key.lower() for key in KEYS]),
                       st.lists(st.one_of(any_text(15), st.sampled_from(["10.1.2.3", "::1", "5", "true",
                                                                          "2027-01-01T00:00:00Z"])),
                                max_size=2), max_size=4))
@example(json.dumps({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*",
                                   "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}}),
         "s3:GetObject", f"arn:aws:s3:::{BUCKET}/k", None, {"aws:sourceip": ["not an address"]})
@example("[" * 5000, "s3:GetObject", f"arn:aws:s3:::{BUCKET}", None, {})
def test_any_policy_parses_or_is_malformed_and_evaluates(text: str, action: str, resource: str,
                                                          caller: AuthContext | None,
                                                          keys: dict[str, list[str]]) -> None:
    try:
        policy = parse(text, BUCKET)
    except S3Error as error:
        assert error.code == "MalformedPolicy"
        return
    verdict = policy.evaluate(action, resource, caller, _lookup(keys))
    assert verdict in (None, Effect.ALLOW, Effect.DENY)
    assert isinstance(policy.public, bool)
