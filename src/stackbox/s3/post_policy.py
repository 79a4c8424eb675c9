"""The policy document of a browser-upload form (S3 POST object): its expiration, its conditions
(`eq` and `starts-with` on form fields, `content-length-range` on the file) and S3's errors for a
document that does not parse or a form it does not allow.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stackbox.s3.errors import S3Error

#: Form fields no condition needs to name: the credentials, the policy itself and the file.
EXEMPT_FIELDS = frozenset({"awsaccesskeyid", "signature", "x-amz-signature", "policy", "file"})
IGNORED_PREFIX = "x-ignore-"
_OPERATORS = ("eq", "starts-with")


@dataclass(frozen=True, slots=True)
class Condition:
    operator: str  #: eq or starts-with
    field: str  #: the form field's name, lower case
    value: str
    text: str  #: the condition as S3 quotes it in an error

    def holds(self, given: str | None) -> bool:
        if given is None:
            return self.operator == "starts-with" and self.value == ""
        return given == self.value if self.operator == "eq" else given.startswith(self.value)


@dataclass(frozen=True, slots=True)
class PostPolicy:
    expiration: float
    conditions: tuple[Condition, ...]
    #: content-length-range: the file's smallest and largest allowed size in bytes
    length_range: tuple[int, int] | None

    def check(self, fields: Mapping[str, str], now: float | None = None) -> None:
        """AccessDenied unless the form's fields (names in lower case, `bucket` and the final `key`
        included) satisfy every condition and every field is named by one."""
        if self.expiration < (time.time() if now is None else now):
            raise _denied("Policy expired.")
        for condition in self.conditions:
            if not condition.holds(fields.get(condition.field)):
                raise _denied(f"Policy Condition failed: {condition.text}")
        named = {condition.field for condition in self.conditions}
        for name in fields:
            if name not in named and name not in EXEMPT_FIELDS and not name.startswith(IGNORED_PREFIX):
                raise _denied(f"Extra input fields: {name}")


def _denied(reason: str) -> S3Error:
    return S3Error("AccessDenied", f"Invalid according to Policy: {reason}")


def _invalid(reason: str) -> S3Error:
    return S3Error("InvalidPolicyDocument", f"Invalid Policy: {reason}")


def parse_policy(encoded: str) -> PostPolicy:
    """The policy of a form's `policy` field (base64 JSON); InvalidPolicyDocument if it is not one."""
    try:
        document = json.loads(base64.b64decode(encoded.strip(), validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid("Invalid JSON.")
    if "expiration" not in document:
        raise _invalid("Policy missing expiration.")
    expiration = _expiration(document["expiration"])
    if "conditions" not in document:
        raise _invalid("Policy missing conditions.")
    raw_conditions = document["conditions"]
    if not isinstance(raw_conditions, list):
        raise _invalid("Invalid 'conditions' value: must be a List.")
    conditions: list[Condition] = []
    length_range: tuple[int, int] | None = None
    for raw in raw_conditions:
        if isinstance(raw, list) and raw and str(raw[0]).lower() == "content-length-range":
            length_range = _length_range(raw)
        else:
            conditions.append(_condition(raw))
    return PostPolicy(expiration, tuple(conditions), length_range)


def _expiration(value: Any) -> float:
    if isinstance(value, str) and value.endswith("Z") and "T" in value:
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    raise _invalid(f"Invalid 'expiration' value: '{value}'")


def _condition(raw: Any) -> Condition:
    if isinstance(raw, dict):
        if len(raw) != 1:
            raise _invalid("Invalid Simple-Condition: Simple-Conditions must have exactly one property "
                           "specified.")
        ((name, value),) = raw.items()
        return _named_condition("eq", f"${name}", value)
    if not isinstance(raw, list) or len(raw) != 3:
        raise _invalid(f"Invalid Condition: {json.dumps(raw)}")
    operator, name, value = raw
    if not isinstance(operator, str) or operator.lower() not in _OPERATORS:
        raise _invalid(f"Invalid Condition: unknown operation '{operator}'")
    return _named_condition(operator.lower(), name, value)


def _named_condition(operator: str, name: Any, value: Any) -> Condition:
    if not isinstance(name, str) or not name.startswith("$") or len(name) < 2:
        raise _invalid(f"Invalid Condition: field name '{name}' must start with '$'")
    if not isinstance(value, str):
        raise _invalid(f"Invalid Condition: the value of '{name}' must be a String")
    return Condition(operator, name[1:].lower(), value, json.dumps([operator, name, value]))


def _length_range(raw: list[Any]) -> tuple[int, int]:
    if len(raw) != 3:
        raise _invalid("Invalid content-length-range: Policy content-length-range must have exactly 2 "
                       "arguments.")
    bounds = [_length_bound(value) for value in raw[1:]]
    if bounds[0] > bounds[1]:
        raise _invalid("Invalid content-length-range: the minimum is above the maximum.")
    return bounds[0], bounds[1]


def _length_bound(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(f"Invalid content-length-range: '{value}' is not a non-negative integer.")
    return value
