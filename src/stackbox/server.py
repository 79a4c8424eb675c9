"""Running the cloud: one listening socket per service, shared by N forked worker processes.

Each worker runs one uvicorn server (uvloop + httptools) on both sockets; the ASGI app routes a
request to the identity or the object-store front end by the port that accepted it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import resource
import signal
import socket
import time
from collections.abc import Callable

from stackbox.cluster import is_clustered, prepare_node, run_listener
from stackbox.config import Settings

log = logging.getLogger("stackbox")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


#: File descriptors a worker keeps for what is not a connection (databases, blobs, locks, pipes).
OTHER_FILES = 256


def _connection_cap(wanted: int) -> int:
    """Raise the soft file limit so that a worker can hold `wanted` connections plus its other files,
    and return how many it can hold: the cap must answer 503 before accept() fails with EMFILE."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + OTHER_FILES
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    if raised < needed:
        log.warning("the file limit (%d) allows %d connections per worker, not %d", raised,
                    raised - OTHER_FILES, wanted)
    return max(1, raised - OTHER_FILES)


def _run_worker(settings: Settings, sockets: list[socket.socket]) -> None:
    import uvicorn

    from stackbox.app import create_app
    from stackbox.wire import ConnectionLimits, bounded_protocol

    app = create_app(settings)
    limits = ConnectionLimits(header_timeout=settings.header_timeout, body_timeout=settings.body_timeout,
                              max_connections=settings.max_connections)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=bounded_protocol(limits),
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        server_header=False,
        date_header=True,
        timeout_keep_alive=settings.keep_alive_timeout,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        h11_max_incomplete_event_size=64 * 1024,
    )
    server = uvicorn.Server(config)
    import uvloop

    uvloop.run(server.serve(sockets=sockets))


def _fork_worker(target: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            target()
        except BaseException:
            log.exception("worker crashed")
            code = 1
        finally:
            os._exit(code)
    return pid


def serve(settings: Settings, on_ready: Callable[[], None] | None = None) -> None:
    """Bind both ports, fork the workers and supervise them until SIGINT/SIGTERM."""
    settings = dataclasses.replace(settings, max_connections=_connection_cap(settings.max_connections))
    sockets = [bind(settings.host, settings.identity_port), bind(settings.host, settings.object_port)]
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    def worker() -> None:
        _run_worker(settings, sockets)

    prepare_node(settings)
    # Each child with what it runs, to start the same again should it exit.
    children = {_fork_worker(worker): worker for _ in range(max(1, settings.workers))}
    if is_clustered(settings):

        def listener() -> None:
            for sock in sockets:
                sock.close()
            run_listener(settings)

        children[_fork_worker(listener)] = listener
    if on_ready is not None:
        on_ready()
    while not stopping:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.2)
            continue
        target = children.pop(pid, None)
        if not stopping and target is not None:
            log.warning("%s %d exited (status %d); starting another", target.__name__, pid, status)
            children[_fork_worker(target)] = target
    workers = set(children)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while workers and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            workers.discard(pid)
        else:
            time.sleep(0.05)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for sock in sockets:
        sock.close()
