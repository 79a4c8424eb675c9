"""Blobs in a Ceph RADOS pool (librados through Debian's python3-rados).

A blob is striped over RADOS objects of `stripe_size` bytes (4 MiB: RADOS objects should stay
small, they are the unit of placement, recovery and scrubbing): `<blob_id>.00000000` (the head),
`<blob_id>.00000001`, ... Stripes after the head are written while the body still arrives, up to
`write_window` of them in flight at once (aio), so the network and the OSDs overlap with receiving.
The head is written last, in one atomic operation together with the blob's size (an xattr): a
blob is committed exactly when its head exists. Writers that died before that leave stripes
without a head, which `collect_unfinished` removes; `abort` removes them at once.

The stripe size is the pool's (the `stackbox.blob-layout` object, written by the first client):
every node reads blobs the same way, whatever it is configured with.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import json
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from stackbox.storage.blob_backend import READ_CHUNK
from stackbox.storage.types import DataUnavailable, InsufficientStorage

try:
    import rados  # Debian's python3-rados (`make test` links it into the virtual environment)
except ImportError:
    rados = None

log = logging.getLogger(__name__)

STRIPE_SIZE = 4 << 20
#: Stripes a writer keeps in flight (bounding its memory to ~window + 2 stripes). Stripes are
#: placed by name, so on a real cluster they land on different OSDs and a window of 4 writes to
#: up to 4 at once; on the one-OSD test cluster (bench/rados_blobs.py) writes are bound by that
#: OSD's CPU and windows of 1 to 8 measure the same within noise.
WRITE_WINDOW = 4
#: Chunk reads kept in flight ahead of the one being consumed.
READ_AHEAD = 4
#: Deletes of stripes in flight at once.
DELETE_WINDOW = 16
LAYOUT_OBJECT = "stackbox.blob-layout"
SIZE_XATTR = "stackbox.size"
#: Seconds a RADOS operation may take before it fails (librados waits forever by default: a
#: request must not hang on a stalled OSD); a read or write that times out raises ETIMEDOUT.
OP_TIMEOUT = 30.0
#: Free space figures are cluster-wide and eventually consistent: refreshed at most this often.
STATS_TTL = 2.0
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


def stripe_name(blob_id: str, index: int) -> str:
    return f"{blob_id}.{index:08x}"


def parse_stripe_name(name: str) -> tuple[str, int] | None:
    blob_id, dot, index = name.rpartition(".")
    if not dot or not blob_id or len(index) != 8:
        return None
    try:
        return blob_id, int(index, 16)
    except ValueError:
        return None


def _new_cluster_handle(conffile: str | None, client_id: str | None, op_timeout: float) -> Any:
    """A connected librados handle, made on a thread of its own.

    librados draws the nonce that tells its client instances apart from a per-thread random engine
    seeded on first use. A worker forked from a process that had used librados on the same thread
    inherits that engine's state, so every such worker would draw the same nonce: the OSDs then take
    them for one client, and each one's connection drops the other's, over and over (half a core
    burnt while idle, writes at a fraction of their speed). A new thread's engine is seeded anew."""
    timeout = f"{op_timeout:g}"

    def connect() -> Any:
        cluster = rados.Rados(conffile=conffile or "", rados_id=client_id,
                              conf={"rados_osd_op_timeout": timeout, "rados_mon_op_timeout": timeout,
                                    "client_mount_timeout": timeout})
        cluster.connect(timeout=max(1, math.ceil(op_timeout)))
        return cluster

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rados-connect") as pool:
        return pool.submit(connect).result()


def _failure(code: int, what: str) -> Exception:
    """The exception for a failed RADOS operation's (negative) return value."""
    if -code in _NO_ROOM:
        return InsufficientStorage(f"RADOS has no room for {what}")
    return OSError(-code, f"RADOS {what}: {errno.errorcode.get(-code, -code)}")


@contextlib.contextmanager
def _as_oserror() -> Iterator[None]:
    """librados's own exceptions as the built-in OSError family (PermissionError, TimeoutError, ...),
    which is what failed asynchronous operations raise too."""
    try:
        yield
    except rados.Error as failure:
        code = getattr(failure, "errno", None)
        raise _failure(-abs(code) if code else -errno.EIO, str(failure)) from failure


class _Window:
    """Asynchronous operations in flight, oldest first; at most `size` of them."""

    __slots__ = ("_pending", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._pending: deque[tuple[Any, str]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, completion: Any, what: str) -> None:
        self._pending.append((completion, what))

    def drain(self, keep: int = 0, missing_ok: bool = False) -> None:
        """Wait until at most `keep` operations are in flight; raises the first failure (but not
        ENOENT's, with `missing_ok`)."""
        while len(self._pending) > keep:
            try:
                self._wait_oldest()
            except FileNotFoundError:
                if not missing_ok:
                    raise

    def settle(self) -> None:
        """Wait for every operation, ignoring their outcome (the writer is being abandoned)."""
        while self._pending:
            completion, _ = self._pending.popleft()
            completion.wait_for_complete()

    def _wait_oldest(self) -> None:
        completion, what = self._pending.popleft()
        completion.wait_for_complete()
        code = completion.get_return_value()
        if code < 0:
            raise _failure(code, what)


def _immutable(piece: bytes | memoryview) -> memoryview:
    """A byte view of `piece` that may be kept until its stripe is sent: views of immutable bytes
    are kept as they are, anything else (a caller's reusable buffer) is copied."""
    view = memoryview(piece)
    if not isinstance(view.obj, bytes) or not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B") if view.format != "B" else view


class RadosBlobWriter:
    """Fills stripes in memory and sends each full one asynchronously; the head waits for `commit`."""

    def __init__(self, backend: RadosBlobs, blob_id: str) -> None:
        self._backend = backend
        self._ioctx = backend.ioctx
        self._stripe = backend.stripe_size
        self._blob_id = blob_id
        self._size = 0
        self._pending: list[bytes | memoryview] = []  # the stripe being filled, joined when full
        self._pending_bytes = 0
        self._head: bytes | None = None
        self._stripes_sent = 0  # stripes after the head sent so far
        self._window = _Window(backend.write_window)
        self._state = "open"

    @property
    def blob_id(self) -> str:
        return self._blob_id

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | memoryview) -> None:
        self.write_all((data,))

    def write_all(self, pieces: Sequence[bytes | memoryview]) -> None:
        if self._state != "open":
            raise ValueError(f"write to a {self._state} blob")
        for piece in pieces:
            view = _immutable(piece)
            self._size += len(view)
            while view:
                room = self._stripe - self._pending_bytes
                self._pending.append(view[:room])
                self._pending_bytes += min(room, len(view))
                view = view[room:]
                if self._pending_bytes == self._stripe:
                    self._send_stripe()

    def flush(self) -> None:
        """Nothing to do: a stripe is durable once its write completes (the window waits for that)."""

    def _send_stripe(self) -> None:
        data = b"".join(self._pending)  # the only copy on our side (librados makes its own)
        self._pending, self._pending_bytes = [], 0
        if self._head is None:
            self._head = data
            return
        self._window.drain(keep=self._window.size - 1)  # room for this one
        self._stripes_sent += 1
        name = stripe_name(self._blob_id, self._stripes_sent)
        self._window.add(self._ioctx.aio_write_full(name, data), f"write of {name}")

    def commit(self) -> None:
        if self._state != "open":
            raise ValueError(f"commit of a {self._state} blob")
        self._state = "committing"
        if self._head is None or self._pending_bytes:
            self._send_stripe()  # the partial last stripe (or the only one)
        self._window.drain()
        head = self._head if self._head is not None else b""
        self._backend.write_head(self._blob_id, head, self._size)
        self._head = None
        self._state = "committed"

    def abort(self) -> None:
        if self._state in ("committed", "aborted"):
            return
        committing = self._state == "committing"
        self._state = "aborted"
        self._pending, self._pending_bytes = [], 0
        self._head = None
        try:
            # A remove must not overtake a write of the same stripe still in flight.
            self._window.settle()
            # The head is only ever written by `commit` (one that failed may have stored it).
            first = 0 if committing else 1
            names = [stripe_name(self._blob_id, index) for index in range(first, self._stripes_sent + 1)]
            if names:
                self._backend.remove_objects(names)
        except Exception:  # the cluster is unreachable: `collect_unfinished` removes them later
            log.warning("could not remove the stripes of aborted blob %s", self._blob_id, exc_info=True)


@dataclass(frozen=True)
class RadosTarget:
    """Where blobs go, as `--blobs rados://POOL?conf=PATH&id=USER&namespace=NS` says."""

    pool: str
    conffile: str | None = None
    client_id: str | None = None
    namespace: str = ""

    @classmethod
    def parse(cls, url: str) -> RadosTarget:
        parts = urlsplit(url)
        if parts.scheme != "rados" or not parts.netloc or parts.path not in ("", "/") or parts.fragment:
            raise ValueError(f"not a rados://POOL?conf=PATH&id=USER URL: {url!r}")
        try:
            query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        except ValueError:
            raise ValueError(f"malformed query in {url!r}") from None
        unknown = set(query) - {"conf", "id", "namespace"}
        repeated = [name for name, values in query.items() if len(values) > 1]
        if unknown or repeated:
            raise ValueError(f"unknown or repeated parameters {sorted(unknown | set(repeated))} in {url!r}")
        value = {name: values[0] for name, values in query.items()}
        return cls(unquote(parts.netloc), value.get("conf") or None, value.get("id") or None,
                   value.get("namespace", ""))


class RadosBlobs:
    """A `BlobBackend` on one RADOS pool (and namespace). Connect in each process after forking:
    a librados handle does not survive `fork`."""

    remote = True

    def __init__(self, cluster: Any, ioctx: Any, *, stripe_size: int = STRIPE_SIZE,
                 write_window: int = WRITE_WINDOW, read_ahead: int = READ_AHEAD,
                 reserve_bytes: int = 0) -> None:
        self.cluster = cluster
        self.ioctx = ioctx
        self.write_window = max(1, write_window)
        self.read_ahead = max(1, read_ahead)
        self.reserve_bytes = reserve_bytes
        self.stripe_size = self._pool_stripe_size(stripe_size)
        self._stats_lock = threading.Lock()
        self._avail: tuple[float, int] = (0.0, 0)

    @classmethod
    def connect(cls, pool: str, conffile: str | None = None, client_id: str | None = None,
                namespace: str = "", op_timeout: float = OP_TIMEOUT, **options: Any) -> RadosBlobs:
        """Connect to `pool`; every operation (connecting included) fails with ETIMEDOUT after
        `op_timeout` seconds instead of waiting for an unreachable OSD or monitor forever. Failures
        are OSErrors (PermissionError when cephx refuses, FileNotFoundError for a missing pool)."""
        if rados is None:
            raise RuntimeError("the rados module (Debian's python3-rados) is not importable")
        with _as_oserror():
            cluster = _new_cluster_handle(conffile, client_id, op_timeout)
            try:
                ioctx = cluster.open_ioctx(pool)
                ioctx.set_namespace(namespace)
                return cls(cluster, ioctx, **options)
            except BaseException:
                cluster.shutdown()
                raise

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RadosBlobs:
        target = RadosTarget.parse(url)
        return cls.connect(target.pool, target.conffile, target.client_id, target.namespace, **options)

    def close(self) -> None:
        self.ioctx.close()
        self.cluster.shutdown()

    def _pool_stripe_size(self, wanted: int) -> int:
        """The stripe size recorded in the pool; the first client records `wanted`."""
        try:
            return int(json.loads(self.ioctx.read(LAYOUT_OBJECT, 4096, 0))["stripe_size"])
        except rados.ObjectNotFound:
            pass
        if wanted <= 0:
            raise ValueError("the stripe size must be positive")
        op = self.ioctx.create_write_op()
        try:
            op.new(rados.LIBRADOS_CREATE_EXCLUSIVE)
            op.write_full(json.dumps({"stripe_size": wanted}).encode())
            self.ioctx.operate_write_op(op, LAYOUT_OBJECT)
            return wanted
        except rados.ObjectExists:  # another client was first
            return int(json.loads(self.ioctx.read(LAYOUT_OBJECT, 4096, 0))["stripe_size"])
        finally:
            self.ioctx.release_write_op(op)

    # -- writing --------------------------------------------------------------------------

    def open_writer(self) -> RadosBlobWriter:
        return RadosBlobWriter(self, uuid.uuid4().hex)

    def write_head(self, blob_id: str, data: bytes, size: int) -> None:
        """Store a blob's first stripe and its size in one atomic operation (the commit point)."""
        name = stripe_name(blob_id, 0)
        op = self.ioctx.create_write_op()
        try:
            op.write_full(data)
            op.set_xattr(SIZE_XATTR, str(size).encode())
            # The binding passes mtime 0 on as "the epoch" (not "now", as it documents): the head's
            # mtime is what recovery's age check reads (`written_at`).
            completion = self.ioctx.operate_aio_write_op(op, name, mtime=math.ceil(time.time()))
            completion.wait_for_complete()
            code = completion.get_return_value()
        finally:
            self.ioctx.release_write_op(op)
        if code < 0:
            raise _failure(code, f"write of {name}")

    def remove_objects(self, names: Sequence[str]) -> None:
        """Remove objects, many at once; those already gone are not an error."""
        window = _Window(DELETE_WINDOW)
        for name in names:
            window.drain(keep=window.size - 1, missing_ok=True)
            window.add(self.ioctx.aio_remove(name), f"remove of {name}")
        window.drain(missing_ok=True)

    # -- reading --------------------------------------------------------------------------

    def read(self, blob_id: str, offset: int, length: int, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        pieces = self._pieces(blob_id, offset, length, chunk_size)
        return self._stream(blob_id, pieces)

    def _pieces(self, blob_id: str, offset: int, length: int,
                chunk_size: int) -> Iterator[tuple[str, int, int]]:
        """(object, offset in it, length) of each chunk read, none crossing a stripe's end."""
        end = offset + length
        while offset < end:
            index, within = divmod(offset, self.stripe_size)
            size = min(chunk_size, end - offset, self.stripe_size - within)
            yield stripe_name(blob_id, index), within, size
            offset += size

    def _stream(self, blob_id: str, pieces: Iterator[tuple[str, int, int]]) -> Iterator[bytes]:
        in_flight: deque[_PendingRead] = deque()
        try:
            for piece in pieces:
                in_flight.append(_PendingRead(self.ioctx, *piece))
                if len(in_flight) > self.read_ahead:
                    yield in_flight.popleft().result(blob_id)
            while in_flight:
                yield in_flight.popleft().result(blob_id)
        finally:
            # Reads abandoned by a consumer that stopped early finish on their own (their buffers
            # are kept by their completions until then).
            in_flight.clear()

    # -- deleting and scanning ------------------------------------------------------------

    def size(self, blob_id: str) -> int:
        with _as_oserror():
            try:
                return int(self.ioctx.get_xattr(stripe_name(blob_id, 0), SIZE_XATTR))
            except rados.ObjectNotFound:
                raise DataUnavailable(blob_id) from None

    def written_at(self, blob_id: str) -> float:
        with _as_oserror():
            try:
                return time.mktime(self.ioctx.stat(stripe_name(blob_id, 0))[1])
            except rados.ObjectNotFound:
                raise DataUnavailable(blob_id) from None

    def delete(self, blob_id: str) -> None:
        with _as_oserror():
            head = stripe_name(blob_id, 0)
            try:
                size = int(self.ioctx.get_xattr(head, SIZE_XATTR))
            except rados.ObjectNotFound:
                return
            # The head goes first: from then on the blob is gone for readers, and whatever a crash
            # leaves of the rest is a headless write that `collect_unfinished` removes.
            self.remove_objects([head])
            stripes = max(1, math.ceil(size / self.stripe_size))
            self.remove_objects([stripe_name(blob_id, index) for index in range(1, stripes)])

    def scan(self) -> Iterator[str]:
        with _as_oserror():
            for entry in self.ioctx.list_objects():
                parsed = parse_stripe_name(entry.key)
                if parsed is not None and parsed[1] == 0:
                    yield parsed[0]

    def collect_unfinished(self, older_than: float) -> int:
        with _as_oserror():
            heads: set[str] = set()
            headless: dict[str, list[str]] = {}
            for entry in self.ioctx.list_objects():
                parsed = parse_stripe_name(entry.key)
                if parsed is None:
                    continue
                if parsed[1] == 0:
                    heads.add(parsed[0])
                else:
                    headless.setdefault(parsed[0], []).append(entry.key)
            collected = 0
            for blob_id, names in headless.items():
                if blob_id in heads or self._exists(stripe_name(blob_id, 0)):
                    continue  # committed, perhaps since the listing
                if self._newest_change(names) < older_than:
                    self.remove_objects(names)
                    collected += 1
            return collected

    def _exists(self, name: str) -> bool:
        try:
            self.ioctx.stat(name)
        except rados.ObjectNotFound:
            return False
        return True

    def _newest_change(self, names: Sequence[str]) -> float:
        newest = 0.0
        for name in names:
            with contextlib.suppress(rados.ObjectNotFound):
                newest = max(newest, time.mktime(self.ioctx.stat(name)[1]))
        return newest

    def check_room(self, incoming: int = 0) -> None:
        if self.reserve_bytes <= 0 and incoming <= 0:
            return
        if self._available() - incoming < self.reserve_bytes:
            raise InsufficientStorage(f"less than {self.reserve_bytes} bytes would stay free in RADOS")

    def _available(self) -> int:
        with _as_oserror(), self._stats_lock:
            fetched, available = self._avail
            if time.monotonic() - fetched > STATS_TTL:
                available = int(self.cluster.get_cluster_stats()["kb_avail"]) * 1024
                self._avail = (time.monotonic(), available)
            return available


class _PendingRead:
    """One asynchronous chunk read; its data arrives through the completion's callback."""

    __slots__ = ("completion", "data", "length", "name")

    def __init__(self, ioctx: Any, name: str, offset: int, length: int) -> None:
        self.name = name
        self.length = length
        self.data: bytes | None = None
        self.completion = ioctx.aio_read(name, length, offset, self._arrived)

    def _arrived(self, completion: Any, data: bytes | None) -> None:
        self.data = data

    def result(self, blob_id: str) -> bytes:
        self.completion.wait_for_complete_and_cb()
        code = self.completion.get_return_value()
        if code == -errno.ENOENT:
            raise DataUnavailable(blob_id)
        if code < 0:
            raise _failure(code, f"read of {self.name}")
        if self.data is None or len(self.data) != self.length:
            raise DataUnavailable(f"{blob_id} is shorter than expected")
        return self.data
