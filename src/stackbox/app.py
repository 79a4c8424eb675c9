"""The per-worker ASGI application: identity on one port, Swift + S3 on the other."""

from __future__ import annotations

import asyncio
import contextlib

from stackbox.cluster import ClusterNode
from stackbox.config import Settings
from stackbox.epoch import SharedCounter
from stackbox.http import ASGIApp, Receive, Response, Scope, Send
from stackbox.maintenance import Maintenance


class Cloud:
    """Everything one worker process shares between its front ends: `store` is what the S3 and Swift
    front ends call (every metadata call awaited); `storage` is the engine behind it, for housekeeping."""

    def __init__(self, settings: Settings) -> None:
        from stackbox.identity.service import IdentityService
        from stackbox.storage.async_store import AsyncStore
        from stackbox.storage.engine import Engine

        self.settings = settings
        #: None on the embedded store; on a cluster, the epochs also tell (and hear from) other nodes.
        self.node = ClusterNode.for_settings(settings)
        self.counter = (SharedCounter(settings.data_dir / "auth-epoch") if self.node is None
                        else self.node.counter("auth"))
        self.identity = IdentityService(settings, self.counter)
        self.storage = Engine(settings.data_dir, fsync=settings.fsync, reserve_bytes=settings.reserve_bytes,
                              blobs_url=settings.blobs_url, metadata_threads=settings.metadata_threads,
                              metadata=settings.metadata_url,
                              meta_epoch=None if self.node is None else self.node.counter("meta"),
                              kms_master=self.identity.keys.kms_master)
        self.store = AsyncStore(self.storage)


def create_app(settings: Settings) -> ASGIApp:
    from stackbox.identity.api import create_identity_app
    from stackbox.objectstore import create_object_app

    cloud = Cloud(settings)
    identity_app = create_identity_app(cloud)
    object_app = create_object_app(cloud)
    identity_port = settings.identity_port

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            server = scope.get("server")
            if server and server[1] == identity_port:
                await identity_app(scope, receive, send)
            else:
                await object_app(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(cloud, receive, send)
        else:
            await Response(b"", 404)(send)

    return app


async def _lifespan(cloud: Cloud, receive: Receive, send: Send) -> None:
    """Start the housekeeping loop with the worker; stop it on shutdown."""
    maintenance = Maintenance(cloud.storage, cloud.settings.data_dir, cloud.settings.maintenance_interval,
                              lifecycle_day=cloud.settings.lifecycle_day_seconds,
                              cluster_lease=None if cloud.node is None else cloud.node.lease())
    task: asyncio.Task[None] | None = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            task = asyncio.create_task(maintenance.run_forever())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            maintenance.close()
            if cloud.node is not None:
                cloud.node.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
