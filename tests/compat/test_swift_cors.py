"""Swift CORS against the reference Swift 2.38 (default proxy settings: strict_cors_mode, no operator
origins): preflights (OPTIONS) and the CORS headers of actual answers, from a container's
X-Container-Meta-Access-Control-* metadata. Swift builds its method and header lists from Python sets,
so list-valued headers are compared as sets."""

from __future__ import annotations

import pytest
import requests

from compat.conftest import Compare
from compat.harness import Exchange, Side, scenario_params

#: The headers a CORS answer is about; comma-separated lists among them compare as sets.
CORS_HEADERS = ("allow", "access-control-allow-origin", "access-control-allow-methods",
                "access-control-allow-headers", "access-control-expose-headers", "access-control-max-age",
                "vary", "content-type")
LISTS = {"allow", "access-control-allow-methods", "access-control-allow-headers",
         "access-control-expose-headers", "vary"}
A, B, EVIL = "http://a.example", "https://b.example", "http://evil.example"


def cors_record(side: Side, method: str, path: str, headers: dict[str, str] | None = None,
                token: bool = True, data: bytes = b"") -> requests.Response:
    """Send one request and record its status, CORS headers and body (not the other headers)."""
    sent = {"X-Auth-Token": side.token} if token else {}
    sent.update(headers or {})
    answer = requests.request(method, f"{side.base_url}/v1/{side.account}{path}", headers=sent, data=data,
                              timeout=30)
    kept: dict[str, str] = {}
    for name in CORS_HEADERS:
        value = answer.headers.get(name)
        if value is not None:
            kept[name] = ", ".join(sorted(part.strip().lower() for part in value.split(","))) \
                if name in LISTS else value
    kept["www-authenticate"] = "<present>" if "www-authenticate" in answer.headers else "<absent>"
    body = side.normalizer.body(answer.content, answer.headers.get("Content-Type", ""))
    label = side.normalizer.text(f"{method} {path} {headers or {}}{'' if token else ' anonymous'}")
    side.exchanges.append(Exchange(label, answer.status_code, kept, body))
    return answer


def _container(side: Side, c: str, origin: str = f"{A} {B}") -> None:
    side.swift("PUT", f"/{c}", headers={"X-Container-Meta-Access-Control-Allow-Origin": origin,
                                        "X-Container-Meta-Access-Control-Max-Age": "600",
                                        "X-Container-Meta-Access-Control-Expose-Headers": "X-Foo x-bar"})
    side.swift("PUT", f"/{c}/obj", data=b"hello", headers={"X-Object-Meta-Color": "red",
                                                          "Content-Type": "text/plain"})


def preflights(side: Side, c: str) -> None:
    _container(side, c)
    for path in (f"/{c}/obj", f"/{c}"):
        cors_record(side, "OPTIONS", path, {"Origin": A, "Access-Control-Request-Method": "GET",
                                            "Access-Control-Request-Headers": "x-auth-token, Content-Type"},
                    token=False)
        cors_record(side, "OPTIONS", path, {"Origin": B, "Access-Control-Request-Method": "PUT"}, token=False)
        cors_record(side, "OPTIONS", path, {"Origin": EVIL, "Access-Control-Request-Method": "GET"},
                    token=False)
        cors_record(side, "OPTIONS", path, {"Origin": A}, token=False)
        cors_record(side, "OPTIONS", path, {"Origin": A, "Access-Control-Request-Method": "COPY"},
                    token=False)
        cors_record(side, "OPTIONS", path, token=False)
    cors_record(side, "OPTIONS", "", {"Origin": A, "Access-Control-Request-Method": "GET"}, token=False)
    cors_record(side, "OPTIONS", f"/{c}-missing/obj", {"Origin": A, "Access-Control-Request-Method": "GET"},
                token=False)


def actual_answers(side: Side, c: str) -> None:
    _container(side, c)
    cors_record(side, "GET", f"/{c}/obj", {"Origin": A})
    cors_record(side, "HEAD", f"/{c}/obj", {"Origin": B})
    cors_record(side, "GET", f"/{c}/obj", {"Origin": EVIL})
    cors_record(side, "HEAD", f"/{c}", {"Origin": A})
    cors_record(side, "GET", f"/{c}/missing", {"Origin": A})
    cors_record(side, "PUT", f"/{c}/new", {"Origin": A}, data=b"x")
    cors_record(side, "POST", f"/{c}/new", {"Origin": A, "X-Object-Meta-Shade": "blue"})
    cors_record(side, "DELETE", f"/{c}/new", {"Origin": A})
    cors_record(side, "GET", f"/{c}/obj", {"Origin": A}, token=False)
    cors_record(side, "GET", f"/{c}-missing/obj", {"Origin": A})
    cors_record(side, "HEAD", "", {"Origin": A})


def any_origin(side: Side, c: str) -> None:
    _container(side, c, origin="*")
    cors_record(side, "GET", f"/{c}/obj", {"Origin": EVIL})
    cors_record(side, "OPTIONS", f"/{c}/obj", {"Origin": EVIL, "Access-Control-Request-Method": "DELETE"},
                token=False)
    side.swift("POST", f"/{c}", headers={"X-Remove-Container-Meta-Access-Control-Allow-Origin": "x"})
    cors_record(side, "GET", f"/{c}/obj", {"Origin": EVIL})
    cors_record(side, "OPTIONS", f"/{c}/obj", {"Origin": EVIL, "Access-Control-Request-Method": "GET"},
                token=False)


SCENARIOS = [preflights, actual_answers, any_origin]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS, {}))
def test_swift_cors(compare: Compare, scenario) -> None:  # type: ignore[no-untyped-def]
    compare(scenario)
