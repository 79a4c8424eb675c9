"""Bulk operations: `?bulk-delete` (POST a newline-separated list of paths) and `?extract-archive=`
(PUT a tar, tar.gz or tar.bz2 whose files become objects). Both answer 200 with a report, as Swift's
bulk middleware does, in JSON when the client accepts it and as text otherwise.

As in Swift, the 200 is sent at once and the work runs while the answer is open: a space goes out
every `YIELD_FREQUENCY` seconds so that clients and proxies do not time out, then the report. The
work yields to the event loop after every bounded step (a batch of deletes, one archive member), and
the archive is read as it arrives, in a worker thread, never spooled whole.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tarfile
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, Any, Literal, cast
from urllib.parse import quote
from xml.sax.saxutils import escape

from stackbox.http import ClientDisconnected, Response, StreamingResponse, clean_unquote
from stackbox.identity import access_rules
from stackbox.storage.types import (
    ContainerNotEmpty,
    EntityTooLarge,
    NoSuchContainer,
    ObjectAttrs,
    QuotaExceeded,
    StorageError,
    WriteChecks,
)
from stackbox.swift.context import Call
from stackbox.swift.errors import REASONS, SwiftError, html_error
from stackbox.swift.headers import MAX_CONTAINER_NAME_LENGTH, MAX_FILE_SIZE, MAX_OBJECT_NAME_LENGTH
from stackbox.swift.object_meta import content_type

log = logging.getLogger("stackbox.swift")

MAX_DELETES_PER_REQUEST = 10_000
MAX_FAILED_DELETES = 1000
MAX_CONTAINERS_PER_EXTRACTION = 10_000
MAX_FAILED_EXTRACTIONS = 1000
MAX_PATH_LENGTH = MAX_CONTAINER_NAME_LENGTH + MAX_OBJECT_NAME_LENGTH + 2
#: Seconds between the spaces that keep a long bulk answer alive (Swift's `yield_frequency`).
YIELD_FREQUENCY = 10.0
#: Deletes committed together (one group commit) between two returns to the event loop.
DELETE_BATCH = 16
#: Stream modes: the archive is read once, front to back, as it arrives.
ARCHIVE_MODES: dict[str, Literal["r|", "r|gz", "r|bz2"]] = {"tar": "r|", "tar.gz": "r|gz", "tar.bz2": "r|bz2"}
_READ_CHUNK = 1 << 20
_TOO_LARGE = "413 Request Entity Too Large"
_UNAUTHORIZED = "401 Unauthorized"
_NOT_UTF8 = "412 Precondition Failed"


@dataclass
class Outcome:
    """What a bulk request did so far; `status`/`body` are set when it failed as a whole."""

    counts: dict[str, int]
    ok_status: str
    errors: list[list[str]] = field(default_factory=list)
    status: str = ""
    body: str = ""

    def fail(self, status: int, body: str = "") -> None:
        self.status, self.body = status_line(status), body

    def report(self) -> dict[str, Any]:
        status = self.status or ("400 Bad Request" if self.errors else self.ok_status)
        return {"Response Status": status, "Response Body": self.body, **self.counts}


def status_line(status: int) -> str:
    return f"{status} {REASONS.get(status, ('Error', ''))[0]}"


def bulk_report(call: Call, fields: dict[str, Any], errors: list[list[str]], ok_status: str,
                failure: str = "") -> Response:
    """Swift's bulk report in the format the client accepts (JSON, XML, else text); `failure` is
    the Response Body of a request that failed as a whole."""
    outcome = Outcome(fields, ok_status, errors)
    if failure:
        outcome.fail(400, failure)
    return Response(_report_body(call, outcome), 200, content_type=_report_type(call))


def _report_type(call: Call) -> str:
    accept = call.headers.get("accept", "")
    if "application/json" in accept:
        return "application/json"
    return next((media for media in ("application/xml", "text/xml") if media in accept), "text/plain")


def _report_body(call: Call, outcome: Outcome) -> bytes:
    report, errors = outcome.report(), outcome.errors
    media_type = _report_type(call)
    if media_type == "application/json":
        return json.dumps({**report, "Errors": errors}).encode()
    if media_type.endswith("/xml"):
        return _xml_report("delete" if "Number Deleted" in report else "extract", report, errors)
    lines = [f"{name}: {report[name]}\n" for name in sorted(report)]
    lines += ["Errors:\n", *(f"{path}, {problem}\n" for path, problem in errors)]
    return "".join(lines).encode()


def _xml_report(root: str, report: dict[str, Any], errors: list[list[str]]) -> bytes:
    lines = [f"<{root}>"]
    for name in sorted(report):
        tag = name.replace(" ", "_").lower()
        lines.append(f"<{tag}>{escape(str(report[name]))}</{tag}>")
    lines.append("<errors>")
    lines += [f"<object><name>{escape(path)}</name><status>{escape(problem)}</status></object>"
              for path, problem in errors]
    lines += ["</errors>", f"</{root}>", ""]
    return "\n".join(lines).encode()


Work = Callable[[], Awaitable[None]]


def streamed_report(call: Call, outcome: Outcome, work: Work) -> StreamingResponse:
    """200 at once; `work()` fills `outcome` while spaces keep the answer alive; then the report."""
    return StreamingResponse(_keep_alive_then_report(call, outcome, work), 200,
                             content_type=_report_type(call))


async def _keep_alive_then_report(call: Call, outcome: Outcome, work: Work) -> AsyncIterator[bytes]:
    task = asyncio.ensure_future(_run(outcome, work))
    separator = b""
    try:
        while not (await asyncio.wait({task}, timeout=YIELD_FREQUENCY))[0]:
            separator = b"\r\n\r\n"
            yield b" "
        await task
        yield separator + _report_body(call, outcome)
    finally:
        task.cancel()  # the client went away: stop working for it


async def _run(outcome: Outcome, work: Work) -> None:
    try:
        await work()
    except SwiftError as error:
        outcome.fail(error.status, error.detail or "")
    except ClientDisconnected:
        outcome.fail(499)
    except Exception:  # the answer has started: every failure goes into the report
        log.exception("bulk request failed")
        outcome.fail(500)


# ---------------------------------------------------------------------------------------------- delete


async def bulk_delete(call: Call) -> Response:
    outcome = _deletion_outcome()
    return streamed_report(call, outcome, lambda: _delete_listed(call, outcome))


def deletion_report(call: Call, paths: list[str]) -> Response:
    """Delete `/container/object` and `/container` paths of the caller's account, objects first."""
    outcome = _deletion_outcome()
    return streamed_report(call, outcome, lambda: _delete_paths(call, paths, outcome, by_rules=False))


def _deletion_outcome() -> Outcome:
    return Outcome({"Number Deleted": 0, "Number Not Found": 0}, "200 OK")


async def _delete_listed(call: Call, outcome: Outcome) -> None:
    lines = await _lines_to_delete(call.request.stream())
    paths = []
    for line in lines:
        path = clean_unquote(line)
        if path is None:  # not UTF-8, or NUL: it would name another object (U+FFFD) or none
            outcome.errors.append([line, _NOT_UTF8])
        else:
            paths.append(path if path.startswith("/") or not call.container else f"/{call.container}/{path}")
    await _delete_paths(call, paths, outcome, by_rules=True)


async def _lines_to_delete(body: AsyncIterator[bytes]) -> list[str]:
    """The body's URL-encoded paths, one a line (as Latin-1, still encoded); refused as soon as
    there are too many of them."""
    lines: list[str] = []
    pending = b""
    async for chunk in body:
        *complete, pending = (pending + chunk).split(b"\n")
        lines += [line.strip().decode("latin-1") for line in complete if line.strip()]
        if len(lines) > MAX_DELETES_PER_REQUEST:
            raise SwiftError(413, f"Maximum Bulk Deletes: {MAX_DELETES_PER_REQUEST} per request")
        if len(pending) > MAX_PATH_LENGTH * 2:
            raise SwiftError(400, "Invalid File Name")
    if pending.strip():
        lines.append(pending.strip().decode("latin-1"))
    if len(lines) > MAX_DELETES_PER_REQUEST:
        raise SwiftError(413, f"Maximum Bulk Deletes: {MAX_DELETES_PER_REQUEST} per request")
    return lines


async def _delete_paths(call: Call, paths: list[str], outcome: Outcome, *, by_rules: bool) -> None:
    """Objects first, then containers: a container is deleted only once every listed object in it
    is (batches run their deletes concurrently). `by_rules`: each delete meets the access rules (a
    bulk delete's do; an SLO's segment deletes, below authtoken in Swift, do not)."""
    objects = [path for path in paths if not _is_container_path(path)]
    containers = [path for path in paths if _is_container_path(path)]
    for group in (objects, containers):
        await _delete_group(call, group, outcome, by_rules)


async def _delete_group(call: Call, paths: list[str], outcome: Outcome, by_rules: bool) -> None:
    for start in range(0, len(paths), DELETE_BATCH):
        batch = paths[start:start + DELETE_BATCH]
        results = await asyncio.gather(*(_delete_path(call, path, by_rules) for path in batch))
        for path, result in zip(batch, results, strict=True):
            if len(outcome.errors) >= MAX_FAILED_DELETES:
                raise SwiftError(400, "Max delete failures exceeded")
            if result is True:
                outcome.counts["Number Deleted"] += 1
            elif result is False:
                outcome.counts["Number Not Found"] += 1
            else:
                outcome.errors.append([path, result])


def _is_container_path(path: str) -> bool:
    return not path.lstrip("/").partition("/")[2]


async def _delete_path(call: Call, path: str, by_rules: bool) -> bool | str:
    """True if deleted, False if absent, else the failure's status line."""
    container, _, key = path.lstrip("/").partition("/")
    if not container:
        return "400 Bad Request"
    if by_rules and not permitted(call, "DELETE", f"/{container}/{key}" if key else f"/{container}"):
        return _UNAUTHORIZED
    try:
        if key:
            return await call.storage.remove_object(call.account, container, key)
        await call.storage.delete_container(call.account, container)
        return True
    except NoSuchContainer:
        return False
    except ContainerNotEmpty:
        return "409 Conflict"
    except StorageError:
        return "400 Bad Request"


def permitted(call: Call, method: str, path: str) -> bool:
    """Whether the caller's access rules allow a sub-request (`path` below the account): Swift's bulk
    middleware runs before authtoken, so each of its sub-requests meets them."""
    return call.auth is None or access_rules.permits(call.auth, "object-store", method,
                                                     f"/v1/{call.account}{path}")


# ---------------------------------------------------------------------------------------------- extract


async def extract_archive(call: Call) -> Response:
    mode = ARCHIVE_MODES.get(call.query.get("extract-archive", ""))
    if mode is None:
        raise html_error(400, "Unsupported archive format")
    outcome = Outcome({"Number Files Created": 0}, "201 Created")
    return streamed_report(call, outcome, lambda: _extract(call, mode, outcome))


async def _extract(call: Call, mode: Literal["r|", "r|gz", "r|bz2"], outcome: Outcome) -> None:
    body = _BodyFile(call.request.stream(), asyncio.get_running_loop())
    try:
        archive = await asyncio.to_thread(_open_stream, body, mode)
        try:
            await _extract_members(call, archive, outcome)
        finally:
            archive.close()
    except (tarfile.TarError, EOFError, zlib.error) as error:
        outcome.fail(400, f"Invalid Tar File: {error}")
        return
    if not outcome.counts["Number Files Created"] and not outcome.errors:
        outcome.fail(400, "Invalid Tar File: No Valid Files")


def _open_stream(body: _BodyFile, mode: Literal["r|", "r|gz", "r|bz2"]) -> tarfile.TarFile:
    return tarfile.open(fileobj=cast(IO[bytes], body), mode=mode)


async def _extract_members(call: Call, archive: tarfile.TarFile, outcome: Outcome) -> None:
    created_containers = 0
    known: set[str] = set()
    while (member := await asyncio.to_thread(archive.next)) is not None:
        if len(outcome.errors) >= MAX_FAILED_EXTRACTIONS:
            return
        target = _target(call, member.name) if member.isfile() else None
        if target is None:
            continue
        container, key = target
        problem = _name_problem(container, key) or await _rules_problem(call, container, key, known)
        if problem is None and container not in known:
            created_containers += await call.storage.create_container(call.account, container)
            if created_containers > MAX_CONTAINERS_PER_EXTRACTION:
                raise SwiftError(400, f"More than {MAX_CONTAINERS_PER_EXTRACTION} containers to create "
                                      "from tar.")
            known.add(container)
        if problem is None:
            problem = await _store_member(call, archive, member, container, key)
        if problem is None:
            outcome.counts["Number Files Created"] += 1
        else:
            outcome.errors.append([_shown_path(container, key), problem])


def _name_problem(container: str, key: str) -> str | None:
    """Swift's refusal of a member's names (tarfile decodes bytes that are not UTF-8 to surrogates)."""
    if not (_is_utf8(container) and _is_utf8(key)):
        return _NOT_UTF8
    if len(key.encode()) > MAX_OBJECT_NAME_LENGTH or len(container) > MAX_CONTAINER_NAME_LENGTH:
        return "400 Bad Request"
    return None


async def _rules_problem(call: Call, container: str, key: str, known: set[str]) -> str | None:
    """The access rules must allow the object's PUT, and the container's when it is to be created."""
    if not permitted(call, "PUT", f"/{container}/{key}"):
        return _UNAUTHORIZED
    if container in known or permitted(call, "PUT", f"/{container}"):
        return None
    try:
        await call.storage.get_container(call.account, container)
    except NoSuchContainer:
        return _UNAUTHORIZED
    return None


def _is_utf8(name: str) -> bool:
    return "\x00" not in name and not any("\ud800" <= char <= "\udfff" for char in name)


def _shown_path(container: str, key: str) -> str:
    path = f"/{container}/{key}"
    return path if _is_utf8(path) else quote(path.encode("utf-8", "surrogateescape"))


def _target(call: Call, member_name: str) -> tuple[str, str] | None:
    """(container, object) for an archive path, relative to the request's container/prefix."""
    name = member_name.lstrip("./").lstrip("/")
    if call.container:
        prefix = f"{call.obj}/" if call.obj and not call.obj.endswith("/") else call.obj
        return (call.container, prefix + name) if name else None
    container, _, key = name.partition("/")
    return (container, key) if container and key else None


async def _store_member(call: Call, archive: tarfile.TarFile, member: tarfile.TarInfo,
                        container: str, key: str) -> str | None:
    """Store one file of the archive; the failure's status line, if any. Its declared size is
    checked before any of it is read, and the store stops it at that size and at the limit."""
    if member.size > MAX_FILE_SIZE:
        return _TOO_LARGE
    data = archive.extractfile(member)
    if data is None:
        return None
    attrs = ObjectAttrs(content_type=content_type({}, key))
    checks = WriteChecks(length=member.size, max_length=MAX_FILE_SIZE)
    try:
        await call.storage.put_object(call.account, container, key, _chunks(data, member.size),
                                      attrs=attrs, checks=checks)
    except (EntityTooLarge, QuotaExceeded):
        return _TOO_LARGE
    except StorageError:
        return "400 Bad Request"
    return None


async def _chunks(data: IO[bytes], size: int) -> AsyncIterator[bytes]:
    """The member's `size` bytes, each read in a worker thread (it decompresses and waits for the body)."""
    while size > 0 and (chunk := await asyncio.to_thread(data.read, min(size, _READ_CHUNK))):
        size -= len(chunk)
        yield chunk


class _BodyFile:
    """The request body as a blocking file for tarfile, read in a worker thread: each read waits on
    the event loop for the next chunk of the body. The archive is capped at the object size limit."""

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._chunks = chunks
        self._loop = loop
        self._pending = b""
        self._received = 0

    def read(self, size: int = -1) -> bytes:
        if not self._pending:
            self._pending = asyncio.run_coroutine_threadsafe(self._next_chunk(), self._loop).result()
        cut = len(self._pending) if size < 0 else size
        data, self._pending = self._pending[:cut], self._pending[cut:]
        return data

    async def _next_chunk(self) -> bytes:
        chunk = await anext(self._chunks, b"")
        self._received += len(chunk)
        if self._received > MAX_FILE_SIZE:
            raise SwiftError(413, "Your request is too large.")
        return chunk
