"""S3 server-side encryption headers where the reference's s3api judges them (it has no encryption
middleware configured, so it answers valid SSE requests NotImplemented: AWS's documentation and the
boto3/awscli tests in tests/s3/test_sse.py are the reference for those)."""

from __future__ import annotations

import pytest

from compat.conftest import Compare
from compat.harness import Side, scenario_params


def unsupported_method(side: Side, b: str) -> None:
    side.s3("PUT", f"/{b}")
    side.s3("PUT", f"/{b}/k", data=b"data", headers={"x-amz-server-side-encryption": "AES128"})
    side.s3("PUT", f"/{b}/k", data=b"data", headers={"x-amz-server-side-encryption": "aws:kms:dsse"})
    side.s3("GET", f"/{b}/k")
    side.s3("DELETE", f"/{b}")


SCENARIOS = [unsupported_method]
KNOWN_DIFFERENCES = {
    "unsupported_method": "same status, code, message and argument fields; s3api orders the error's "
                          "elements otherwise, leaves out Resource and HostId, and labels empty answers "
                          "text/html (AWS does neither)",
}


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS, KNOWN_DIFFERENCES))
def test_s3_sse(compare: Compare, scenario) -> None:  # type: ignore[no-untyped-def]
    compare(scenario)
