"""Swift findings of issue 7 about bounded work (9, 11, 13, 14), sent as an attacker would.

Each request is cheap to send and used to cost the server far more than it costs the client:
a FormPost parsed before its signature, a Range of thousands of overlapping ranges, bulk requests
that froze a worker, an archive that expanded past the object size limit.
"""

from __future__ import annotations

import swiftclient

from swift.helpers import Swift


def test_egregious_range_sets_are_refused_as_swift_refuses_them(admin_swift: Swift,
                                                                 conn: swiftclient.Connection,
                                                                 container: str) -> None:
    data = bytes(range(256)) * 4
    conn.put_object(container, "r", data)

    def get(ranges: list[str]) -> tuple[int, int]:
        answer = admin_swift("GET", f"/{container}/r", headers={"Range": "bytes=" + ",".join(ranges)})
        return answer.status_code, len(answer.content)

    refused = admin_swift("GET", f"/{container}/r", headers={"Range": "bytes=" + ",".join(["0-"] * 1000)})
    assert (refused.status_code, refused.headers["Content-Range"]) == (416, "bytes */1024")
    assert len(refused.content) < 200
    # Swift's limits (swob): 50 ranges, 2 overlapping pairs, 8 ranges out of order.
    assert get([f"{i}-{i}" for i in range(50)])[0] == 206
    assert get([f"{i}-{i}" for i in range(51)])[0] == 416
    assert get(["0-9", "5-14", "10-19"])[0] == 206
    assert get(["0-9", "5-14", "10-19", "15-24"])[0] == 416
    assert get([f"{i}-{i}" for i in range(7, 0, -1)])[0] == 206
    assert get([f"{i}-{i}" for i in range(8, 0, -1)])[0] == 416
